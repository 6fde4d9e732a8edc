"""A small synthetic feature dataset and a tiny CADA-VAE config, shared by the CADA-VAE test modules.

The problem is easy on purpose: each class is a distinct corner of {-1, 1}^4; its attributes and its
images' features are two fixed random linear maps of that code (images add noise). Unseen classes are
new corners, so a model that learns the shared linear structure from the 7 seen classes places them right.
"""

from pathlib import Path

import numpy as np

from zsdist.data.features import write_feature_dataset
from zsdist.eval.latent_classifier import ClassifierConfig
from zsdist.methods.cadavae.config import CADAVAETrainConfig
from zsdist.methods.cadavae.model import CADAVAEConfig
from zsdist.methods.cadavae.objective import WarmupConfig

CLASSES, SEEN, CODE, FEATURES, ATTRIBUTES = 10, 7, 4, 32, 16
# Small classifier settings trained a little harder than the paper's: the latents here are 8-d.
CLASSIFIER = ClassifierConfig(seen_samples_per_class=50, unseen_samples_per_class=100, epochs=20, lr=1e-2)


def synthetic_arrays(seed: int = 0) -> dict:
    """Min-max scaled features (fitted on trainval), labels, splits and L2-normalised class attributes."""
    rng = np.random.default_rng(seed)
    corners = np.array(np.meshgrid(*[[-1.0, 1.0]] * CODE)).reshape(CODE, -1).T
    code = corners[rng.choice(len(corners), CLASSES, replace=False)]  # (C, 4), distinct
    attributes = code @ rng.normal(size=(CODE, ATTRIBUTES))
    attributes /= np.linalg.norm(attributes, axis=1, keepdims=True)  # L2-normalised, as xlsa17's att
    to_features = rng.normal(size=(CODE, FEATURES))
    features, labels, splits = [], [], []
    for c in range(CLASSES):
        parts = [("trainval", 60), ("test_seen", 15)] if c < SEEN else [("test_unseen", 30)]
        for split, count in parts:
            features.append(code[c] @ to_features + 0.1 * rng.normal(size=(count, FEATURES)))
            labels += [c] * count
            splits += [split] * count
    features, splits = np.concatenate(features), np.array(splits)
    low, high = features[splits == "trainval"].min(0), features[splits == "trainval"].max(0)
    return {"features": (features - low) / (high - low), "labels": np.array(labels), "splits": splits,
            "attributes": attributes}


def write_synthetic(out_dir: Path) -> Path:
    """The synthetic dataset in the feature-dataset format, as `zsdist datagen xlsa17` writes it."""
    return write_feature_dataset(
        out_dir, name="synthetic", class_names=[f"class{c}" for c in range(CLASSES)],
        source="tests/cadavae_synthetic.py", scaling={"kind": "minmax", "fit": "trainval"}, **synthetic_arrays())


def tiny_config(data, cls: type = CADAVAETrainConfig, **overrides):
    """A CADA-VAE small enough to train in seconds; cls may be any config that extends the training one."""
    hidden = {f"{part}_hidden": 32 for part in ("image_encoder", "image_decoder", "attribute_encoder",
                                                "attribute_decoder")}
    # The paper's factors, ramped over the first two epochs instead of ~90.
    warmup = WarmupConfig(beta_end=2, gamma_start=0, gamma_end=2, delta_start=0, delta_end=2)
    settings = {"data": str(data), "model": CADAVAEConfig(latent_dim=8, **hidden), "warmup": warmup,
                "epochs": 4, "batch_size": 8, "lr": 1e-2, "seed": 0}
    return cls(**{**settings, **overrides})
