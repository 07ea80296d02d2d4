"""HS: hierarchical saliency detection (Yan, Xu, Shi, Jia, CVPR 2013).

A teacher that looks at the photo at three scales of region and lets them vote: a small
high-contrast texture is salient in the finest layer but merges into its surroundings in the
coarser ones, while a whole object stays salient in all three. Implemented from the paper:

1. Image layers: a watershed over-segmentation of the colour gradient (CIE-Luv), then, for
   thresholds t = 3, 17 and 33 px, every region whose *scale* (the side of the largest square
   that fits inside it) is below t merges into the neighbour of the nearest mean colour, until
   none is left below t. Each layer is built from the one below, so the layers nest (a tree).
   The paper's thresholds are for photos of about 300 px on the short side; here they scale with
   the photo's short side (at least 2 px), so a 128 px photo gets layers of the same shape.
2. Per layer, each region's local contrast C_i = sum_j w_j exp(-|x_i - x_j|^2 / sigma^2) |c_i - c_j|
   (w_j the region's share of pixels, x the region centre in 0-1 coordinates, sigma^2 = 0.2, c its
   mean Luv colour) times its location heuristic H_i = mean over its pixels of
   exp(-lambda |x - centre|^2), lambda = 9; each layer's map scaled to 0-1.
3. Hierarchical inference: minimise sum_l sum_i beta (s_i - sbar_i)^2 + gamma (s_i - s_parent(i))^2
   over the tree, exactly (one sparse linear solve, as the paper's belief propagation on a tree
   is exact); the finest layer's values are the map. The paper leaves the data weight beta and
   the consistency weight gamma as parameters; here beta = 1 and gamma = 0.5 at every layer, set
   before any benchmark figure was read.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import coo_matrix, diags
from scipy.sparse.linalg import spsolve
from scipy.spatial.distance import cdist
from skimage.color import rgb2luv
from skimage.filters import sobel
from skimage.segmentation import watershed

from saliency.classical.maps import min_max, region_means

THRESHOLDS = (3, 17, 33)  # the paper's region scales, for a ~300 px short side
REFERENCE_SIDE = 300


def region_scales(labels: np.ndarray) -> np.ndarray:
    """Side of the largest (odd) square inside each region, from the chessboard distance of each
    pixel to the nearest pixel of another label or to the frame."""
    padded = np.pad(labels, 1, constant_values=-1)
    h, w = labels.shape
    edge = np.zeros((h, w), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            edge |= padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] != labels
    # pixels at chessboard distance d from the region's own edge pixels fit a (2d + 1)-square
    d = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_C, 3)
    side = (2 * d + 1).astype(np.int64)
    out = np.zeros(int(labels.max()) + 1, np.int64)
    np.maximum.at(out, labels.ravel(), side.ravel())
    return out


def _adjacent_pairs(labels: np.ndarray) -> np.ndarray:
    """Unique (a, b), a < b, of 4-connected neighbouring labels."""
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    keep = a != b
    pairs = np.stack([np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])], 1)
    return np.unique(pairs, axis=0)


def _relabel(labels: np.ndarray) -> np.ndarray:
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape)


def merge_small_regions(labels: np.ndarray, colour: np.ndarray, t: int) -> np.ndarray:
    """Merge every region of scale below t into its neighbour of nearest mean colour, in passes
    (all small regions of a pass at once, through a union-find), until none is below t."""
    labels = _relabel(labels)
    while True:
        n = int(labels.max()) + 1
        small = region_scales(labels) < t
        if n == 1 or not small.any():
            return labels
        pairs = _adjacent_pairs(labels)
        mean = region_means(labels, colour)
        dist = np.linalg.norm(mean[pairs[:, 0]] - mean[pairs[:, 1]], axis=1)
        # each small region's nearest-colour neighbour: sort by distance, first hit per region wins
        both = np.concatenate([pairs, pairs[:, ::-1]])
        order = np.argsort(np.concatenate([dist, dist]), kind="stable")
        src, dst = both[order, 0], both[order, 1]
        first = np.unique(src, return_index=True)[1]
        src, dst = src[first], dst[first]
        keep = small[src]
        parent = np.arange(n)

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for a, b in zip(src[keep], dst[keep]):
            ra, rb = find(int(a)), find(int(b))
            if ra != rb:
                parent[ra] = rb
        roots = np.array([find(i) for i in range(n)])
        labels = _relabel(roots[labels])


def layers(image: np.ndarray, thresholds: tuple[int, ...] = THRESHOLDS) -> tuple[list[np.ndarray], np.ndarray]:
    """The nested region maps, finest first, and the photo in CIE-Luv."""
    luv = rgb2luv(image)
    gradient = sum(sobel(luv[..., c]) for c in range(3))
    labels = watershed(gradient) - 1
    factor = min(image.shape[:2]) / REFERENCE_SIDE
    out = []
    for t in thresholds:
        labels = merge_small_regions(labels, luv, max(2, round(t * factor)))
        out.append(labels)
    return out, luv


def layer_saliency(labels: np.ndarray, luv: np.ndarray, sigma2: float = 0.2, lam: float = 9.0) -> np.ndarray:
    """Local contrast x location heuristic of each region, scaled to 0-1."""
    h, w = labels.shape
    n = int(labels.max()) + 1
    counts = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
    colour = region_means(labels, luv)
    ys, xs = np.mgrid[0:h, 0:w]
    xs, ys = xs / max(w - 1, 1), ys / max(h - 1, 1)
    centre = region_means(labels, np.stack([xs, ys], -1))
    spatial = np.exp(-cdist(centre, centre, "sqeuclidean") / sigma2)
    contrast = (spatial * cdist(colour, colour)) @ (counts / counts.sum())
    location = region_means(labels, np.exp(-lam * ((xs - 0.5) ** 2 + (ys - 0.5) ** 2)))[:, 0]
    return min_max(contrast * location)


def hierarchical_inference(single: list[np.ndarray], parents: list[np.ndarray], beta: float = 1.0, gamma: float = 0.5) -> np.ndarray:
    """Exact minimiser of the tree energy; returns the finest layer's values.

    single[l]: layer l's single-layer saliency; parents[l]: for each region of layer l, its
    region in layer l + 1 (len(parents) == len(single) - 1)."""
    offsets = np.cumsum([0] + [len(s) for s in single])
    child = np.concatenate([offsets[k] + np.arange(len(p)) for k, p in enumerate(parents)]) if parents else np.zeros(0, np.int64)
    parent = np.concatenate([offsets[k + 1] + p for k, p in enumerate(parents)]) if parents else np.zeros(0, np.int64)
    n = int(offsets[-1])
    ones = np.full(len(child), gamma)
    adjacency = coo_matrix(
        (np.concatenate([ones, ones]), (np.concatenate([child, parent]), np.concatenate([parent, child]))), shape=(n, n)
    ).tocsr()
    laplacian = diags(np.asarray(adjacency.sum(1)).ravel()) - adjacency
    system = (diags(np.full(n, beta)) + laplacian).tocsc()
    s = spsolve(system, beta * np.concatenate(single))
    return s[: len(single[0])]


def hierarchical_saliency(image: np.ndarray) -> np.ndarray:
    """RGB uint8 [H, W, 3] -> saliency map float32 [H, W] in [0, 1]."""
    maps, luv = layers(image)
    single = [layer_saliency(labels, luv) for labels in maps]
    parents = []
    for fine, coarse in zip(maps[:-1], maps[1:]):
        p = np.zeros(int(fine.max()) + 1, np.int64)
        p[fine.ravel()] = coarse.ravel()  # nested: every pixel of a fine region has the same coarse label
        parents.append(p)
    return min_max(hierarchical_inference(single, parents)[maps[0]], np.float32)


class HS:
    """Bench predictor and pseudo-label teacher."""

    name = "hs"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return hierarchical_saliency(image)
