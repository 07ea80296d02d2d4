"""Several teachers' maps fused into one, per image.

`mean` averages them. `agree` weights each teacher on each image by how well it agrees with the
others there, after Zhang et al., "Deep unsupervised saliency detection: a multiple noisy
labeling perspective" (CVPR 2018): classical methods fail on different photos (wCtr where the
object touches the frame, MB+ where the background has strong edges, MR where colours repeat),
and on a given photo the one that fails is the one that disagrees. Teacher t's weight is
exp(-e_t / mean(e)), e_t its mean absolute difference from the average of the other teachers:
scale-free (equal disagreement gives equal weights, twice the mean weighs e^-2 against e^-1/2)
and with no constant to tune.
"""

from __future__ import annotations

import numpy as np

FUSION_RULES = ("mean", "agree")


def agreement_weights(maps: np.ndarray) -> np.ndarray:
    """[T, H, W] maps in [0, 1] -> [T] weights summing to 1."""
    t = len(maps)
    if t < 3:  # with two teachers each is equally far from the other: nothing to tell them apart
        return np.full(t, 1 / t)
    total = maps.sum(0)
    errors = np.array([np.abs(maps[i] - (total - maps[i]) / (t - 1)).mean() for i in range(t)])
    w = np.exp(-errors / max(float(errors.mean()), 1e-6))
    return w / w.sum()


def fuse(maps: list[np.ndarray] | np.ndarray, rule: str = "mean") -> np.ndarray:
    maps = np.asarray(maps, np.float32)
    if rule == "mean":
        return maps.mean(0)
    if rule == "agree":
        return np.tensordot(agreement_weights(maps), maps, axes=1).astype(np.float32)
    raise ValueError(f"fusion rule {rule!r} is not one of {FUSION_RULES}")


def agreement(maps: list[np.ndarray] | np.ndarray) -> float:
    """1 - the mean absolute difference between teachers' maps: how much a pseudo-mask can be trusted."""
    maps = np.asarray(maps, np.float32)
    if len(maps) < 2:
        return 1.0
    return float(1 - np.mean([np.abs(maps[i] - maps[j]).mean() for i in range(len(maps)) for j in range(i + 1, len(maps))]))


class Fused:
    """Bench predictor / teacher: `RULE:A+B+...`."""

    def __init__(self, members: list, rule: str) -> None:
        self.members, self.rule = members, rule
        self.name = f"{rule}:" + "+".join(m.name for m in members)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return fuse([m(image) for m in self.members], self.rule)
