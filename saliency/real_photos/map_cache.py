"""Classical teachers' maps kept on disk, so that later rounds of pseudo-labelling do not pay
for them again.

A self-training round re-labels every photo with the new student *and* the classical teachers
(wCtr, MB+, MR); on 2 CPU cores the classical three cost ~30 minutes per 10,000 photos and give
the same maps every round. Maps are keyed by the teacher's name and a hash of the photo's
pixels (not its path: a replaced photo gets a new entry), stored as 16-bit PNG, and every map
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
