"""Per-image segmentation metrics as the 2021 code (BigGANsAreWatching) defines them.

Predictions are soft maps in [0, 1]; ground truth is binary. Every metric is computed per image
and then averaged over images:
- IoU and pixel accuracy of the prediction thresholded at 0.5;
- max F-beta: F (beta^2 = 0.3) of each image at 255 thresholds k/255, k = 0..254, averaged over
  images per threshold, then the maximum over thresholds (not the dataset-level P/R variant).
"""

from __future__ import annotations

import torch

BETA2 = 0.3
THRESHOLDS = torch.arange(255, dtype=torch.float32) / 255


def per_image_iou(pred: torch.Tensor, gt: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    p, g = (pred > threshold).flatten(1), (gt > 0.5).flatten(1)
    inter, union = (p & g).sum(1).float(), (p | g).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))  # both empty: perfect


def per_image_accuracy(pred: torch.Tensor, gt: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    return ((pred > threshold) == (gt > 0.5)).flatten(1).float().mean(1)


def _positives_per_threshold(pred: torch.Tensor, select: torch.Tensor) -> torch.Tensor:
    """For each image, how many selected pixels have pred > k/255, for k = 0..254: [B, 255]."""
    thresholds = THRESHOLDS.to(pred.device)
    above = torch.searchsorted(thresholds, pred.flatten(1).contiguous().float(), right=False)  # thresholds below pred
    counts = torch.zeros(pred.shape[0], 256, device=pred.device).scatter_add_(1, above, select.flatten(1).float())
    return counts.flip(1).cumsum(1).flip(1)[:, 1:]  # pixels with more than k thresholds below them


def per_image_fbeta_curve(pred: torch.Tensor, gt: torch.Tensor, beta2: float = BETA2) -> torch.Tensor:
    """F-beta of each image at each of the 255 thresholds: [B, 255]."""
    g = gt > 0.5
    predicted = _positives_per_threshold(pred, torch.ones_like(g))
    tp = _positives_per_threshold(pred, g)
    precision = tp / predicted.clamp_min(1e-8)
    recall = tp / g.flatten(1).sum(1, keepdim=True).float().clamp_min(1e-8)
    return (1 + beta2) * precision * recall / (beta2 * precision + recall).clamp_min(1e-8)
