"""`saliency select`: stage 2, pick the background-removal direction automatically.

Scores every direction x sign x shift magnitude (see saliency.selection for the score), writes
OUT/ranking.md and OUT/ranking.json (every candidate), OUT/candidates.png (original, shifted
and mask of the best ones on a fixed batch) and OUT/selection.json, which `saliency synth`
reads. `--direction K --sign - --shift 8` overrides the choice; `--refine STEPS` polishes the
chosen direction by gradient ascent on the score with the generator frozen.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from discovery.directions import load_directions
from saliency.commands.common import add_generator_arguments, add_mask_arguments, generator_from_args, mask_spec_from_args
from saliency.device import pick_device
from saliency.errors import UserError
from saliency.files import sha256_file, write_json
from saliency.generators import spec
from saliency.paths import runs_dir
from saliency.selection import SIGNALS, MaskSpec, rank_directions, refine_direction, score_shift
from saliency.viz import image_grid, save_png


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_generator_arguments(p)
    p.add_argument("--directions", type=Path, default=None, help="directions file (default: DATA/runs/discover-GENERATOR, else the shipped one)")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: DATA/runs/select-GENERATOR)")
    p.add_argument("--shifts", default=None, help="comma-separated shift magnitudes along unit directions (default: generator's)")
    p.add_argument("--samples", type=int, default=32, help="latents in the fixed scoring batch")
    p.add_argument("--seed", type=int, default=0, help="seed of the scoring batch")
    p.add_argument("--min-score", type=float, default=None, help="best score below this means no background direction (default: generator's)")
    p.add_argument("--top", type=int, default=5, help="candidates shown in candidates.png")
    p.add_argument("--direction", type=int, default=None, help="override: use this direction index")
    p.add_argument("--sign", choices=("+", "-"), default=None, help="override: shift sign (with --direction)")
    p.add_argument("--shift", type=float, default=None, help="override: shift magnitude (with --direction)")
    p.add_argument("--refine", type=int, default=0, metavar="STEPS", help="gradient-ascent steps refining the chosen direction (0: off)")
    add_mask_arguments(p)


def default_directions(generator: str) -> Path:
    run = runs_dir() / f"discover-{generator}" / "directions.safetensors"
    if run.is_file():
        return run
    shipped = spec(generator).defaults.get("directions_file")
    if shipped:
        import discovery

        return Path(discovery.__file__).parent / shipped
    raise UserError(f"no directions for {generator}: run `saliency discover --generator {generator}` or pass --directions FILE")


def candidate_rows(G, unit: torch.Tensor, shift: float, mask: MaskSpec, n: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z, classes = G.sample_latents(n, g), G.sample_classes(n, g)
    with torch.no_grad():
        original = G(z, classes)
        positive, negative = G(z + shift * unit, classes), G(z - shift * unit, classes)
        result = score_shift(original, positive, negative, mask)
    return [original, positive, result["masks"] * 2 - 1]


def markdown_table(rows: list[dict], limit: int = 20) -> str:
    cols = ["rank", "direction", "sign", "shift", "score", *SIGNALS]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for i, r in enumerate(rows[:limit]):
        lines.append("| " + " | ".join(str(v) for v in [i + 1, r["direction"], "+" if r["sign"] > 0 else "-", r["shift"], *(r[c] for c in ("score", *SIGNALS))]) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    device = pick_device(args.device)
    defaults = spec(args.generator).defaults
    G = generator_from_args(args, device)
    path = args.directions or default_directions(args.generator)
    ds = load_directions(path)
    if ds.directions.shape[1] != G.latent_dim:
        raise UserError(f"{path} holds {ds.directions.shape[1]}-d directions but {args.generator} has a {G.latent_dim}-d latent")
    mask = mask_spec_from_args(args)
    shifts = [float(s) for s in args.shifts.split(",")] if args.shifts else list(defaults["select_shifts"])
    out = args.out or runs_dir() / f"select-{args.generator}"
    min_score = args.min_score if args.min_score is not None else defaults["min_score"]

    if args.direction is not None:
        if not 0 <= args.direction < len(ds):
            raise UserError(f"--direction {args.direction} is out of range: {path} has {len(ds)} directions")
        one = ds.directions[args.direction : args.direction + 1]
        rows = rank_directions(G, one, [args.shift or shifts[-1]], mask, args.samples, args.seed)
        rows = [dict(r, direction=args.direction) for r in rows if args.sign is None or (r["sign"] > 0) == (args.sign == "+")]
    else:
        rows = rank_directions(G, ds.directions, shifts, mask, args.samples, args.seed)
    table = markdown_table(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ranking.md").write_text(table + "\n")
    write_json(out / "ranking.json", {"directions_file": str(path), "mask": {"rule": mask.rule, "threshold": mask.threshold, "polarity": mask.polarity}, "rows": rows})
    print(table)

    best = rows[0]
    if args.direction is None and best["score"] < min_score:
        raise UserError(
            f"no direction in {path} behaves like background removal: best score {best['score']:.3f} < --min-score {min_score} "
            f"(ranking in {out / 'ranking.md'}). Try more discovery steps, another --rule/--polarity, or choose one with --direction K --sign S --shift R"
        )
    unit = ds.directions[best["direction"]].to(device)
    unit = best["sign"] * unit / unit.norm()
    if args.refine:
        unit = refine_direction(G, unit, best["shift"], args.refine)
        refined = rank_directions(G, unit[None], [best["shift"]], mask, args.samples, args.seed, normalize=False)
        best = dict(refined[0] if refined[0]["sign"] > 0 else refined[1], direction=best["direction"], sign=best["sign"], refined_from=best["score"])
        print(f"refined: score {best['refined_from']} -> {best['score']}")

    top = [dict(best)] + [r for r in rows[1 : args.top]]
    grid_rows, labels = [], []
    for rank, r in enumerate(top):
        u = unit if rank == 0 else rows[rank]["sign"] * ds.directions[r["direction"]].to(device) / ds.directions[r["direction"]].norm()
        grid_rows += candidate_rows(G, u, r["shift"], mask, 8, args.seed)
        tag = f"#{rank + 1} k={r['direction']}{'+' if r['sign'] > 0 else '-'}{r['shift']:g}"
        labels += [tag, f"shifted {r['score']:.2f}", "mask"]
    save_png(image_grid(grid_rows, labels, label_width=110), out / "candidates.png")

    selection = {
        "generator": args.generator,
        "directions_file": str(Path(path).resolve()),
        "directions_sha256": sha256_file(path),
        "direction": best["direction"],
        "sign": best["sign"],
        "shift": best["shift"],
        "vector": [round(float(v), 7) for v in unit.cpu()],
        "refined": bool(args.refine),
        "rule": mask.rule,
        "threshold": mask.threshold,
        "polarity": mask.polarity,
        "filters": mask.filters.as_dict(),
        "score": best["score"],
        "signals": {k: best[k] for k in SIGNALS},
    }
    write_json(out / "selection.json", selection)
    print(f"selected direction {best['direction']} sign {'+' if best['sign'] > 0 else '-'} shift {best['shift']:g} (score {best['score']:.3f}) -> {out / 'selection.json'}")
