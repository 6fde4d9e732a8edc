"""AE+DS: the direct-supervision baseline of the GZS-Net paper, on the same autoencoder.

The same architecture as GZS-Net (GZSNet, same chunk layout), trained on the same images with only
self reconstruction plus one linear classifier per chunk that predicts its attribute's value from
that chunk. Supervision thus tells each chunk what to *contain*, but nothing teaches the decoder to
render chunks that came from different images, which is what the swap losses of GZS-Net do. Zero-shot
synthesis is then done exactly as with GZS-Net (GZSNet.combine), so the two are compared like for like.

No distributed code here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zsdist.methods.gzsnet.model import GZSNet, GZSNetConfig


class AEDS(nn.Module):
    def __init__(self, config: GZSNetConfig, num_values: tuple[int, ...]) -> None:
        super().__init__()
        if len(num_values) != len(config.attributes):
            raise ValueError(f"num_values {num_values} must give one count per attribute {config.attributes}")
        self.autoencoder = GZSNet(config)
        self.classifiers = nn.ModuleList(nn.Linear(size, n) for size, n in zip(config.chunk_sizes, num_values))

    def forward(self, images: torch.Tensor, labels: torch.Tensor, classifier_weight: float) -> dict[str, torch.Tensor]:
        """Training losses of a batch: images (N, C, H, W) in [-1, 1], labels (N, A) value positions.

        "total" = L1 reconstruction + classifier_weight * mean cross-entropy over the A chunk classifiers;
        "accuracy" (not differentiable) is the mean classifier accuracy.
        """
        ae = self.autoencoder
        z = ae.forward_encoder(images)  # (N, L)
        reconstruction = F.l1_loss(ae.forward_decoder(z), images)
        entropies, correct = [], []
        for k, (name, classifier) in enumerate(zip(ae.config.attributes, self.classifiers)):
            logits = classifier(z[:, ae.chunk(name)])  # (N, values of attribute k)
            entropies.append(F.cross_entropy(logits.float(), labels[:, k]))
            correct.append((logits.argmax(dim=1) == labels[:, k]).float().mean())
        classification = torch.stack(entropies).mean()
        return {
            "reconstruction": reconstruction,
            "classification": classification,
            "accuracy": torch.stack(correct).mean().detach(),
            "total": reconstruction + classifier_weight * classification,
        }
