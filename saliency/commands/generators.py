"""`saliency generators`: what backends exist and the defaults each stage takes from them."""

from __future__ import annotations

import argparse
import json

from saliency.generators import available


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the registry as JSON")


def run(args: argparse.Namespace) -> None:
    specs = available()
    if args.json:
        print(json.dumps({n: {"description": s.description, "defaults": s.defaults()} for n, s in specs.items()}, indent=2))
        return
    for name, s in sorted(specs.items()):
        print(f"{name:16s} {s.description}")
        for stage, values in s.defaults().items():
            text = ", ".join(f"{k}={v}" for k, v in values.items()) if isinstance(values, dict) else values
            print(f"{'':16s} {stage}: {text}")
