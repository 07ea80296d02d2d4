"""Synthesis: mask quality on planted truth, determinism, kill -9 resume, disjoint parts, disk errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from saliency.errors import UserError
from saliency.generators import build_generator
from saliency.pairs import list_pairs
from saliency.synthesis import SynthConfig, batch_rng, candidate_batch, synthesize
from saliency.training import Interrupted, interrupt_after


def planted_config(G, **kw) -> SynthConfig:
    base = dict(generator="planted", direction=G.planted_direction.tolist(), shift=12.0, n=300, batch_size=64, shard_size=100)
    return SynthConfig(**{**base, **kw})


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("shards/*/*/*.png"))}


def test_masks_match_planted_truth(tmp_path):
    G = build_generator("planted")
    cfg = planted_config(G, n=256)
    manifest = synthesize(G, cfg, tmp_path, progress=False)
    assert manifest["count"] == 256 and manifest["acceptance_rate"] > 0.5
    # rebuild the accepted latents from each shard's seeded stream and compare with the true masks
    truth = []
    for k in range(cfg.shard_count()):
        mine, b = [], 0
        while len(mine) < cfg.shard_length(k):
            z = G.sample_latents(cfg.batch_size, batch_rng(cfg, k, b))
            keep = candidate_batch(G, cfg, k, b, torch.tensor(cfg.direction) * cfg.shift)["keep"]
            mine += list(G.true_mask(z)[keep])
            b += 1
        truth += mine[: cfg.shard_length(k)]
    ious = []
    for (_, mask_path), t in zip(list_pairs(tmp_path), truth):
        m = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) > 127
        t = t[0].numpy() > 0.5
        ious.append((m & t).sum() / (m | t).sum())
    assert len(ious) == 256 and np.mean(ious) >= 0.95


def test_files_are_plain_pngs_and_manifest_complete(tmp_path):
    G = build_generator("planted")
    synthesize(G, planted_config(G, n=150), tmp_path, progress=False)
    pairs = list_pairs(tmp_path)
    assert len(pairs) == 150 and len({p[0].name for p in pairs}) == 150
    image = cv2.imread(str(pairs[0][0]))
    mask = cv2.imread(str(pairs[0][1]), cv2.IMREAD_UNCHANGED)
    assert image.shape == (32, 32, 3) and mask.shape == (32, 32) and set(np.unique(mask)) <= {0, 255}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["complete"] and set(manifest["rejection_rate"]) == {"area", "histogram"}
    assert manifest["count"] == 150 and manifest["shards"] == 2
    assert manifest["config"]["direction"] == pytest.approx(G.planted_direction.tolist())
    masks = np.stack([cv2.imread(str(m), cv2.IMREAD_GRAYSCALE) > 127 for _, m in pairs]).astype(np.float64)
    band = np.zeros((32, 32), bool)
    band[:2], band[-2:], band[:, :2], band[:, -2:] = True, True, True, True  # the outer 5% of 32 px
    assert manifest["mean_mask_area"] == pytest.approx(masks.mean(), abs=1e-4)
    assert manifest["mask_border_share"] == pytest.approx(np.mean([(m * band).sum() / m.sum() for m in masks]), abs=1e-4)
    assert 0.05 < manifest["mean_mask_area"] < 0.25 and manifest["mask_border_share"] < 0.05  # the planted ellipses


def test_deterministic_and_growing_n_extends(tmp_path):
    G = build_generator("planted")
    synthesize(G, planted_config(G, n=250), tmp_path / "a", progress=False)
    synthesize(G, planted_config(G, n=120), tmp_path / "b", progress=False)
    synthesize(G, planted_config(G, n=250), tmp_path / "b", progress=False)  # resume to a larger N
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")


def test_resume_after_interruption_in_process(tmp_path):
    G = build_generator("planted")
    synthesize(G, planted_config(G), tmp_path / "whole", progress=False)
    with pytest.raises(Interrupted), interrupt_after(1):  # killed once the first shard is written
        synthesize(G, planted_config(G), tmp_path / "split", progress=False)
    stale = tmp_path / "split" / "shards" / "00001" / "images"
    stale.mkdir(parents=True)
    (stale / "00000100.png").write_bytes(b"torn")  # what a kill mid-shard leaves behind
    synthesize(G, planted_config(G), tmp_path / "split", progress=False)
    assert tree_bytes(tmp_path / "whole") == tree_bytes(tmp_path / "split")
    whole = json.loads((tmp_path / "whole" / "manifest.json").read_text())
    split = json.loads((tmp_path / "split" / "manifest.json").read_text())
    assert whole == split


def test_parts_together_write_exactly_what_one_process_writes(tmp_path):
    """Three parts (as three GPUs or nodes would) leave the same files and the same manifest as
    one process: no duplicate, no gap; the part that completes the last shard merges."""
    G = build_generator("planted")
    results = [synthesize(G, planted_config(G, n=250, part=part, num_parts=3), tmp_path / "parts", progress=False) for part in range(3)]
    assert [r["complete"] for r in results] == [False, False, True]
    synthesize(G, planted_config(G, n=250), tmp_path / "one", progress=False)
    parts, one = tree_bytes(tmp_path / "parts"), tree_bytes(tmp_path / "one")
    assert parts == one and len(one) == 500
    images = [p[0].read_bytes() for p in list_pairs(tmp_path / "parts")]
    assert len(set(images)) == 250, "no sample twice"
    assert json.loads((tmp_path / "parts" / "manifest.json").read_text()) == json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert sorted(json.loads(p.read_text())["shards"] for p in (tmp_path / "parts").glob("manifest-part-*.json")) == [[0], [1], [2]]


def test_changed_settings_refused(tmp_path):
    G = build_generator("planted")
    synthesize(G, planted_config(G, n=64), tmp_path, progress=False)
    with pytest.raises(UserError, match="other settings.*shift"):
        synthesize(G, planted_config(G, n=64, shift=6.0), tmp_path, progress=False)


def test_disk_full_is_clear_and_resumable(tmp_path, monkeypatch):
    G = build_generator("planted")
    calls = {"n": 0}
    real = cv2.imwrite

    def failing(path, img, *a):
        calls["n"] += 1
        return False if calls["n"] > 150 else real(path, img, *a)

    monkeypatch.setattr(cv2, "imwrite", failing)
    with pytest.raises(UserError, match="Free disk space and rerun"):
        synthesize(G, planted_config(G), tmp_path / "full", progress=False)
    monkeypatch.setattr(cv2, "imwrite", real)
    synthesize(G, planted_config(G), tmp_path / "full", progress=False)
    synthesize(G, planted_config(G), tmp_path / "whole", progress=False)
    assert tree_bytes(tmp_path / "full") == tree_bytes(tmp_path / "whole")


@pytest.mark.slow
def test_kill_9_mid_run_then_rerun_gives_the_uninterrupted_result(tmp_path):
    G = build_generator("planted")
    sel = tmp_path / "selection.json"
    sel.write_text(json.dumps({"generator": "planted", "vector": G.planted_direction.tolist(), "shift": 12.0}))
    cmd = [
        sys.executable,
        "-m",
        "saliency",
        "synth",
        "--generator",
        "planted",
        "--selection",
        str(sel),
        "--n",
        "6000",
        "--shard-size",
        "250",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd + ["--out", str(tmp_path / "killed")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (tmp_path / "killed" / "shards" / "00003" / "done.json").exists():
        assert time.time() < deadline and proc.poll() is None, "synth finished or stalled before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not json.loads((tmp_path / "killed" / "manifest.json").read_text())["complete"]
    subprocess.run(cmd + ["--out", str(tmp_path / "killed")], env=env, check=True, capture_output=True)
    subprocess.run(cmd + ["--out", str(tmp_path / "whole")], env=env, check=True, capture_output=True)
    killed, whole = tree_bytes(tmp_path / "killed"), tree_bytes(tmp_path / "whole")
    assert len(whole) == 12000 and killed == whole
    assert (tmp_path / "killed" / "contact_sheet.png").is_file()


def test_nothing_accepted_is_an_error_not_a_hang(tmp_path):
    G = build_generator("planted")
    cfg = planted_config(
        G, n=10, batch_size=8, filters={"min_area": 0.9, "max_area": 1.0, "min_peaks": 2, "hist_bins": 12, "min_component": 0.2}
    )
    with pytest.raises(UserError, match="none of 400 candidates passed"):
        synthesize(G, cfg, tmp_path, progress=False)


@pytest.mark.slow
def test_torchrun_two_ranks_then_a_killed_rank_rerun(tmp_path):
    """`torchrun --nproc_per_node 2 -m saliency synth --n 400`: 400 distinct pairs and one
    manifest, equal to one process's; a run whose rank 1 is killed, rerun, completes it."""
    G = build_generator("planted")
    sel = tmp_path / "selection.json"
    sel.write_text(json.dumps({"generator": "planted", "vector": G.planted_direction.tolist(), "shift": 12.0}))
    args = [
        "-m",
        "saliency",
        "synth",
        "--generator",
        "planted",
        "--selection",
        str(sel),
        "--num-pairs",
        "400",
        "--shard-size",
        "50",
        "--device",
        "cpu",
        "--threads",
        "1",
    ]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    subprocess.run(torchrun + args + ["--out", str(tmp_path / "ranks")], env=env, check=True, capture_output=True)
    subprocess.run([sys.executable] + args + ["--out", str(tmp_path / "one")], env=env, check=True, capture_output=True)
    ranks, one = tree_bytes(tmp_path / "ranks"), tree_bytes(tmp_path / "one")
    assert len(one) == 800 and ranks == one
    assert len({p[0].read_bytes() for p in list_pairs(tmp_path / "ranks")}) == 400
    assert json.loads((tmp_path / "ranks" / "manifest.json").read_text()) == json.loads((tmp_path / "one" / "manifest.json").read_text())
    # rank 1 alone, killed after its first shard; then the same torchrun again finishes the set
    rank1 = {**env, "RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}
    proc = subprocess.Popen(
        [sys.executable] + args + ["--out", str(tmp_path / "killed")], env=rank1, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not (tmp_path / "killed" / "shards" / "00001" / "done.json").exists():
        assert time.time() < deadline and proc.poll() is None, "rank 1 finished or stalled before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not json.loads((tmp_path / "killed" / "manifest.json").read_text())["complete"]
    subprocess.run(torchrun + args + ["--out", str(tmp_path / "killed")], env=env, check=True, capture_output=True)
    assert tree_bytes(tmp_path / "killed") == one


def test_latents_from_a_npy_file_of_embeddings(tmp_path):
    """`synth --latents-from FILE.npy`: the rows of an [N, d] array (the 2021 paper's released
    BigBiGAN embeddings are such a file) are the latents, plus --latent-noise; with noise 0 every
    pair's latent is one of the rows. A file of the wrong width is one line."""
    import json

    import numpy as np
    import torch

    from saliency.cli import main
    from saliency.generators import build_generator

    G = build_generator("planted")
    rows = np.random.default_rng(0).standard_normal((5, G.latent_dim)).astype(np.float32)
    np.save(tmp_path / "z.npy", rows)
    selection = tmp_path / "selection.json"
    selection.write_text(json.dumps({"generator": "planted", "vector": G.planted_direction.tolist(), "shift": 8.0, "rule": "intensity"}))
    base = ["synth", "--generator", "planted", "--selection", str(selection), "--n", "6", "--batch-size", "6", "--min-peaks", "0"]
    argv = base + ["--latents-from", str(tmp_path / "z.npy"), "--latent-noise", "0", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    from saliency.synthesis import SynthConfig, candidate_batch

    cfg = SynthConfig(generator="planted", direction=G.planted_direction.tolist(), shift=8.0, n=6, batch_size=6, latent_photos="z.npy")
    seen = {}
    original = G.forward

    def spy(z, classes=None):
        seen.setdefault("z", z[:6].clone())
        return original(z, classes)

    G.forward = spy
    candidate_batch(G, cfg, 0, 0, torch.zeros(G.latent_dim), torch.from_numpy(rows))
    assert all(any(torch.allclose(z, torch.from_numpy(r)) for r in rows) for z in seen["z"])
    np.save(tmp_path / "wide.npy", np.zeros((3, G.latent_dim + 1), np.float32))
    assert main(base + ["--latents-from", str(tmp_path / "wide.npy"), "--out", str(tmp_path / "bad")]) == 2
