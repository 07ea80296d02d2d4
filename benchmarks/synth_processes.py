"""Synthesis with 1 and 2 processes sharing one output (`--shard p --num-shards n`, as torchrun
or srun start them): pairs/s in all, pairs/s per process, and the ratio to one process.
On a machine with fewer free cores than processes the ratio says how much the processes
fight over them. Run: `python benchmarks/synth_processes.py [--generator objects-64] [--n 2000]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
from common import report  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generator", default="objects-64", help="a backend with a shipped selection (or pass --selection)")
    p.add_argument("--selection", default=None)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--processes", default="1,2")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    rows, base = [], None
    for n_proc in map(int, args.processes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            threads = max(1, (os.cpu_count() or 2) // n_proc)
            cmd = [
                sys.executable,
                "-m",
                "saliency",
                "synth",
                "--generator",
                args.generator,
                "--n",
                str(args.n),
                "--shard-size",
                str(max(50, args.n // 8)),
                "--device",
                args.device,
                "--threads",
                str(threads),
                "--out",
                tmp,
            ] + (["--selection", args.selection] if args.selection else [])
            t = time.perf_counter()
            procs = [
                subprocess.Popen(cmd + ["--shard", str(i), "--num-shards", str(n_proc)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                for i in range(n_proc)
            ]
            for proc in procs:
                if proc.wait():
                    raise SystemExit(proc.stderr.read().decode()[-2000:])
            seconds = time.perf_counter() - t
            assert json.loads((Path(tmp) / "manifest.json").read_text())["count"] == args.n
        rate = args.n / seconds
        base = base or rate / n_proc
        rows.append(
            {
                "processes": n_proc,
                "threads_each": threads,
                "seconds": round(seconds, 1),
                "pairs_per_s": round(rate, 1),
                "pairs_per_s_per_process": round(rate / n_proc, 1),
                "per_process_vs_one": round(rate / n_proc / base, 3),
            }
        )
        print(rows[-1], flush=True)
    report("synth_processes", rows, torch.device(args.device), args.out)


if __name__ == "__main__":
    main()
