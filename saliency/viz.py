"""Labelled image grids as PNG: the pictures people look at (direction grids, contact sheets)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from saliency.files import atomic_write


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] (C = 1 or 3) -> [N, H, W, 3] uint8."""
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.permute(0, 2, 3, 1).numpy()


def image_grid(
    rows: Sequence[torch.Tensor],
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    pad: int = 2,
    label_width: int = 56,
    label_height: int = 14,
    min_cell: int = 64,
) -> Image.Image:
    """Rows of equal-length image batches in [-1, 1] as one picture, with optional labels."""
    cells = [to_uint8(r) for r in rows]
    h, w = cells[0].shape[1:3]
    scale = max(1, -(-min_cell // max(h, w)))
    h, w = h * scale, w * scale
    n_cols = max(len(c) for c in cells)
    left = label_width if row_labels else 0
    top = label_height if col_labels else 0
    canvas = Image.new("RGB", (left + n_cols * (w + pad) + pad, top + len(cells) * (h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i, row in enumerate(cells):
        y = top + pad + i * (h + pad)
        if row_labels:
            draw.text((2, y + h // 2 - 5), str(row_labels[i]), fill="black")
        for j, img in enumerate(row):
            tile = Image.fromarray(img).resize((w, h), Image.NEAREST)
            canvas.paste(tile, (left + pad + j * (w + pad), y))
    if col_labels:
        for j, label in enumerate(col_labels):
            draw.text((left + pad + j * (w + pad) + 2, 1), str(label), fill="black")
    return canvas


def save_png(image: Image.Image, path: str | Path) -> Path:
    path = Path(path)
    with atomic_write(path, "wb") as f:
        image.save(f, format="PNG")
    return path
