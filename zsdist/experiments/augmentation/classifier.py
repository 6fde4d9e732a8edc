"""The font classifier of the augmentation experiment: a small CNN, trained and scored on one CPU thread.

    result = train_and_score(train_images, train_labels, test_images, test_labels, cfg, seed, num_classes)

Three conv blocks (conv3x3, batch norm, ReLU, 2x2 max pool; width w, 2w, 4w), then a 128-unit hidden
layer and one logit per font. Images are uint8 (N, 3, S, S) with S divisible by 8. Adam runs
`cfg.steps` steps over seeded shuffles of the training set whatever its size, so a condition with
extra images trains exactly as long as one without. One torch thread and a seeded init and batch
order make a CPU result the same bits on every run, whichever Ray worker runs it.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zsdist.experiments.augmentation.config import FontClassifierConfig

_EVAL_BATCH = 512
_LOSS_WINDOW = 0.1  # the reported training loss: the mean over the last tenth of the steps


class FontCNN(nn.Module):
    def __init__(self, image_size: int, num_classes: int, width: int) -> None:
        super().__init__()
        if image_size % 8:
            raise ValueError(f"image_size {image_size} must be divisible by 8 (three 2x2 poolings)")
        layers: list[nn.Module] = []
        channels = 3
        for out in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(),
                       nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(nn.Linear(channels * (image_size // 8) ** 2, 128), nn.ReLU(),
                                  nn.Linear(128, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, S, S) -> logits (B, classes)."""
        return self.head(self.features(images.float() / 127.5 - 1.0))


def train_and_score(train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
                    test_labels: np.ndarray, cfg: FontClassifierConfig, seed: int, num_classes: int) -> dict:
    """Train on one set, score on the test set: {"accuracy", "per_class" (list), "train_loss", "seconds"}."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[]):  # seeds the init, leaves the caller's RNG alone
            torch.manual_seed(seed)
            model = FontCNN(train_images.shape[-1], num_classes, cfg.width)
        optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        images, labels = torch.from_numpy(train_images), torch.from_numpy(train_labels)
        batch_size = min(cfg.batch_size, len(labels))
        rng = np.random.default_rng(seed)
        order, position, losses = np.empty(0, np.int64), 0, []
        model.train()
        for _ in range(cfg.steps):
            if position + batch_size > len(order):  # a new pass; a pass's last partial batch is left out
                order, position = rng.permutation(len(labels)), 0
            batch = torch.from_numpy(order[position:position + batch_size])
            position += batch_size
            loss = F.cross_entropy(model(images[batch]), labels[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        predicted = predict(model, test_images)
    finally:
        torch.set_num_threads(threads)
    correct = predicted == test_labels
    per_class = [float(correct[test_labels == c].mean()) if (test_labels == c).any() else float("nan")
                 for c in range(num_classes)]
    window = max(1, int(len(losses) * _LOSS_WINDOW))
    return {"accuracy": float(correct.mean()), "per_class": per_class,
            "train_loss": float(np.mean(losses[-window:])), "seconds": time.perf_counter() - start}


@torch.no_grad()
def predict(model: FontCNN, images: np.ndarray) -> np.ndarray:
    """Predicted class per image, batch norm in eval mode (its running statistics)."""
    model.eval()
    tensor = torch.from_numpy(images)
    return torch.cat([model(tensor[i:i + _EVAL_BATCH]).argmax(dim=1) for i in range(0, len(tensor), _EVAL_BATCH)]
                     ).numpy()
