"""The U-Net's training set from its config, assembled here alone (as torchvision's presets.py).

Each data flag of `train-unet` becomes one piece: `--backgrounds/--paste/--paste-scale` a `Paste`
framing, `--close-up/--zoom-out` a `Reframe` framing, `--flip/--crop/--color/--degrade` the
augmentation, `--mix/--mix-ratio` a `MixedDataset` around two such sets; the set's repr names
every piece, and a test checks that each flag changes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from saliency.unet.data import AugmentConfig, MixedDataset, PairDataset, Paste, Reframe

if TYPE_CHECKING:
    from saliency.unet.train import TrainConfig


def training_set(cfg: TrainConfig, pairs: list) -> PairDataset | MixedDataset:
    """`pairs` framed and augmented as `cfg` says. Without `mix`, they are the set (pasted onto
    the backgrounds at `paste`, then reframed at `close_up` / `zoom_out`). With `mix`, they are the
    photos (reframed) and the synthetic pairs of `mix` (pasted, if asked) come in at `mix_ratio`."""
    from saliency.images import list_photos
    from saliency.pairs import find_pairs

    augment = AugmentConfig(cfg.flip, cfg.crop, cfg.color, cfg.degrade)
    paste = [Paste(list_photos(cfg.backgrounds), cfg.size, cfg.paste, tuple(cfg.paste_scale))] if cfg.backgrounds and cfg.paste > 0 else []
    reframe = [Reframe(cfg.close_up, cfg.zoom_out)] if cfg.close_up or cfg.zoom_out else []
    if cfg.mix and cfg.mix_ratio > 0:
        photos = PairDataset(pairs, cfg.size, augment, reframe)
        return MixedDataset(photos, PairDataset(find_pairs(cfg.mix), cfg.size, augment, paste), cfg.mix_ratio)
    return PairDataset(pairs, cfg.size, augment, paste + reframe)
