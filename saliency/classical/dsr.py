"""DSR: saliency detection via dense and sparse reconstruction (Li, Lu, Zhang, Ruan, Yang, ICCV 2013).

A teacher that asks of each superpixel how badly the frame's superpixels reconstruct it: a
region that the background's own colours and places cannot rebuild is object. Two errors that
fail differently (dense: a PCA of the frame, robust where the frame is cluttered; sparse: a
Lasso code over the frame, robust where the object touches it) are each propagated within
their colour cluster, averaged over eight superpixel scales, biased towards the error's own
centre, and combined by Bayes' rule, each map serving as the other's prior. Implemented from
the paper with the parameter values of the authors' release:

1. SLIC at eight scales (50, 100, ..., 400 superpixels, compactness 10, 10, 20, 20, 25, 25, 30,
   30); each superpixel described by its mean RGB (0-1), CIE-Lab (each channel scaled to 0-1
   over the photo) and position (x / width, y / height);
2. background templates: the superpixels on the photo's frame;
3. dense error: the superpixel's distance from its reconstruction by the templates' principal
   components that hold 95% of their variance (around the mean of all superpixels); sparse
   error: the squared residual of its Lasso code over the templates (both unit-normalised,
   lambda 0.01); each scaled to 0-1;
4. context propagation: k-means (8 clusters) on the features; from the largest error down,
   each error becomes half itself and half the mean of its cluster's errors weighted by
   exp(-|f_i - f_j|^2 / 2 sigma^2), sigma^2 the features' mean variance;
5. the scales averaged per pixel (the release weighs each scale by the pixel's inverse feature
   distance from its superpixel, but with the pixel's position in pixels against the
   superpixel's in 0-1: the position term swamps the colour one and the weights come out all
   but equal, so here they are equal);
6. object-biased Gaussian: each map times a Gaussian at its own error-weighted centre, sigma a
   quarter of each side;
7. Bayesian integration: each map cut at its mean is the prior's foreground; the other map's
   values, in 60 bins over [0, 1], give the likelihoods inside and outside; the two posteriors
   added. (The release bins the inside and the outside over different ranges and then reads
   both histograms with the inside's bin numbers; one shared binning is what the paper writes.)
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.cluster.vq import kmeans2
from skimage.color import rgb2lab

from saliency.classical.maps import min_max, region_means
from saliency.classical.wctr import superpixels

SCALES = ((50, 10), (100, 10), (150, 20), (200, 20), (250, 25), (300, 25), (350, 30), (400, 30))


def pixel_features(image: np.ndarray) -> np.ndarray:
    """RGB uint8 [H, W, 3] -> [H, W, 8]: RGB in 0-1, Lab each scaled to 0-1 over the photo, x / W, y / H."""
    h, w = image.shape[:2]
    rgb = image.astype(np.float64) / 255.0
    lab = rgb2lab(rgb).reshape(-1, 3)
    lab = (lab - lab.min(0)) / np.maximum(lab.max(0) - lab.min(0), 1e-12)
    ys, xs = np.mgrid[0:h, 0:w]
    return np.concatenate([rgb, lab.reshape(h, w, 3), (xs / w)[..., None], (ys / h)[..., None]], axis=2)


def lasso(dictionary: np.ndarray, signals: np.ndarray, lam: float = 0.01, iterations: int = 500, tol: float = 1e-6) -> np.ndarray:
    """argmin_a 0.5 |x - D a|^2 + lam |a|_1 for every column x of `signals` at once (FISTA).

    dictionary [d, m], signals [d, n] -> codes [m, n]. The problems are tiny (d = 8, m = the
    frame's superpixels) and all alike, so one vectorised proximal-gradient loop serves them
    all; the gradient goes through D (rank d) rather than the m x m Gram matrix. The frame's
    features are nearly collinear, so the codes converge slowly: 500 steps leave the scaled
    errors within about 0.05 of the exact solution's, below what the later smoothing keeps."""
    corr = dictionary.T @ signals
    step = 1.0 / max(float(np.linalg.eigvalsh(dictionary @ dictionary.T)[-1]), 1e-12)
    a = np.zeros_like(corr)
    y, t = a.copy(), 1.0
    for _ in range(iterations):
        z = y - step * (dictionary.T @ (dictionary @ y) - corr)
        a_next = np.sign(z) * np.maximum(np.abs(z) - step * lam, 0.0)
        t_next = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
        y = a_next + ((t - 1) / t_next) * (a_next - a)
        change = float(np.abs(a_next - a).max())
        a, t = a_next, t_next
        if change < tol:
            break
    return a


def _unit_columns(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=0, keepdims=True), 1e-12)


def sparse_error(templates: np.ndarray, feats: np.ndarray, lam: float = 0.01) -> np.ndarray:
    """[m, d] frame features, [n, d] all features -> [n] sparse reconstruction error in 0-1."""
    d, x = _unit_columns(templates.T), _unit_columns(feats.T)
    return min_max(((x - d @ lasso(d, x, lam)) ** 2).sum(0))


def dense_error(templates: np.ndarray, feats: np.ndarray, energy: float = 0.95) -> np.ndarray:
    """[m, d] frame features, [n, d] all features -> [n] PCA reconstruction error in 0-1."""
    centred = templates - templates.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s**2
    if var.sum() <= 0:  # a flat frame: everything that differs from it is error
        return min_max(np.linalg.norm(feats - templates.mean(0), axis=1))
    k = int(np.searchsorted(np.cumsum(var) / var.sum(), energy - 1e-12) + 1)
    basis = vt[:k].T  # [d, k]
    mean = feats.mean(0)
    residual = (feats - mean) - (feats - mean) @ basis @ basis.T
    return min_max(np.linalg.norm(residual, axis=1))


def colour_clusters(feats: np.ndarray, clusters: int = 8, seed: int = 0) -> np.ndarray:
    """k-means cluster of each superpixel (the release's 8 clusters, 200 iterations). A cluster
    left empty is harmless here (no superpixel reads it), so scipy's warning about it is not shown."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return kmeans2(feats, min(clusters, len(feats)), iter=200, minit="++", seed=seed)[1]


def propagate(feats: np.ndarray, errors: np.ndarray, clusters: np.ndarray, tau: float = 0.5) -> np.ndarray:
    """Context-based propagation: errors smoothed within colour clusters, largest first."""
    sigma2 = max(float(feats.var(0).mean()), 1e-12)
    w = np.exp(-((feats[:, None, :] - feats[None, :, :]) ** 2).sum(-1) / (2 * sigma2))
    np.fill_diagonal(w, 0.0)
    e = errors.astype(np.float64).copy()
    members = {c: np.flatnonzero(clusters == c) for c in np.unique(clusters)}
    for i in np.argsort(errors, kind="stable")[::-1]:
        near = members[clusters[i]]
        total = float(w[i, near].sum())
        e[i] = (1 - tau) * e[i] + tau * float(w[i, near] @ e[near]) / max(total, np.finfo(float).eps)
    return min_max(e)


def object_biased(m: np.ndarray, ratio: float = 0.25) -> np.ndarray:
    """The map times a Gaussian at its own weighted centre (sigma: `ratio` of each side)."""
    h, w = m.shape
    total = float(m.sum())
    ys, xs = np.mgrid[0:h, 0:w]
    cy, cx = (float((ys * m).sum()) / total, float((xs * m).sum()) / total) if total > 0 else ((h - 1) / 2, (w - 1) / 2)
    g = np.exp(-((ys - cy) ** 2) / (2 * (ratio * h) ** 2) - ((xs - cx) ** 2) / (2 * (ratio * w) ** 2))
    return min_max(m * g)


def bayes_posterior(prior: np.ndarray, observer: np.ndarray, bins: int = 60) -> np.ndarray:
    """p(object | observer) with `prior` as the prior, its mean cut as the object/background split."""
    inside = prior > prior.mean()
    b = np.clip((observer * bins).astype(np.int64), 0, bins - 1)
    p_in = np.bincount(b[inside], minlength=bins) / max(int(inside.sum()), 1)
    p_out = np.bincount(b[~inside], minlength=bins) / max(int((~inside).sum()), 1)
    num = prior * p_in[b]
    post = num / np.maximum(num + (1 - prior) * p_out[b], 1e-12)
    return min_max(post)


def dsr(image: np.ndarray, scales: tuple[tuple[int, int], ...] = SCALES) -> np.ndarray:
    """RGB uint8 [H, W, 3] -> saliency map float32 [H, W] in [0, 1]."""
    h, w = image.shape[:2]
    fimg = pixel_features(image).reshape(h * w, -1)
    sparse_sum, dense_sum, used = np.zeros(h * w), np.zeros(h * w), 0
    for n_segments, compactness in scales:
        labels = superpixels(image, n_segments, compactness)[0]
        if labels.max() < 2:
            continue
        flat = labels.ravel()
        feats = region_means(labels, fimg)
        frame = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        templates = feats[frame]
        clusters = colour_clusters(feats)
        sparse_sum += propagate(feats, sparse_error(templates, feats), clusters)[flat]
        dense_sum += propagate(feats, dense_error(templates, feats), clusters)[flat]
        used += 1
    if used == 0:
        return np.zeros((h, w), np.float32)
    sparse_map = object_biased(min_max(sparse_sum).reshape(h, w))
    dense_map = object_biased(min_max(dense_sum).reshape(h, w))
    fused = bayes_posterior(sparse_map, dense_map) + bayes_posterior(dense_map, sparse_map)
    return min_max(fused).astype(np.float32)


class DSR:
    """Bench predictor and pseudo-label teacher."""

    name = "dsr"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return dsr(image)
