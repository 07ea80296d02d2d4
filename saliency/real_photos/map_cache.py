"""Classical teachers' maps kept on disk, so that later rounds of pseudo-labelling do not pay
for them again.

A self-training round re-labels every photo with the new student *and* the classical teachers
(wCtr, MB+, MR, DSR); on 2 CPU cores the first three cost ~30 minutes per 10,000 photos (DSR
alone about 100) and give the same maps every round. Maps are keyed by the teacher's name and a
hash of the photo's pixels (not its path: a replaced photo gets a new entry), stored as 16-bit
PNG, and every map
is returned at that 16-bit precision whether it was just computed or read back, so a run that
reads the cache writes the same pseudo-masks as one that filled it. The key does not cover the
teacher's code: after changing a teacher, delete its folder (or pass --no-map-cache).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from saliency.files import write_png
from saliency.images import read_rgb

LEVELS = 65535


def quantise(soft: np.ndarray) -> np.ndarray:
    return np.round(np.clip(soft, 0, 1) * LEVELS).astype(np.uint16)


class CachedMaps:
    """A deterministic teacher (a function of the photo alone) with its maps kept in `folder`."""

    def __init__(self, teacher, folder: str | Path) -> None:
        self.teacher, self.name = teacher, teacher.name
        self.folder = Path(folder) / teacher.name

    def path(self, image: np.ndarray) -> Path:
        digest = hashlib.sha1(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest[2:22]}.png"

    def __call__(self, image: np.ndarray) -> np.ndarray:
        path = self.path(image)
        stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
        if stored is None or stored.dtype != np.uint16 or stored.shape != image.shape[:2]:  # absent, torn or foreign: compute again
            stored = quantise(self.teacher(image))
            write_png(path, stored)
        return stored.astype(np.float32) / LEVELS


_WORKER_TEACHERS: dict[str, CachedMaps] = {}


def _fill_one(job: tuple[str, str, str]) -> None:
    """In a worker process: one photo's map for one teacher, into the cache (skipped if there)."""
    name, folder, photo = job
    if name not in _WORKER_TEACHERS:
        import cv2

        from saliency.predictors import make_predictor

        cv2.setNumThreads(1)  # the workers already fill the cores
        _WORKER_TEACHERS[name] = CachedMaps(make_predictor(name, "cpu"), folder)
    _WORKER_TEACHERS[name](read_rgb(Path(photo)))


def fill_cache(names: list[str], folder: str | Path, photos: list[Path], workers: int, progress: bool = True) -> None:
    """The classical teachers' maps of `photos`, computed by `workers` processes into the cache
    before pseudo-labelling reads them: the teachers are single-threaded numpy and SLIC, so on N
    cores N photos at a time. Maps already cached are skipped (an interrupted fill resumes), and a
    map is the same whichever process made it (the cache stores them at one precision)."""
    from multiprocessing import get_context

    from tqdm import tqdm

    jobs = [(name, str(folder), str(photo)) for name in names for photo in photos]
    with get_context("spawn").Pool(workers) as pool:
        for _ in tqdm(
            pool.imap_unordered(_fill_one, jobs, chunksize=4),
            total=len(jobs),
            desc=f"teacher maps ({workers} processes)",
            disable=not progress,
        ):
            pass
