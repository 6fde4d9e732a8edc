"""The final classifier of CADA-VAE: a linear softmax classifier trained on noisy latent samples.

CADA-VAE does not classify with the VAEs themselves. After training it encodes every training image
of a seen class and every attribute vector of an unseen class, draws latent samples from those
Gaussians with noise (a fixed number per class, so seen and unseen classes are balanced by design)
and trains a linear softmax classifier on them; test images are encoded by their mean and classified
over all classes. Defaults follow the paper's GZSL setting for CUB: 200 samples per seen class, 400
per unseen class, Adam lr 1e-3 with betas (0.5, 0.999), batch 32, 23 epochs (SUN 21, AWA1 33, AWA2 29).

The noise comes from a sampler the caller supplies (the model's own reparameterisation), so whether
it follows the official exp(logvar) quirk or the textbook exp(0.5 logvar) stays the model's choice.
Everything else is seeded by ClassifierConfig.seed: the choice of images per class, the initial
weights and the mini-batch order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from zsdist.base.errors import ConfigError

Sampler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(kw_only=True)
class ClassifierConfig:
    """Latent samples drawn per class and the Adam mini-batch training of the linear classifier."""

    seen_samples_per_class: int = 200  # latents drawn from each seen class's image features
    unseen_samples_per_class: int = 400  # latents drawn from each unseen class's attributes
    epochs: int = 23  # training epochs of the linear classifier
    lr: float = 1e-3  # Adam learning rate of the classifier
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas of the classifier
    batch_size: int = 32  # classifier mini-batch size
    seed: int = 0  # latent sampling and classifier init

    def __post_init__(self) -> None:
        seen, unseen = self.seen_samples_per_class, self.unseen_samples_per_class
        if seen < 0 or unseen < 0 or seen + unseen == 0:
            raise ConfigError(
                f"classifier samples per class seen={seen} unseen={unseen}: set both to 0 or more and one above 0"
            )
        if self.epochs < 1:
            raise ConfigError(f"classifier epochs={self.epochs}: set epochs to 1 or more")
        if self.lr <= 0:
            raise ConfigError(f"classifier lr={self.lr}: set lr to a positive number, e.g. 1e-3")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"classifier betas={self.betas}: set two numbers in [0, 1), e.g. (0.5, 0.999)")
        if self.batch_size < 1:
            raise ConfigError(f"classifier batch_size={self.batch_size}: set batch_size to 1 or more")


def _gaussians(mu: torch.Tensor, logvar: torch.Tensor, labels: torch.Tensor, name: str) -> None:
    if mu.ndim != 2 or mu.shape != logvar.shape or labels.shape != (len(mu),):
        raise ValueError(
            f"{name}: mu {tuple(mu.shape)}, logvar {tuple(logvar.shape)} and labels {tuple(labels.shape)} "
            "must be (N, latent_dim), (N, latent_dim) and (N,)"
        )


def _per_class_rows(labels: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """Row indices giving `count` rows of every class in labels, classes in ascending order.

    A class's rows are visited in a random order and cycled when it has fewer rows than `count`,
    so every row is used either floor(count / n) or ceil(count / n) times.
    """
    picks = []
    for label in labels.unique(sorted=True):
        rows = torch.nonzero(labels == label).flatten()
        order = rows[torch.randperm(len(rows), generator=generator).to(rows.device)]
        picks.append(order[torch.arange(count, device=rows.device) % len(rows)])
    return torch.cat(picks) if picks else torch.zeros(0, dtype=torch.int64, device=labels.device)


def build_training_set(
    seen_mu: torch.Tensor,
    seen_logvar: torch.Tensor,
    seen_labels: torch.Tensor,
    unseen_class_mu: torch.Tensor,
    unseen_class_logvar: torch.Tensor,
    unseen_labels: torch.Tensor,
    config: ClassifierConfig,
    sampler: Sampler,
    *,
    shot_mu: torch.Tensor | None = None,
    shot_logvar: torch.Tensor | None = None,
    shot_labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent samples and their class labels for the final classifier, shapes (M, latent_dim) and (M,).

    seen_*: the image latents (one row per training image) of the seen classes; every class in
    seen_labels gets config.seen_samples_per_class samples drawn from its images, cycled when it has
    fewer. unseen_class_*: one attribute latent per unseen class (rows matching unseen_labels), each
    giving config.unseen_samples_per_class samples. Generalized few-shot: shot_* are the image
    latents of the n shots per unseen class, sampled like seen images at seen_samples_per_class per
    class; as in the official code only this classifier sees the shots, the VAEs never train on them.
    Labels are the global class indices as given; every sample is sampler(mu, logvar), called once.
    """
    groups = [(seen_mu, seen_logvar, seen_labels, "seen")]
    if shot_mu is not None or shot_logvar is not None or shot_labels is not None:
        if shot_mu is None or shot_logvar is None or shot_labels is None:
            raise ValueError("few-shot needs all of shot_mu, shot_logvar and shot_labels, or none of them")
        groups.append((shot_mu, shot_logvar, shot_labels, "shot"))
    generator = torch.Generator().manual_seed(config.seed)
    mus, logvars, labels = [], [], []
    for mu, logvar, label, name in groups:
        _gaussians(mu, logvar, label, name)
        rows = _per_class_rows(label, config.seen_samples_per_class, generator)
        mus.append(mu[rows])
        logvars.append(logvar[rows])
        labels.append(label[rows])
    _gaussians(unseen_class_mu, unseen_class_logvar, unseen_labels, "unseen classes")
    if len(unseen_labels.unique()) != len(unseen_labels):
        raise ValueError("unseen_labels repeat a class: give one attribute latent per unseen class")
    count = config.unseen_samples_per_class
    mus.append(unseen_class_mu.repeat_interleave(count, dim=0))
    logvars.append(unseen_class_logvar.repeat_interleave(count, dim=0))
    labels.append(unseen_labels.repeat_interleave(count))
    mu, logvar = torch.cat(mus), torch.cat(logvars)
    if len(mu) == 0:
        raise ValueError("no latent sample to train on: pass classes with images or attributes")
    with torch.no_grad():
        features = sampler(mu, logvar).detach().float()
    if features.shape != mu.shape:
        raise ValueError(f"sampler returned shape {tuple(features.shape)} for mu of shape {tuple(mu.shape)}")
    return features, torch.cat(labels).long()


class _Adam:
    """torch.optim.Adam (no weight decay, eps 1e-8) for one tensor, updated in place from a given gradient.

    The same arithmetic as torch's, without the optimiser's per-step bookkeeping, which costs more
    than the update itself on a 65 x 50 matrix and a batch of 32.
    """

    def __init__(self, param: torch.Tensor, lr: float, betas: tuple[float, float], eps: float = 1e-8) -> None:
        self.param, self.lr, self.betas, self.eps, self.steps = param, lr, betas, eps, 0
        self.mean, self.square = torch.zeros_like(param), torch.zeros_like(param)
        self.denom = torch.empty_like(param)

    def step(self, grad: torch.Tensor) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        self.mean.lerp_(grad, 1 - beta1)
        self.square.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        torch.sqrt(self.square, out=self.denom).div_(math.sqrt(1 - beta2**self.steps)).add_(self.eps)
        self.param.addcdiv_(self.mean, self.denom, value=-self.lr / (1 - beta1**self.steps))


def train_linear_classifier(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, config: ClassifierConfig
) -> nn.Linear:
    """A linear layer (latent_dim -> num_classes) trained with softmax cross-entropy on (features, labels).

    Adam with config.lr and config.betas on mini-batches of config.batch_size, a fresh shuffle every
    epoch (the last batch may be smaller); initial weights and shuffles come from a torch.Generator
    seeded with config.seed, so equal inputs and config give equal weights. The steps are those of
    nn.Linear + cross_entropy + torch.optim.Adam, written out for speed (about 2x): the bias is a last
    row of one (latent_dim + 1, num_classes) matrix fed a column of ones, and the gradient is
    x^T (softmax - one_hot) / batch, without autograd.
    """
    if features.ndim != 2 or len(features) == 0 or labels.shape != (len(features),):
        raise ValueError(
            f"features {tuple(features.shape)} and labels {tuple(labels.shape)}: need (N, latent_dim) and (N,), N > 0"
        )
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(
            f"labels must be in [0, num_classes={num_classes}), got {int(labels.min())}..{int(labels.max())}"
        )
    x = features.detach().float()
    x = torch.cat([x, torch.ones(len(x), 1, device=x.device)], dim=1)
    y = labels.long()
    generator = torch.Generator().manual_seed(config.seed)
    dim = x.shape[1] - 1
    bound = 1.0 / math.sqrt(dim)  # nn.Linear's default init, drawn from our generator
    weight = torch.empty(num_classes, dim).uniform_(-bound, bound, generator=generator)
    bias = torch.empty(num_classes).uniform_(-bound, bound, generator=generator)
    params = torch.cat([weight.T, bias[None]]).to(x.device)  # (dim + 1, classes): logits = x @ params
    grad = torch.empty_like(params)
    adam = _Adam(params, config.lr, config.betas)
    minus_one = torch.full((config.batch_size, 1), -1.0, device=x.device)
    with torch.no_grad():
        for _ in range(config.epochs):
            order = torch.randperm(len(x), generator=generator).to(x.device)
            for x_batch, y_batch in zip(x[order].split(config.batch_size), y[order].split(config.batch_size)):
                rows = len(y_batch)
                error = torch.mm(x_batch, params).softmax(dim=1)
                error.scatter_add_(1, y_batch[:, None], minus_one[:rows]).div_(rows)
                adam.step(torch.mm(x_batch.T, error, out=grad))
    classifier = nn.Linear(dim, num_classes, device=x.device)
    with torch.no_grad():
        classifier.weight.copy_(params[:dim].T)
        classifier.bias.copy_(params[dim])
    return classifier


def predict(classifier: nn.Linear, features: torch.Tensor) -> torch.Tensor:
    """The argmax class of every row of features, shape (N,), as int64 on the features' device."""
    with torch.no_grad():
        return classifier(features.float()).argmax(dim=1)
