"""The co-prediction (disentanglement) matrix of GZS-Net: a linear probe from every latent chunk to every attribute.

GZS-Net assigns each attribute its own chunk of the latent vector. If that worked, a linear classifier
on chunk i predicts attribute i well and every other attribute at chance; entry [i, j] of the matrix is
the test accuracy of such a probe, so a disentangled model shows a bright diagonal on a dark background.
Probes are multinomial logistic regressions trained full-batch with Adam on standardised features; they
are deterministic for a given ProbeConfig.seed, so two evaluations of one checkpoint give one matrix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from zsdist.base.errors import ConfigError

STD_FLOOR = 1e-6  # a constant latent dimension (a collapsed unit) standardises to 0 instead of NaN


@dataclass(kw_only=True)
class ProbeConfig:
    """Training of the linear probes: full-batch Adam epochs, learning rate, L2 penalty and init seed."""

    epochs: int = 200
    lr: float = 0.05
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"probe epochs={self.epochs}: set epochs to 1 or more")
        if self.lr <= 0:
            raise ConfigError(f"probe lr={self.lr}: set lr to a positive number, e.g. 0.05")
        if self.weight_decay < 0:
            raise ConfigError(f"probe weight_decay={self.weight_decay}: set weight_decay to 0 or more")


def _features(z: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(z, dtype=torch.float32)
    if tensor.ndim != 2 or len(tensor) == 0:
        raise ValueError(f"{name} has shape {tuple(tensor.shape)}: need a non-empty (N, latent_dim) array")
    return tensor


def _labels(labels: np.ndarray | torch.Tensor, rows: int, num_values: Sequence[int], name: str) -> torch.Tensor:
    tensor = torch.as_tensor(labels, dtype=torch.int64)
    if tuple(tensor.shape) != (rows, len(num_values)):
        raise ValueError(f"{name} has shape {tuple(tensor.shape)}: need ({rows}, {len(num_values)})")
    upper = torch.tensor(num_values, dtype=torch.int64)
    if bool((tensor < 0).any()) or bool((tensor >= upper).any()):
        raise ValueError(f"{name} holds labels outside [0, num_values) for some attribute")
    return tensor


def _log_probs(
    x_t: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, num_values: Sequence[int]
) -> list[torch.Tensor]:
    """Per attribute, log class probabilities of shape (classes, N) for features x_t of shape (dim, N).

    Classes along dim 0 and samples along dim 1: torch's softmax over a short innermost dimension
    is an order of magnitude slower than over an outer one, and this is the probes' inner loop.
    """
    logits = torch.addmm(bias[:, None], weight, x_t)
    return [block.log_softmax(dim=0) for block in logits.split(list(num_values), dim=0)]


def _fit_chunk(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    num_values: Sequence[int],
    config: ProbeConfig,
    generator: torch.Generator,
) -> np.ndarray:
    """Test accuracy of one probe per attribute, all on one chunk's features, shape (attributes,).

    The probes share one weight matrix whose row blocks belong to one attribute each and the loss
    is the sum of their cross-entropies; the blocks get disjoint gradients and Adam (with its L2
    penalty) works element by element, so this trains every probe exactly as if alone, in one pass.
    Features and labels are transposed to (dim, N) and (attributes, N) for _log_probs.
    """
    dim = train_x.shape[1]
    bound = 1.0 / math.sqrt(dim)  # nn.Linear's default init, drawn from our generator, not the global RNG
    weight = torch.empty(sum(num_values), dim).uniform_(-bound, bound, generator=generator).requires_grad_()
    bias = torch.empty(sum(num_values)).uniform_(-bound, bound, generator=generator).requires_grad_()
    optimiser = torch.optim.Adam([weight, bias], lr=config.lr, weight_decay=config.weight_decay)
    train_t, labels_t = train_x.T.contiguous(), train_y.T.contiguous()
    for _ in range(config.epochs):
        optimiser.zero_grad(set_to_none=True)
        log_probs = _log_probs(train_t, weight, bias, num_values)
        loss = -sum(lp.gather(0, labels_t[j : j + 1]).mean() for j, lp in enumerate(log_probs))
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        log_probs = _log_probs(test_x.T.contiguous(), weight, bias, num_values)
        hits = [(lp.argmax(dim=0) == test_y[:, j]).double().mean() for j, lp in enumerate(log_probs)]
    return torch.stack(hits).numpy()


def coprediction_matrix(
    train_z: np.ndarray | torch.Tensor,
    train_labels: np.ndarray | torch.Tensor,
    test_z: np.ndarray | torch.Tensor,
    test_labels: np.ndarray | torch.Tensor,
    chunks: Mapping[str, slice],
    num_values: Mapping[str, int],
    config: ProbeConfig,
) -> np.ndarray:
    """Test accuracy of a linear probe from latent chunk i to attribute j, shape (len(chunks), len(num_values)).

    Rows follow the order of `chunks` (name -> slice of the latent dimensions), columns the order of
    `num_values` (attribute -> number of classes); labels[:, j] are ints in [0, num_values[j]).
    Each chunk's features are standardised with the training mean and std only.
    """
    classes = [int(k) for k in num_values.values()]
    if not chunks or not classes or min(classes) < 2:
        raise ValueError(f"need at least one chunk and one attribute with 2+ values, got {dict(num_values)}")
    train_x, test_x = _features(train_z, "train_z"), _features(test_z, "test_z")
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"train_z has {train_x.shape[1]} latent dims but test_z has {test_x.shape[1]}")
    train_y = _labels(train_labels, len(train_x), classes, "train_labels")
    test_y = _labels(test_labels, len(test_x), classes, "test_labels")
    generator = torch.Generator().manual_seed(config.seed)
    matrix = np.empty((len(chunks), len(classes)), dtype=np.float64)
    for i, (name, chunk) in enumerate(chunks.items()):
        train_c, test_c = train_x[:, chunk], test_x[:, chunk]
        if train_c.shape[1] == 0:
            raise ValueError(f"chunk {name!r} = {chunk} selects no latent dimension of {train_x.shape[1]}")
        mean, std = train_c.mean(dim=0), train_c.std(dim=0).clamp_min(STD_FLOOR)
        matrix[i] = _fit_chunk(
            (train_c - mean) / std, train_y, (test_c - mean) / std, test_y, classes, config, generator
        )
    return matrix


def normalised_accuracy(matrix: np.ndarray, num_values: Mapping[str, int] | Sequence[int]) -> np.ndarray:
    """(accuracy - chance) / (1 - chance) per column, chance = 1 / num_values: 0 is chance, 1 is perfect."""
    classes = list(num_values.values()) if isinstance(num_values, Mapping) else list(num_values)
    accuracy = np.asarray(matrix, dtype=np.float64)
    if accuracy.ndim != 2 or accuracy.shape[1] != len(classes) or min(classes, default=0) < 2:
        raise ValueError(f"matrix {accuracy.shape} needs one column per attribute with 2+ values: {classes}")
    chance = 1.0 / np.asarray(classes, dtype=np.float64)
    return (accuracy - chance) / (1.0 - chance)


def diagonal_summary(matrix: np.ndarray) -> dict[str, float]:
    """Mean of the diagonal (chunk i predicts its own attribute) and of every other entry.

    Only for square matrices of at least 2x2, where chunk i is meant for attribute i; a 1x1 matrix
    has no off-diagonal entries to average.
    """
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != values.shape[1] or values.shape[0] < 2:
        raise ValueError(f"matrix of shape {values.shape}: need a square matrix of at least 2x2")
    off_diagonal = ~np.eye(len(values), dtype=bool)
    return {"diagonal_mean": float(np.diag(values).mean()), "off_diagonal_mean": float(values[off_diagonal].mean())}
