"""A zero-shot problem of CUB's shapes (Xian et al.'s proposed split), synthetic, for evaluation tests.

200 classes (150 seen, 50 unseen), 312-d L2-normalised attributes, 2048-d non-negative features and
CUB's row counts: 7,057 trainval, 1,764 test_seen, 2,967 test_unseen. Each class is a random code; its
attributes and its images' mean feature are two fixed random maps of that code. Each class's mean also
has a part of its own that no attribute describes (`own`), and images add noise. A model trained on the
seen classes fits their own parts too and has nothing to fit for an unseen class, so it scores seen
classes higher than unseen ones: the seen-class bias of real GZSL benchmarks.
"""

import numpy as np

from zsdist.data.features import FeatureDataset

CUB = {"trainval": 7057, "test_seen": 1764, "test_unseen": 2967, "seen": 150, "unseen": 50,
       "feature_dim": 2048, "attribute_dim": 312}


def cub_shaped(seed: int = 0, code_dim: int = 16, own: float = 1.0, noise: float = 2.0) -> FeatureDataset:
    rng = np.random.default_rng(seed)
    classes = CUB["seen"] + CUB["unseen"]
    code = rng.normal(size=(classes, code_dim))
    logits = code @ rng.normal(size=(code_dim, CUB["attribute_dim"])) / np.sqrt(code_dim)
    attributes = 1 / (1 + np.exp(-(logits + own * rng.normal(size=logits.shape))))
    attributes /= np.linalg.norm(attributes, axis=1, keepdims=True)
    prototypes = code @ rng.normal(size=(code_dim, CUB["feature_dim"])) / np.sqrt(code_dim)
    prototypes += own * rng.normal(size=prototypes.shape)
    labels = np.concatenate([rng.integers(0, CUB["seen"], CUB["trainval"] + CUB["test_seen"]),
                             rng.integers(CUB["seen"], classes, CUB["test_unseen"])])
    splits = np.repeat(["trainval", "test_seen", "test_unseen"], [CUB["trainval"], CUB["test_seen"], CUB["test_unseen"]])
    features = np.maximum(prototypes[labels] + rng.normal(scale=noise, size=(len(labels), CUB["feature_dim"])), 0)
    low, high = features[splits == "trainval"].min(0), features[splits == "trainval"].max(0)
    return FeatureDataset(features=((features - low) / (high - low)).astype(np.float32), labels=labels, splits=splits,
                          class_names=[f"class{c:03d}" for c in range(classes)],
                          attributes=attributes.astype(np.float32), seen=np.arange(classes) < CUB["seen"],
                          description={})
