"""The `saliency` command: one subcommand per pipeline stage.

Each stage module exposes `add_arguments(parser)` and `run(args)`; this file only wires them,
so `saliency <stage> --help` documents every flag next to the code that reads it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations calls home on import otherwise

from saliency import __version__  # noqa: E402
from saliency.errors import PartlyDone, UserError  # noqa: E402

# name -> (module, one-line help); modules are imported only when their stage runs.
STAGES = {
    "discover": ("saliency.commands.discover", "stage 1: learn latent directions of a frozen generator"),
    "select": ("saliency.commands.select", "stage 2: rank directions and pick the background-removal one"),
    "synth": ("saliency.commands.synth", "stage 3: write N filtered image/mask pairs (resumable, shardable)"),
    "train-unet": ("saliency.commands.train_unet", "stage 4: train the U-Net saliency model on synthetic pairs"),
    "bench": ("saliency.commands.bench", "stage 5: benchmark saliency models on the papers' sets or your own labelled folder"),
    "invert": ("saliency.commands.invert", "train an encoder that inverts a frozen generator (image -> z)"),
    "pseudo-label": ("saliency.commands.pseudo_label", "pseudo-masks for unlabeled photos from teachers (U-Nets, wctr, the GAN)"),
    "self-train": ("saliency.commands.self_train", "rounds of pseudo-labelling unlabeled photos and training a student on them"),
    "predict": ("saliency.commands.predict", "apply a trained model to your own images (maps, masks, cut-outs)"),
    "serve": ("saliency.commands.serve", "the model as a local web service and page (needs the serve extra)"),
    "export": ("saliency.commands.export", "export a trained model to ONNX"),
    "train-gan": ("saliency.commands.train_gan", "train a generator on unlabeled photos (a domain with no public GAN)"),
    "demo": ("saliency.commands.demo", "the whole pipeline end to end, with one report"),
    "generators": ("saliency.commands.generators", "list generator backends and their defaults"),
}


DATA_NOTE = (
    "DATA in these help texts is the data folder: $SALIENCY_DATA if set, else data/ in a source checkout, else "
    "~/.cache/saliency. Exit codes: 0 done, 2 usage error or bad input, 3 finished except for the bad files listed, 130 interrupted."
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default, once: not where the help already says it, nor for a flag whose
    default is "not given" (None) or off (a switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text.lower():
            return text
        return super()._get_help_string(action)


def build_parser(only: str | None = None, defaults: dict | None = None) -> argparse.ArgumentParser:
    """All stages, or with `only` just that stage's flags: a stage then imports only what it
    needs (train-gan runs where segmentation-models-pytorch is not installed, and starts faster).
    `defaults`: that stage's flags' defaults replaced (a preset, see `main`)."""
    parser = argparse.ArgumentParser(prog="saliency", description=__doc__.splitlines()[0], epilog=DATA_NOTE)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, (module, help_text) in STAGES.items():
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=DATA_NOTE, formatter_class=HelpFormatter)
        if only in (None, name):
            importlib.import_module(module).add_arguments(p)
            if defaults and name == only:
                p.set_defaults(**defaults)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line as its stage reads it. A stage's flags are built only for that stage
    (`saliency --help` imports none of them). A stage's `preset(args)` (self-train --recipe)
    names defaults for its flags: parsed again with them, every flag given on the command line
    keeps its value and the preset fills the rest."""
    stage = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(stage if stage in STAGES else "").parse_args(argv)
    preset = getattr(importlib.import_module(STAGES[args.stage][0]), "preset", None)
    if preset and (defaults := preset(args)):
        args = build_parser(args.stage, defaults).parse_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
    module = importlib.import_module(STAGES[args.stage][0])
    try:
        module.run(args)
        sys.stdout.flush()  # inside the try: a reader gone by now is met below, not at exit
    except PartlyDone as e:
        print(f"saliency {args.stage}: {e}", file=sys.stderr)
        return 3
    except UserError as e:
        print(f"saliency {args.stage}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"saliency {args.stage}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`saliency generators | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 0
