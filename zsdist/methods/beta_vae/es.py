"""Exhaustive search (ES): the latent dimensions of a VAE that carry each attribute, chosen on training data.

The GZS-Net paper's beta-VAE + ES and beta-TCVAE + ES baselines synthesise by swapping, per attribute,
the dimensions this search picked. Everything here sees TRAINING rows only, never a held-out combination:

1. Explained variance: for latent dimension j and attribute k, eta^2[j, k] = the share of dimension j's
   variance (posterior means of a sample of training images) that k's value explains (between-value
   variance / total variance).
2. Candidates: each dimension belongs to the attribute explaining most of it, so no dimension is swapped
   for two attributes and a full synthesis takes every dimension from one source. An attribute's
   candidates are its own dimensions, ranked by eta^2, the top `candidates` of them.
3. Search: every subset of 1..max_dims candidates (exhaustive: the latent is small) is scored by edits of
   training images. For a training target t, a base b equal to t except in attribute k and a donor d
   with t's value of k, the base's latent takes the subset's dimensions from the donor's and is decoded;
   the score is the mean PSNR against t's real image (Fonts has one for every combination). The choice
   is the smallest subset within tolerance_db of the best score (then the higher score): a dimension
   joins only if it improves the edits. An attribute without training edits takes its top candidate.

Dimensions chosen by no attribute keep the base's values in an edit and, in a full synthesis, the values
of the source of the first attribute (ATTRIBUTES[0], the letter): see `combine`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch

from zsdist.eval.image_metrics import per_image_mse, psnr_from_mse
from zsdist.methods.gzsnet.targets import pick_sources


@dataclass(frozen=True, kw_only=True)
class Edits:
    """One attribute's scored training edits: latents (P, D) of bases and donors, real targets (P, C, H, W)."""

    base: torch.Tensor
    donor: torch.Tensor
    truth: torch.Tensor


@dataclass(frozen=True, kw_only=True)
class ESChoice:
    attributes: tuple[str, ...]
    dims: dict[str, tuple[int, ...]]  # per attribute, the latent dimensions swapped for it
    explained: np.ndarray  # (D, A) eta^2
    edit_psnr: dict[str, float]  # the chosen subset's mean training-edit PSNR (NaN: no edit to score)
    tried: dict[str, dict[str, float]]  # per attribute, every subset's score ("3,7" -> dB)

    def to_dict(self) -> dict:
        return {"attributes": list(self.attributes), "dims": {a: list(d) for a, d in self.dims.items()},
                "explained_variance": self.explained.round(6).tolist(), "train_edit_psnr": self.edit_psnr,
                "tried": self.tried}


def explained_variance(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(D, A): per latent dimension of z (N, D), the share of its variance each attribute's value (labels (N, A)) explains."""
    z = np.asarray(z, np.float64)
    centred = z - z.mean(axis=0)
    total = (centred**2).mean(axis=0)  # (D,)
    shares = np.zeros((z.shape[1], labels.shape[1]))
    for k in range(labels.shape[1]):
        values, group = np.unique(labels[:, k], return_inverse=True)
        counts = np.bincount(group, minlength=len(values))[:, None]
        means = np.zeros((len(values), z.shape[1]))
        np.add.at(means, group, centred)
        between = (means**2 / counts).sum(axis=0) / len(z)  # sum over values of n_v * mean_v^2, over N
        shares[:, k] = np.divide(between, total, out=np.zeros_like(between), where=total > 0)
    return shares


def candidates(explained: np.ndarray, count: int) -> list[list[int]]:
    """Per attribute, its own dimensions (those it explains most of) ranked by eta^2, at most `count`."""
    owner = explained.argmax(axis=1)
    ranked = []
    for k in range(explained.shape[1]):
        own = np.flatnonzero(owner == k)
        ranked.append(own[np.argsort(-explained[own, k], kind="stable")][:count].tolist())
    return ranked


def edit_triples(train: np.ndarray, k: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """int64 (P, 3) rows of train (N, A): [target, base, donor] for at most `count` edits of attribute k.

    The base equals the target except in k; the donor has the target's value of k and, where possible,
    no other value in common (targets.pick_sources, as the evaluation's donors), and is never the target.
    """
    others = [m for m in range(train.shape[1]) if m != k]
    _, group = np.unique(train[:, others], axis=0, return_inverse=True)
    group = group.ravel()
    sizes = np.bincount(group)
    eligible = np.flatnonzero(sizes[group] > 1)  # rows with another row differing from them in k alone
    targets = np.sort(rng.choice(eligible, min(count, len(eligible)), replace=False))
    members = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[members], group[targets])
    bases = np.empty(len(targets), np.int64)
    for i, (t, start) in enumerate(zip(targets, starts)):
        same = members[start:start + sizes[group[t]]]
        others_in_group = same[same != t]
        bases[i] = others_in_group[rng.integers(len(others_in_group))]
    donors = pick_sources(train, train[targets], rng)[:, k]
    keep = donors != targets
    return np.stack([targets[keep], bases[keep], donors[keep]], axis=1).reshape(-1, 3)


def swap_dims(base: torch.Tensor, donor: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """base (P, D) with the dimensions `dims` taken from donor (P, D)."""
    z = base.clone()
    z[:, list(dims)] = donor[:, list(dims)]
    return z


def combine(sources: list[torch.Tensor], dims: list[tuple[int, ...]]) -> torch.Tensor:
    """Full synthesis latents (T, D): attribute k's dimensions from sources[k] (T, D), the rest from sources[0]."""
    z = sources[0].clone()
    for source, chosen in zip(sources, dims):
        z[:, list(chosen)] = source[:, list(chosen)]
    return z


def edit_psnr(edits: Edits, dims: tuple[int, ...], decode: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """Mean per-image PSNR (dB) of the bases edited with the donors' `dims`, against the real targets."""
    drawn = decode(swap_dims(edits.base, edits.donor, dims))
    return psnr_from_mse(per_image_mse(drawn, edits.truth)).mean().item()


def search(ranked: list[int], edits: Edits | None, decode: Callable[[torch.Tensor], torch.Tensor], *,
           max_dims: int, tolerance_db: float) -> tuple[tuple[int, ...], float, dict[str, float]]:
    """One attribute's choice among the subsets of its ranked candidates: (dims, score, every score)."""
    if not ranked:
        return (), float("nan"), {}
    if edits is None or not len(edits.base):
        return (ranked[0],), float("nan"), {}
    scores = {subset: edit_psnr(edits, subset, decode)
              for size in range(1, min(max_dims, len(ranked)) + 1) for subset in combinations(ranked, size)}
    best = max(scores.values())
    chosen = min((s for s, v in scores.items() if v >= best - tolerance_db), key=lambda s: (len(s), -scores[s]))
    return chosen, scores[chosen], {",".join(map(str, s)): v for s, v in scores.items()}


def exhaustive_search(z: np.ndarray, labels: np.ndarray, edits: dict[int, Edits], attributes: tuple[str, ...],
                      decode: Callable[[torch.Tensor], torch.Tensor], *, candidates_per_attribute: int,
                      max_dims: int, tolerance_db: float) -> ESChoice:
    """The dimensions of every attribute: z (N, D) training latents with their labels (N, A); edits by attribute index."""
    explained = explained_variance(z, labels)
    ranked = candidates(explained, candidates_per_attribute)
    dims, psnr, tried = {}, {}, {}
    for k, attribute in enumerate(attributes):
        dims[attribute], psnr[attribute], tried[attribute] = search(
            ranked[k], edits.get(k), decode, max_dims=max_dims, tolerance_db=tolerance_db)
    return ESChoice(attributes=tuple(attributes), dims=dims, explained=explained, edit_psnr=psnr, tried=tried)
