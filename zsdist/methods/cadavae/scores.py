"""CADA-VAE's scores on given class roles: GZSL S/U/H, ZSL accuracy and generalized few-shot S/U/H.

The VAEs do not classify: every score trains a linear softmax classifier on latent samples
(zsdist/eval/latent_classifier.py) and tests it on image latents taken at the encoder mean. Classes
are indexed seen role first. The training loop calls this on the validation roles every epoch when
asked (val/H for searches); `zsdist eval cadavae` calls it on the test roles.
"""

from __future__ import annotations

import numpy as np
import torch

from zsdist.data.features import FeatureDataset
from zsdist.data.zsl_roles import Roles, local_class_ids
from zsdist.eval.calibration import ClassScores
from zsdist.eval.gzsl_metrics import gzsl_scores, per_class_accuracy
from zsdist.eval.latent_classifier import ClassifierConfig, build_training_set, predict, train_linear_classifier
from zsdist.methods.cadavae.model import CADAVAE


@torch.no_grad()
def scores(model: CADAVAE, data: FeatureDataset, split: Roles, classifier: ClassifierConfig,
           shots: tuple[int, ...], *, zsl: bool = True) -> tuple[dict[str, float], ClassScores]:
    """GZSL S/U/H, ZSL accuracy (unless zsl=False) and generalized few-shot S/U/H for every n in shots.

    Also the GZSL classifier's logits on the scored images, for calibrated stacking and AUSUC
    (zsdist/eval/calibration.py).
    """
    local = local_class_ids(data, split)  # global class id -> classifier output index
    seen_ids = np.arange(len(split.seen))
    unseen_ids = np.arange(len(split.seen), len(split.seen) + len(split.unseen))

    def images(rows: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        return torch.from_numpy(data.features[rows]), local[data.labels[rows]]

    x, labels = images(split.train_rows)
    seen_latents = (*model.image.encode(x), torch.from_numpy(labels))  # mu, logvar, labels
    attribute_latents = model.attribute.encode(torch.from_numpy(data.attributes[split.unseen]))
    seen_x, seen_y = images(split.seen_test_rows)
    unseen_x, unseen_y = images(split.unseen_test_rows)
    seen_means, unseen_means = model.encode_image_means(seen_x), model.encode_image_means(unseen_x)

    def classify(seen: tuple, unseen_labels: np.ndarray, **shot: torch.Tensor) -> torch.nn.Linear:
        generator = torch.Generator().manual_seed(classifier.seed)  # the same noise for every classifier
        features, targets = build_training_set(
            *seen, *attribute_latents, torch.from_numpy(unseen_labels), classifier,
            lambda mu, logvar: model.sample_latents(mu, logvar, generator), **shot)
        return train_linear_classifier(features, targets, int(unseen_labels.max()) + 1, classifier)

    def gzsl(clf: torch.nn.Linear, keep: np.ndarray) -> dict[str, float]:
        return gzsl_scores(seen_y, predict(clf, seen_means).numpy(), unseen_y[keep],
                           predict(clf, unseen_means[keep]).numpy(), seen_ids, unseen_ids)

    gzsl_classifier = classify(seen_latents, unseen_ids)
    logits = ClassScores(seen=gzsl_classifier(seen_means).numpy(), seen_labels=seen_y,
                         unseen=gzsl_classifier(unseen_means).numpy(), unseen_labels=unseen_y, num_seen=len(seen_ids))
    metrics = gzsl(gzsl_classifier, np.arange(len(unseen_y)))
    if zsl:
        # ZSL: a classifier of the unseen classes alone (outputs 0..U-1), trained on attribute latents only.
        unseen_only = classify(tuple(t[:0] for t in seen_latents), unseen_ids - len(seen_ids))
        metrics["zsl_accuracy"] = per_class_accuracy(
            unseen_y - len(seen_ids), predict(unseen_only, unseen_means).numpy(), unseen_ids - len(seen_ids))
    for n in shots:
        # n images per unseen class move into the classifier's training set; one always stays to be scored.
        rng = np.random.default_rng([classifier.seed, n])
        picked = np.concatenate([np.zeros(0, np.int64)] + [
            rng.permutation(rows)[:min(n, len(rows) - 1)] for c in unseen_ids
            if len(rows := np.flatnonzero(unseen_y == c))])
        shot_mu, shot_logvar = model.image.encode(unseen_x[picked])
        clf = classify(seen_latents, unseen_ids, shot_mu=shot_mu, shot_logvar=shot_logvar,
                       shot_labels=torch.from_numpy(unseen_y[picked]))
        few = gzsl(clf, np.setdiff1d(np.arange(len(unseen_y)), picked))
        metrics |= {f"fewshot_{n}/{k}": v for k, v in few.items()}
    return metrics, logits
