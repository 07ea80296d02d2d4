"""May a saved run be resumed with these settings? One check for every resumable stage."""

from __future__ import annotations

from dataclasses import MISSING, asdict, fields
from typing import Any


def changed_settings(saved: dict[str, Any], cfg: Any) -> list[str]:
    """`name: old -> new` for each field of the dataclass `cfg` that differs from the run's saved
    config, except those in cfg.RESUMABLE_CHANGES (they do not change the result). A field the
    saved config lacks was written before the field existed, when it behaved as its default, or as
    cfg.FORMER_DEFAULTS says where the default has changed since."""
    defaults = {f.name: f.default for f in fields(cfg)} | getattr(cfg, "FORMER_DEFAULTS", {})
    changed = []
    for name, now in asdict(cfg).items():
        before = saved.get(name, defaults[name])
        if name not in cfg.RESUMABLE_CHANGES and before != now:
            changed.append(f"{name}: {'(not saved)' if before is MISSING else repr(before)} -> {now!r}")
    return changed
