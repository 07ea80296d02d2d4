"""Flags shared by every stage that runs a generator."""

from __future__ import annotations

import argparse

from saliency.errors import UserError


def parse_classes(text: str | None) -> list[int] | None:
    if not text or text == "all":
        return None
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise UserError(f"--classes takes 'all' or comma-separated class ids, got {text!r}") from None


def add_generator_arguments(p: argparse.ArgumentParser, default: str = "dcgan-faces") -> None:
    g = p.add_argument_group("generator")
    g.add_argument("--generator", default=default, help="backend name (see `saliency generators`) or package.module:factory for your own")
    g.add_argument("--weights", default=None, help="weights file to load instead of the cache/download (offline use)")
    g.add_argument("--classes", default="all", help="class-conditional models: 'all' or ids like 239,207; fixed per sample while z moves")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
