"""Run every benchmark script and gather their tables into one JSON and one markdown file.

Run: `python benchmarks/run_all.py [--device cuda] [--quick]`; writes
DATA/benchmarks/all.json and DATA/benchmarks/all.md (each script also keeps its own JSON).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from saliency.files import atomic_write, write_json  # noqa: E402
from saliency.paths import data_dir  # noqa: E402

SCRIPTS = {
    "generator_speed": [],
    "discovery_speed": ["--random-weights"],
    "synth_speed": [],
    "train_speed": [],
    "eval_speed": [],
    "encoder_speed": [],
    "synth_processes": [],
    "refine_speed": [],
}
QUICK = {
    "generator_speed": ["--repeats", "2"],
    "discovery_speed": ["--repeats", "5"],
    "synth_speed": ["--n", "500"],
    "train_speed": ["--steps", "10"],
    "eval_speed": ["--limit", "50"],
    "encoder_speed": ["--encoders", "resnet18,mobilenet_v2", "--sizes", "64", "--decoders", "wide"],
    "synth_processes": ["--n", "400"],
    "refine_speed": ["--limit", "20"],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true", help="smaller runs (minutes), for a first look")
    p.add_argument("--only", default=None, help="comma-separated subset of " + ",".join(SCRIPTS))
    args = p.parse_args()
    out_dir = data_dir() / "benchmarks"
    names = args.only.split(",") if args.only else list(SCRIPTS)
    combined, markdown = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "results": {}}, []
    for name in names:
        json_path = out_dir / f"{name}.json"
        cmd = [
            sys.executable,
            str(HERE / f"{name}.py"),
            "--device",
            args.device,
            "--out",
            str(json_path),
            *SCRIPTS[name],
            *(QUICK[name] if args.quick else []),
        ]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            combined["results"][name] = {"error": proc.stderr[-2000:]}
            continue
        table = proc.stdout.split("\nwrote ")[0].strip()
        print(table, flush=True)
        combined["results"][name] = json.loads(json_path.read_text())
        markdown += [f"## {name}", "", table, ""]
    write_json(out_dir / "all.json", combined)
    with atomic_write(out_dir / "all.md", "w") as f:
        f.write(f"# Benchmarks ({combined['time']})\n\n" + "\n".join(markdown))
    print(f"wrote {out_dir / 'all.json'} and {out_dir / 'all.md'}")


if __name__ == "__main__":
    main()
