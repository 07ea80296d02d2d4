"""`saliency select`: stage 2, pick the background-removal direction automatically.

Ranks every discovered direction x sign x shift magnitude for each polarity (intensity rule: the
background turns light or dark), then optimises a direction from the best discovered candidates
of each polarity and from random directions (Melas-Kyriazi et al. 2022), and ranks the results
with the same score (saliency.selection). Writes OUT/ranking.md and OUT/ranking.json (every
candidate, discovered and optimised), OUT/candidates.png (original, shifted and mask of the best
ones on a fixed batch), OUT/chosen_direction.png (the winner from -shift to +shift) and
OUT/selection.json, which `saliency synth` reads.
`--direction K --sign - --shift 8` starts from that candidate alone; `--optimise-steps 0` turns
optimisation off.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from discovery.directions import DirectionSet, load_directions
from discovery.grids import direction_grid
from saliency.commands.common import (
    add_generator_arguments,
    add_mask_arguments,
    device_from_args,
    generator_flags,
    generator_from_args,
    generator_label,
    mask_spec_from_args,
    non_negative_float,
    non_negative_int,
    positive_int,
)
from saliency.errors import UserError
from saliency.files import sha256_file, write_json
from saliency.generators import spec
from saliency.generators.registry import latest_or_shipped
from saliency.paths import runs_dir
from saliency.selection import (
    ROW_FIELDS,
    SIGNALS,
    MaskSpec,
    Selection,
    optimise_direction,
    rank_directions,
    score_shift,
)
from saliency.viz import image_grid, save_png


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_generator_arguments(p)
    p.add_argument(
        "--directions",
        type=Path,
        default=None,
        help="directions file (default: DATA/runs/discover-GENERATOR, else the shipped one); "
        "'none': no discovery, optimise from --random-starts only (Melas-Kyriazi et al. 2022)",
    )
    p.add_argument("--out", type=Path, default=None, help="output directory (default: DATA/runs/select-GENERATOR)")
    p.add_argument("--shifts", default=None, help="comma-separated shift magnitudes along unit directions (default: generator's)")
    p.add_argument("--samples", type=positive_int, default=32, help="latents in the fixed scoring batch")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the scoring batch (optimisation and random starts use others)")
    p.add_argument(
        "--min-score", type=float, default=None, help="best score below this means no background direction (default: generator's)"
    )
    p.add_argument("--top", type=positive_int, default=5, help="candidates shown in candidates.png")
    p.add_argument("--direction", type=non_negative_int, default=None, help="start from this direction index only")
    p.add_argument("--sign", choices=("+", "-"), default=None, help="with --direction: the shift's sign (default: both)")
    p.add_argument("--shift", type=non_negative_float, default=None, help="with --direction: the shift magnitude")
    p.add_argument(
        "--optimise-steps",
        type=non_negative_int,
        default=None,
        help="gradient steps per optimised start (0: rank the discovered directions only; default: generator's)",
    )
    p.add_argument(
        "--starts",
        type=non_negative_int,
        default=None,
        help="best discovered candidates per polarity to optimise from (default: generator's)",
    )
    p.add_argument(
        "--random-starts",
        type=non_negative_int,
        default=None,
        help="random directions per polarity to optimise from (default: generator's)",
    )
    add_mask_arguments(p)


def default_directions(generator: str) -> Path:
    """The latest `saliency discover` run for this generator, else the directions it ships with."""
    fix = f"run `saliency discover --generator {generator}` or pass --directions FILE"
    return latest_or_shipped(generator, runs_dir() / f"discover-{generator}" / "directions.safetensors", "directions_file", fix)


def candidate_rows(G, unit: torch.Tensor, shift: float, mask: MaskSpec, n: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z, classes = G.sample_latents(n, g), G.sample_classes(n, g)
    with torch.no_grad():
        original = G(z, classes)
        positive, negative = G(z + shift * unit, classes), G(z - shift * unit, classes)
        result = score_shift(original, positive, negative, mask)
    return [original, positive, result["masks"] * 2 - 1]


def shown_path(path: Path) -> str:
    """A shipped file by its place in the package (a selection that ships must not name this
    machine's folders), any other file by its absolute path."""
    import discovery

    package = Path(discovery.__file__).resolve().parent.parent
    path = Path(path).resolve()
    return str(path.relative_to(package)) if path.is_relative_to(package / "discovery" / "pretrained") else str(path)


@dataclass
class Candidate:
    """One ranked direction: where it came from, how it was scored, and its unit vector. Written to
    ranking.json and selection.json with `source` as the files have always spelled it."""

    direction: int | None  # the discovered direction it is or started from (None: a random start)
    sign: int
    optimised: bool
    polarity: str
    shift: float
    scores: dict[str, float]  # saliency.selection.ROW_FIELDS: score, the signals, area, border share
    vector: torch.Tensor  # unit length, on the CPU
    random_start: int | None = None

    @property
    def score(self) -> float:
        return self.scores["score"]

    @property
    def source(self) -> str:
        if self.random_start is not None:
            return f"optimised from random start {self.random_start}"
        return "optimised" if self.optimised else "discovered"

    def label(self) -> str:
        if self.direction is None:
            return self.source
        return f"{self.direction}{'+' if self.sign > 0 else '-'}" + (" optimised" if self.optimised else "")

    def row(self) -> dict:
        """As ranking.json lists it: the vector only where it is not a discovered direction's."""
        vector = None if not self.optimised else [round(float(v), 6) for v in self.vector]
        return {
            "direction": self.direction,
            "sign": self.sign,
            "shift": self.shift,
            "polarity": self.polarity,
            **self.scores,
            "source": self.source,
            "vector": vector,
        }


def markdown_table(rows: list[Candidate], limit: int = 30) -> str:
    cols = ["rank", "candidate", "polarity", "shift", *ROW_FIELDS]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for i, c in enumerate(rows[:limit]):
        lines.append("| " + " | ".join(str(v) for v in [i + 1, c.label(), c.polarity, c.shift, *(c.scores[f] for f in ROW_FIELDS)]) + " |")
    return "\n".join(lines)


@dataclass
class Plan:
    """What one `select` run ranks and optimises, from its flags over the generator's defaults."""

    path: Path | None  # the discovered directions file (None: random starts only)
    ds: DirectionSet
    specs: dict[str, MaskSpec]  # one mask spec per polarity tried
    shifts: list[float]
    directions: torch.Tensor  # the discovered candidates ranked (all, or --direction alone)
    indices: list[int]
    signs: tuple[int, ...]
    steps: int  # optimiser steps per start
    n_starts: int  # best discovered candidates optimised per polarity
    n_random: int  # random starts per polarity
    min_score: float
    out: Path


def plan_from_args(args: argparse.Namespace, G) -> Plan:
    defaults = spec(args.generator).select
    path = None if str(args.directions).lower() == "none" else args.directions or default_directions(generator_label(args))
    if path is None:  # no discovered candidates: a (0, d) set leaves the random starts alone in the ranking
        ds = DirectionSet(torch.zeros(0, G.latent_dim))
    else:
        ds = load_directions(path)
        made_for = ds.meta.get("generator")
        if made_for not in (None, generator_label(args)) and made_for.split("@")[0] == args.generator:
            raise UserError(f"{path} holds directions found for {made_for}, not {generator_label(args)}; pass {generator_flags(made_for)}")
        if ds.directions.shape[1] != G.latent_dim:
            raise UserError(f"{path} holds {ds.directions.shape[1]}-d directions but {generator_label(args)} has a {G.latent_dim}-d latent")
    base = mask_spec_from_args(args)
    polarities = [base.polarity] if args.polarity or base.rule != "intensity" else ["light", "dark"]

    def flag_or_default(value, default):
        return value if value is not None else default

    plan = Plan(
        path=path,
        ds=ds,
        specs={p: replace(base, polarity=p) for p in polarities},
        shifts=[float(s) for s in args.shifts.split(",")] if args.shifts else list(defaults.shifts),
        directions=ds.directions,
        indices=list(range(len(ds))),
        signs=(1, -1),
        steps=flag_or_default(args.optimise_steps, defaults.optimise_steps),
        n_starts=flag_or_default(args.starts, defaults.optimise_starts),
        n_random=flag_or_default(args.random_starts, defaults.optimise_random_starts),
        min_score=flag_or_default(args.min_score, defaults.min_score),
        out=args.out or runs_dir() / f"select-{generator_label(args)}",
    )
    if path is None and (not plan.steps or not plan.n_random or args.direction is not None):
        raise UserError(
            "--directions none optimises from random starts only: give --random-starts N and --optimise-steps N above 0, and no --direction"
        )
    if args.direction is not None:
        if not 0 <= args.direction < len(ds):
            raise UserError(f"--direction {args.direction} is out of range: {path} has {len(ds)} directions")
        plan.directions, plan.indices = ds.directions[args.direction : args.direction + 1], [args.direction]
        plan.shifts = [args.shift] if args.shift else plan.shifts
        plan.signs = (1 if args.sign == "+" else -1,) if args.sign else plan.signs
        plan.n_random = 0
    return plan


def rank_discovered(G, plan: Plan, args: argparse.Namespace) -> list[Candidate]:
    """Every discovered candidate x sign x shift x polarity, scored."""
    rows = []
    for mask in plan.specs.values():
        for r in rank_directions(G, plan.directions, plan.shifts, mask, args.samples, args.seed, plan.signs):
            k = plan.indices[r["direction"]]
            unit = r["sign"] * plan.ds.directions[k] / plan.ds.directions[k].norm()
            rows.append(Candidate(k, r["sign"], False, r["polarity"], r["shift"], {f: r[f] for f in ROW_FIELDS}, unit.cpu()))
    return rows


def optimise_starts(G, plan: Plan, args: argparse.Namespace, rows: list[Candidate], device) -> list[Candidate]:
    """The optimiser from the best discovered rows and from random directions, per polarity; the
    ranked results."""
    starts: list[tuple[str, Candidate | int, torch.Tensor, float]] = []
    for p in plan.specs:
        seen = set()
        for c in (c for c in rows if c.polarity == p):
            if len(seen) < plan.n_starts and (c.direction, c.sign) not in seen:
                seen.add((c.direction, c.sign))
                starts.append((p, c, c.vector, c.shift))
        for i in range(plan.n_random):
            random = torch.randn(G.latent_dim, generator=torch.Generator().manual_seed(1_000 + i))
            starts.append((p, i, random, sorted(plan.shifts)[len(plan.shifts) // 2]))
    optimised = []
    for i, (p, origin, start, shift) in enumerate(tqdm(starts, desc="optimise directions")):
        unit = optimise_direction(G, start.to(device), shift, plan.specs[p], steps=plan.steps, seed=i)
        best = rank_directions(G, unit[None], plan.shifts, plan.specs[p], args.samples, args.seed, signs=(1,))[0]
        scores = {f: best[f] for f in ROW_FIELDS}
        if isinstance(origin, Candidate):
            optimised.append(Candidate(origin.direction, origin.sign, True, best["polarity"], best["shift"], scores, unit.cpu()))
        else:
            optimised.append(Candidate(None, 1, True, best["polarity"], best["shift"], scores, unit.cpu(), random_start=origin))
    return optimised


def write_ranking(plan: Plan, rows: list[Candidate]) -> str:
    table = markdown_table(rows)
    plan.out.mkdir(parents=True, exist_ok=True)
    (plan.out / "ranking.md").write_text(table + "\n")
    base = next(iter(plan.specs.values()))
    write_json(
        plan.out / "ranking.json",
        {
            "directions_file": str(plan.path) if plan.path else None,
            "mask": {"rule": base.rule, "threshold": base.threshold, "polarities": list(plan.specs)},
            "rows": [c.row() for c in rows],
        },
    )
    return table


def draw_candidates(G, plan: Plan, args: argparse.Namespace, rows: list[Candidate], device) -> None:
    grid_rows, labels = [], []
    for rank, c in enumerate(rows[: args.top]):
        grid_rows += candidate_rows(G, c.vector.to(device), c.shift, plan.specs[c.polarity], 8, args.seed)
        labels += [f"#{rank + 1} {c.label()}"[:22], f"{c.polarity} {c.shift:g}: {c.score:.2f}", "mask"]
    save_png(image_grid(grid_rows, labels, label_width=150), plan.out / "candidates.png")
    save_png(direction_grid(G, rows[0].vector.to(device), rows[0].shift, seed=args.seed), plan.out / "chosen_direction.png")


def save_selection(plan: Plan, best: Candidate, generator: str) -> Path:
    mask = plan.specs[best.polarity]
    provenance = {
        "directions_file": shown_path(plan.path) if plan.path else None,
        "directions_sha256": sha256_file(plan.path) if plan.path else None,
        "direction": best.direction,
        "sign": best.sign,
        "source": best.source,
        "optimise_steps": plan.steps if best.optimised else 0,
        "score": best.score,
        "signals": {k: best.scores[k] for k in SIGNALS},
        "mask_area": best.scores["area"],
        "mask_border_share": best.scores["border_share"],
    }
    vector = [round(float(v), 7) for v in best.vector]
    path = plan.out / "selection.json"
    Selection(vector, best.shift, mask.rule, mask.threshold, mask.polarity, mask.filters.as_dict(), generator, provenance).save(path)
    return path


def run(args: argparse.Namespace) -> None:
    device = device_from_args(args)
    G = generator_from_args(args, device)
    plan = plan_from_args(args, G)
    rows = rank_discovered(G, plan, args)
    if plan.steps:
        rows += optimise_starts(G, plan, args, rows, device)
    rows.sort(key=lambda c: -c.score)
    print(write_ranking(plan, rows))
    best = rows[0]
    if args.direction is None and best.score < plan.min_score:
        raise UserError(
            f"no direction behaves like background removal: best score {best.score:.3f} < --min-score {plan.min_score} "
            f"(ranking in {plan.out / 'ranking.md'}). Try more discovery or --optimise-steps, another --rule, or start from one with --direction K --sign S --shift R"
        )
    draw_candidates(G, plan, args, rows, device)
    path = save_selection(plan, best, generator_label(args))
    print(f"selected {best.label()} ({best.polarity}, shift {best.shift:g}, score {best.score:.3f}) -> {path}")
