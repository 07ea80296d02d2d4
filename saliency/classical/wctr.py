"""wCtr: saliency optimisation from robust background detection (Zhu, Liang, Wei, Sun, CVPR 2014).

The classical method the 2021 paper's table compares against, and the bar a label-free model has
to clear. Our implementation from the paper, with the parameter values of the authors' release:

1. SLIC superpixels (about 600 pixels each, compactness 20), mean colour in CIE-Lab, mean
   position normalised by the image size; superpixels within 8 px of the frame are "boundary".
2. Boundary connectivity: geodesic colour distances on the superpixel graph (neighbours linked,
   boundary superpixels linked to each other, edge weights clipped by the typical neighbour
   distance), soft area and soft boundary length from exp(-d^2 / 2 sigma^2);
   BndCon = length / sqrt(area), background probability 1 - exp(-BndCon^2 / 2).
3. Contrast weighted by background probability and spatial proximity (sigma 0.4), Otsu-cut.
4. The least-squares optimisation (background weight x5, foreground = weighted contrast,
   smoothness over 2-ring neighbours, regulariser 0.1), solved as one linear system.

Sigmas that the release estimates per image from neighbour colour distances are estimated the
same way here.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path
from skimage.color import rgb2lab
from skimage.filters import threshold_otsu
from skimage.segmentation import slic

from saliency.classical.maps import min_max, region_means


def _weights(dist: np.ndarray, sigma: float) -> np.ndarray:
    """exp(-d^2 / 2 sigma^2), cut to 0 beyond 3 sigma."""
    w = np.exp(-(dist**2) / (2 * sigma**2))
    w[dist > 3 * sigma] = 0
    return w


def _pairwise(x: np.ndarray) -> np.ndarray:
    return np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))


def superpixel_graph(labels: np.ndarray) -> np.ndarray:
    """Adjacency (4-neighbour contact) of superpixels, with ones on the diagonal."""
    n = int(labels.max()) + 1
    adj = np.eye(n, dtype=bool)
    for a, b in ((labels[:-1, :], labels[1:, :]), (labels[:, :-1], labels[:, 1:])):
        diff = a != b
        adj[a[diff], b[diff]] = True
    return adj | adj.T


def superpixels(image: np.ndarray, n_segments: int, compactness: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SLIC labels (consecutive from 0), pixel count and mean CIE-Lab colour of each superpixel,
    as wCtr and MR start from them."""
    h, w = image.shape[:2]
    raw = slic(image, n_segments=n_segments, compactness=compactness, start_label=0, convert2lab=True)
    _, labels = np.unique(raw, return_inverse=True)
    labels = labels.reshape(h, w)
    n = int(labels.max()) + 1
    counts = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
    rgb = region_means(labels, image.astype(np.float64))
    return labels, counts, rgb2lab((rgb / 255.0)[:, None, :])[:, 0, :]


def _mean_min_distance(adj: np.ndarray, dist: np.ndarray) -> float:
    masked = np.where(adj & ~np.eye(len(adj), dtype=bool), dist, np.inf)
    mins = masked.min(1)
    return float(mins[np.isfinite(mins)].mean()) if np.isfinite(mins).any() else 0.0


def wctr(
    image: np.ndarray, pixels_per_superpixel: int = 600, min_superpixels: int = 60, compactness: float = 20.0, border: int = 8
) -> np.ndarray:
    """RGB uint8 [H, W, 3] -> saliency map float32 [H, W] in [0, 1]."""
    h, w = image.shape[:2]
    labels, counts, lab = superpixels(image, max(min_superpixels, round(h * w / pixels_per_superpixel)), compactness)
    n = len(counts)
    if n < 3:
        return np.zeros((h, w), np.float32)
    ys, xs = np.mgrid[0:h, 0:w]
    pos = region_means(labels, np.stack([ys / h, xs / w], -1))
    band = min(border, max(1, min(h, w) // 8))
    boundary = np.unique(
        np.concatenate([labels[:band].ravel(), labels[-band:].ravel(), labels[:, :band].ravel(), labels[:, -band:].ravel()])
    )

    adj = superpixel_graph(labels)
    colour = _pairwise(lab)
    ring2 = (adj.astype(np.int32) @ adj.astype(np.int32)) > 0
    mean_min1 = _mean_min_distance(adj, colour)
    lower = colour[np.tril(adj, -1)]
    top = np.sort(lower)[::-1][: max(1, round(0.01 * len(lower)))]
    mean_top = float(top.mean()) if len(top) else 0.0
    clip = _mean_min_distance(ring2, colour)
    geo_sigma = max(min(10.0, mean_min1 * 3, mean_top / 10), 5.0)
    nei_sigma = max(min(3 * mean_min1, 0.2 * mean_top, 20.0), 1e-3)

    # 2. boundary connectivity over geodesic distances
    linked = adj.copy()
    linked[np.ix_(boundary, boundary)] = True
    i, j = np.nonzero(np.triu(linked, 1))
    # a sparse graph keeps explicit zero-cost edges; a dense one would read them as "no edge"
    geodesic = shortest_path(csr_matrix((np.maximum(colour[i, j] - clip, 0), (i, j)), shape=(n, n)), directed=False)
    wgeo = _weights(geodesic, geo_sigma)
    connectivity = wgeo[:, boundary].sum(1) / np.sqrt(wgeo.sum(1))
    bg_prob = 1 - np.exp(-(connectivity**2) / 2)
    bg_weight = np.where(connectivity > 3, 1000.0, bg_prob)

    # 3. background-weighted contrast, low values cut at Otsu's threshold
    contrast = (colour * _weights(_pairwise(pos), 0.4)) @ bg_prob
    contrast = min_max(contrast)
    if contrast.max() > contrast.min():
        contrast[contrast < threshold_otsu(contrast, nbins=256)] = 0

    # 4. optimisation: min sum bg s^2 + fg (s - 1)^2 + smoothness (s_i - s_j)^2
    near = ring2.copy()
    near[np.ix_(boundary, boundary)] = True
    smooth = _weights(np.where(near, colour, np.inf), nei_sigma) + 0.1 * adj
    system = np.diag(smooth.sum(0)) - smooth + np.diag(5 * bg_weight) + np.diag(contrast)
    try:
        s = np.linalg.solve(system, contrast)
    except np.linalg.LinAlgError:  # no foreground and no background cue anywhere: singular
        s = np.linalg.lstsq(system, contrast, rcond=None)[0]
    return min_max(s, np.float32)[labels]


class WCtr:
    """Bench predictor: wCtr at the image's own resolution (the published numbers' protocol)."""

    name = "wctr"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return wctr(image)
