"""Reading photos and masks from disk, one place for every stage.

Stages that train or label read through `read_rgb` and stop at the first unreadable file (a
training set with a corrupt file is a set to fix). `try_read_rgb` is for tools that walk a user's
folder and must get past one bad file (`saliency predict`): it says why a file was refused
instead of raising. Both accept what OpenCV decodes and normalise it to 8-bit RGB: 16-bit PNGs
are scaled, not clipped; grey images are repeated over three channels; an alpha channel is
dropped; CMYK JPEGs come back as RGB; EXIF orientation is applied, as a viewer shows the photo.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from saliency.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_photos(root: str | Path) -> list[Path]:
    """Every image under `root` (recursively), sorted: a folder of unlabeled photos."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"photo folder not found: {root}")
    photos = sorted(p for p in root.rglob("*") if is_image_file(p))
    if not photos:
        raise UserError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    return photos


def to_rgb8(decoded: np.ndarray) -> np.ndarray:
    """OpenCV's three-channel BGR array (8 or 16 bit; the decode flags below make grey, alpha
    and CMYK files three-channel already) -> uint8 RGB."""
    if decoded.dtype == np.uint16:
        decoded = (decoded.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif decoded.dtype != np.uint8:
        raise ValueError(f"unsupported pixel type {decoded.dtype}")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def try_read_rgb(path: Path) -> tuple[np.ndarray | None, str | None]:
    """(RGB uint8 image, None), or (None, why it cannot be read)."""
    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as e:
        return None, f"cannot open: {e.strerror or e}"
    if data.size == 0:
        return None, "empty file"
    # three channels at the file's own depth, EXIF orientation applied (as a viewer shows it)
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if decoded is None or decoded.size == 0:
        return None, "not an image OpenCV can decode (corrupt, truncated or another format)"
    try:
        return to_rgb8(decoded), None
    except ValueError as e:
        return None, str(e)


def pil_to_rgb(image) -> np.ndarray:
    """A PIL image (as the API takes it, as the server decodes an upload) -> uint8 RGB, EXIF
    orientation applied as `read_rgb` applies it to files; 16-bit grey scaled, not clipped."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = (np.asarray(image, dtype=np.float32) / (257.0 if image.mode.startswith("I;16") else 65535 / 255)).clip(0, 255)
        return np.repeat(grey.round().astype(np.uint8)[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def read_rgb(path: Path) -> np.ndarray:
    image, why = try_read_rgb(path)
    if image is None:
        raise UserError(f"cannot read image {path} ({why}); replace or remove it")
    return image


def read_mask(path: Path) -> np.ndarray:
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise UserError(f"cannot read mask {path} (missing or corrupt); replace or remove it")
    if m.ndim == 3:  # some published masks are stored as RGB(A)
        m = m[..., :3].max(axis=2)
    return m


def center_box(h: int, w: int) -> tuple[slice, slice]:
    """The largest centred square of an h x w frame, as the slices that cut it."""
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return slice(y, y + s), slice(x, x + s)


def center_square(image: np.ndarray, size: int) -> np.ndarray:
    """The largest centred square of `image`, resized to `size` x `size` (area interpolation)."""
    return cv2.resize(image[center_box(*image.shape[:2])], (size, size), interpolation=cv2.INTER_AREA)


def load_photo_bank(root: str | Path, size: int, progress: bool = True):
    """Every photo under `root` as a centred square at `size`, as a uint8 torch tensor
    [N, 3, size, size]: what a generator is trained on, an inverter fitted to and synthetic
    objects are placed near."""
    import torch
    from tqdm import tqdm

    photos = list_photos(root)
    out = np.empty((len(photos), size, size, 3), np.uint8)
    for i, path in enumerate(tqdm(photos, desc="load photos", disable=not progress)):
        out[i] = center_square(read_rgb(path), size)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


# Real photos that ship inside scikit-image's wheel (a dependency): what a first run shows when
# no benchmark set is on the machine.
BUNDLED_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")


def bundled_photos() -> dict[str, np.ndarray]:
    """name -> RGB photo, read from scikit-image's installed data folder (no download)."""
    from importlib.resources import files

    folder = files("skimage.data")
    photos = {}
    for filename in BUNDLED_PHOTOS:
        image, why = try_read_rgb(Path(str(folder / filename)))
        if image is None:
            raise UserError(f"scikit-image's bundled photo {filename} is missing from {folder} ({why}); reinstall scikit-image")
        photos[Path(filename).stem.removesuffix("_left")] = image
    return photos
