"""MR: saliency by graph-based manifold ranking (Yang, Zhang, Lu, Ruan, Yang, CVPR 2013).

A teacher that ranks every superpixel by its relevance to queries on a graph whose edges
follow colour: first against each side of the frame (what is far from the frame's colours
along the graph is object), then against the object that stage found. Implemented from the
paper with the parameter values of the authors' release:

1. SLIC, 200 superpixels, compactness 20; mean CIE-Lab colour of each;
2. a graph linking every superpixel to its neighbours and their neighbours, and all frame
   superpixels to each other (the "closed loop"); weights exp(-10 d), d the Lab distance over
   the edges normalised to [0, 1];
3. the ranking matrix A = (D - 0.99 W)^-1 with its diagonal zeroed;
4. stage 1: for each side, 1 - normalised A y_side, the four multiplied;
   stage 2: that map cut at its mean is the query, A y normalised is the saliency.
"""

from __future__ import annotations

import numpy as np

from saliency.classical.maps import min_max
from saliency.classical.wctr import superpixel_graph, superpixels


def manifold_ranking(
    image: np.ndarray, n_segments: int = 200, compactness: float = 20.0, theta: float = 10.0, alpha: float = 0.99
) -> np.ndarray:
    """RGB uint8 [H, W, 3] -> saliency map float32 [H, W] in [0, 1]."""
    h, w = image.shape[:2]
    labels, counts, lab = superpixels(image, n_segments, compactness)
    n = len(counts)
    if n < 3:
        return np.zeros((h, w), np.float32)

    sides = [np.unique(labels[0]), np.unique(labels[-1]), np.unique(labels[:, 0]), np.unique(labels[:, -1])]
    frame = np.unique(np.concatenate(sides))
    adj = superpixel_graph(labels)
    linked = (adj.astype(np.int32) @ adj.astype(np.int32)) > 0  # neighbours and their neighbours
    linked[np.ix_(frame, frame)] = True
    np.fill_diagonal(linked, False)
    i, j = np.nonzero(np.triu(linked, 1))
    dist = np.sqrt(((lab[i] - lab[j]) ** 2).sum(1))
    W = np.zeros((n, n))
    W[i, j] = W[j, i] = np.exp(-theta * min_max(dist))
    ranking = np.linalg.inv(np.diag(W.sum(1)) - alpha * W)
    np.fill_diagonal(ranking, 0)

    stage1 = np.ones(n)
    for side in sides:
        y = np.zeros(n)
        y[side] = 1
        stage1 *= 1 - min_max(ranking @ y)
    stage1 = min_max(stage1)
    query = (stage1 >= stage1.mean()).astype(np.float64)
    return min_max(ranking @ query)[labels].astype(np.float32)


class ManifoldRanking:
    """Bench predictor and pseudo-label teacher."""

    name = "mr"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return manifold_ranking(image)
