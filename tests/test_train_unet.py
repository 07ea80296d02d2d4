"""U-Net training: learning on planted pairs, kill/resume, DDP across two CPU processes, checkpoints."""

import json
import os
import subprocess
import sys

import pytest
import torch

from saliency.batches import StepBatches
from saliency.cli import main
from saliency.errors import UserError
from saliency.generators import build_generator
from saliency.pairs import find_pairs
from saliency.synthesis import SynthConfig, synthesize
from saliency.training import Interrupted, interrupt_after
from saliency.unet.data import AugmentConfig, PairDataset, split_pairs
from saliency.unet.model import load_model, new_model, save_model
from saliency.unet.train import TrainConfig, train

TINY = ["--size", "32", "--decoder-channels", "32,16,16,8,8", "--workers", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def planted_pairs(tmp_path_factory):
    G = build_generator("planted")
    out = tmp_path_factory.mktemp("synth")
    synthesize(
        G, SynthConfig(generator="planted", direction=G.planted_direction.tolist(), shift=12.0, n=400, shard_size=200), out, progress=False
    )
    return out


def tiny_config(data, **kw) -> TrainConfig:
    base = dict(
        data=str(data),
        size=32,
        decoder_channels=[32, 16, 16, 8, 8],
        steps=40,
        batch_size=16,
        lr=3e-3,
        milestones=[30],
        val_every=20,
        checkpoint_every=10,
        log_every=5,
        workers=0,
    )
    return TrainConfig.from_preset("2021", **{**base, **kw})


def sources(data, cfg):
    tr, va = split_pairs(find_pairs(data))
    val = [next(iter(torch.utils.data.DataLoader(PairDataset(va, cfg.size), batch_size=64)))]
    return PairDataset(tr, cfg.size, AugmentConfig(cfg.flip, cfg.crop, cfg.color)), val


def test_learns_planted_masks(planted_pairs, tmp_path):
    cfg = tiny_config(planted_pairs, steps=120, val_every=40, checkpoint_every=120)
    summary = train(cfg, tmp_path, torch.device("cpu"), *sources(planted_pairs, cfg), progress=False)
    assert summary["best_val_iou"] > 0.8 and summary["best_val_iou"] > summary["first_val_iou"]
    assert (tmp_path / "curves.png").is_file() and (tmp_path / "best.safetensors").is_file()


def test_resume_after_interruption_reaches_same_weights(planted_pairs, tmp_path):
    cfg = tiny_config(planted_pairs)
    train(cfg, tmp_path / "whole", torch.device("cpu"), *sources(planted_pairs, cfg), progress=False)
    with pytest.raises(Interrupted), interrupt_after(27):
        train(cfg, tmp_path / "split", torch.device("cpu"), *sources(planted_pairs, cfg), progress=False)
    summary = train(cfg, tmp_path / "split", torch.device("cpu"), *sources(planted_pairs, cfg), progress=False)
    assert summary["steps"] == 40
    a, b = load_model(tmp_path / "whole" / "last.safetensors"), load_model(tmp_path / "split" / "last.safetensors")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    rows = [json.loads(x) for x in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "images_per_s" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 40


def test_mixed_batches_with_soft_targets_train_and_resume_to_the_same_weights(planted_pairs, tmp_path):
    """train-unet --mix (a MixedDataset goes through the DataLoader like any dataset) with
    --soft-targets: a run killed at step 27 and resumed ends on the uninterrupted run's weights."""
    from saliency.unet.data import MixedDataset
    from saliency.unet.presets import training_set

    cfg = tiny_config(planted_pairs, mix=str(planted_pairs), mix_ratio=0.5, soft_targets=True)
    tr, va = split_pairs(find_pairs(planted_pairs))
    val = [next(iter(torch.utils.data.DataLoader(PairDataset(va, cfg.size), batch_size=64)))]
    assert isinstance(training_set(cfg, tr), MixedDataset)
    train(cfg, tmp_path / "whole", torch.device("cpu"), training_set(cfg, tr), val, progress=False)
    with pytest.raises(Interrupted), interrupt_after(27):
        train(cfg, tmp_path / "split", torch.device("cpu"), training_set(cfg, tr), val, progress=False)
    assert train(cfg, tmp_path / "split", torch.device("cpu"), training_set(cfg, tr), val, progress=False)["steps"] == 40
    a, b = load_model(tmp_path / "whole" / "last.safetensors"), load_model(tmp_path / "split" / "last.safetensors")
    for (k, va_), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va_, vb), k


def test_ema_student_is_the_decayed_average_of_the_live_weights_and_resumes(planted_pairs, tmp_path):
    """Known answer: the EMA run saves init folded with every live step's weights (the ema_decay
    warm-up included), where the live weights are those of a plain run with the same seed."""
    from dataclasses import replace

    from saliency.ema import ema_decay
    from saliency.files import read_safetensors

    cfg = tiny_config(planted_pairs, steps=5, val_every=5, checkpoint_every=3)
    train(replace(cfg, snapshot_every=1), tmp_path / "snaps", torch.device("cpu"), *sources(planted_pairs, cfg), progress=False)
    ema = replace(cfg, ema=0.6)
    train(ema, tmp_path / "ema", torch.device("cpu"), *sources(planted_pairs, cfg), progress=False)
    with pytest.raises(Interrupted), interrupt_after(4):
        train(ema, tmp_path / "split", torch.device("cpu"), *sources(planted_pairs, cfg), progress=False)
    train(ema, tmp_path / "split", torch.device("cpu"), *sources(planted_pairs, cfg), progress=False)

    torch.manual_seed(cfg.seed)
    init = new_model(cfg.encoder, None, cfg.size, tuple(cfg.decoder_channels)).net
    params = {k for k, _ in init.named_parameters()}
    expected = {k: v.clone().double() for k, v in init.state_dict().items()}
    for step in range(cfg.steps):
        live = read_safetensors(tmp_path / "snaps" / "snapshots" / f"step-{step + 1:06d}.safetensors")[0]
        for k in expected:
            expected[k] = expected[k].lerp(live[k].double(), 1 - ema_decay(step, 0.6)) if k in params else live[k].double()
    got, meta = read_safetensors(tmp_path / "ema" / "last.safetensors")
    assert json.loads(meta["saliency_model"])["ema"] == 0.6
    final_live = read_safetensors(tmp_path / "snaps" / "last.safetensors")[0]
    moved = max((got[k] - final_live[k]).abs().max().item() for k in params)
    assert moved > 1e-3, "the EMA model is the live one"
    for k, v in expected.items():
        torch.testing.assert_close(got[k].double(), v, rtol=1e-5, atol=1e-6, msg=k)
    resumed = read_safetensors(tmp_path / "split" / "last.safetensors")[0]
    assert all(torch.equal(resumed[k], got[k]) for k in got)


def test_batches_are_a_function_of_step():
    a = StepBatches(50, 8, 0, 20, seed=3)
    b = StepBatches(50, 8, 13, 20, seed=3)
    assert list(a)[13:] == list(b)
    rank0, rank1 = StepBatches(50, 8, 0, 5, 3, rank=0, world=2), StepBatches(50, 8, 0, 5, 3, rank=1, world=2)
    for s in range(5):
        assert sorted(rank0.batch(s) + rank1.batch(s)) == sorted(a.batch(s))


def test_checkpoint_records_everything_and_round_trips(tmp_path):
    model = new_model("resnet18", None, 96, (32, 16, 16, 8, 8), trained_on="x")
    save_model(tmp_path / "m.safetensors", model, step=5)
    again = load_model(tmp_path / "m.safetensors")
    assert again.meta["input_size"] == 96 and again.meta["encoder"] == "resnet18" and again.meta["step"] == 5
    assert again.meta["mean"] == [0.485, 0.456, 0.406]
    x = torch.rand(2, 3, 64, 64)
    model.eval()
    assert torch.equal(model(x), again(x))
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserError, match="bad.safetensors"):
        load_model(tmp_path / "bad.safetensors")


def test_bad_training_data_is_reported(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "images" / "b.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(UserError, match="have no mask"):
        find_pairs(tmp_path)
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), np.zeros((8, 8), np.uint8))
    cv2.imwrite(str(tmp_path / "masks" / "b.png"), np.zeros((9, 8), np.uint8))
    ds = PairDataset(find_pairs(tmp_path), 8)
    with pytest.raises(UserError, match="b.png is 8x9 but image"):
        ds[1]
    (tmp_path / "images" / "a.png").write_bytes(b"broken")
    with pytest.raises(UserError, match="cannot read image .*a.png"):
        ds[0]
    with pytest.raises(UserError, match="neither"):
        find_pairs(tmp_path / "images")


def test_cli_on_the_fly(tmp_path, capsys):
    G = build_generator("planted")
    sel = tmp_path / "selection.json"
    from saliency.filters import FilterConfig

    sel.write_text(
        json.dumps(
            {
                "generator": "planted",
                "vector": G.planted_direction.tolist(),
                "shift": 12.0,
                "rule": "intensity",
                "threshold": None,
                "polarity": "light",
                "filters": FilterConfig().as_dict(),
            }
        )
    )
    # flags that act on a folder of pairs are refused, not silently ignored
    assert (
        main(
            [
                "train-unet",
                "--generator",
                "planted",
                "--on-the-fly",
                "--selection",
                str(sel),
                "--close-up",
                "0.25",
                "--mix",
                str(tmp_path),
                "--out",
                str(tmp_path / "no"),
            ]
        )
        == 2
    )
    assert "--mix, --close-up take(s) a folder of pairs as --data, not --on-the-fly" in capsys.readouterr().err
    rc = main(
        [
            "train-unet",
            "--generator",
            "planted",
            "--on-the-fly",
            "--selection",
            str(sel),
            "--out",
            str(tmp_path / "run"),
            "--steps",
            "10",
            "--batch-size",
            "8",
            "--val-every",
            "5",
            *TINY,
        ]
    )
    assert rc == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 10


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_what_one_process_does_with_both_halves(planted_pairs, tmp_path):
    """torchrun with 2 processes: both ranks end on the same weights, and those are the weights of
    one process that, each step, averages the gradients of the two ranks' half-batches (what DDP's
    all-reduce computes; batch norm normalises each half by its own statistics, as each rank does).
    Parameters are compared, not batch-norm running statistics (DDP keeps rank 0's)."""
    flags = ["--generator", "planted", "--data", str(planted_pairs), "--out", str(tmp_path), "--steps", "12", "--batch-size", "8"]
    flags += ["--val-every", "6", "--checkpoint-every", "6", *TINY]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "saliency", "train-unet", *flags]
    proc = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["world_size"] == 2
    sums = summary["rank_weight_checksums"]
    assert len(sums) == 2 and sums[0] == sums[1]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank computed: Adam turns last-bit differences of near-zero gradients into whole steps
    try:
        one, initial = one_process_reference(flags, planted_pairs)
    finally:
        torch.set_num_threads(threads)
    ddp = dict(load_model(tmp_path / "last.safetensors").net.named_parameters())
    assert ddp.keys() == one.keys()
    worst = max(float((ddp[k] - one[k]).detach().abs().max()) for k in one)
    moved = max(float((one[k] - p).detach().abs().max()) for k, p in initial.items())
    assert worst < 1e-4 < moved, (worst, moved)


def one_process_reference(flags: list[str], data) -> tuple[dict, dict]:
    """(final, initial) parameters of one process stepping on both ranks' halves of each batch."""
    from types import SimpleNamespace

    from saliency.cli import parse_args
    from saliency.commands.train_unet import training_config
    from saliency.unet.presets import training_set
    from saliency.unet.train import Optimisation, batch_source, weighted_bce

    cpu = torch.device("cpu")
    cfg = training_config(parse_args(["train-unet", *flags]), cpu, str(data), False)
    run = Optimisation.build(cfg, cpu, None)
    initial = {k: p.detach().clone() for k, p in run.model.net.named_parameters()}
    source = training_set(cfg, split_pairs(find_pairs(data))[0])
    halves = [batch_source(source, cfg, 0, SimpleNamespace(rank=r, world=2), cpu) for r in (0, 1)]
    for step in range(cfg.steps):
        run.opt.zero_grad()
        for half in halves:
            x, y, w = half(step)
            (weighted_bce(run.model(x), y, w) / 2).backward()
        run.opt.step()
        run.sched.step()
    return dict(run.model.net.named_parameters()), initial


def test_consistency_against_the_mean_teacher_known_answers_and_resume(planted_pairs, tmp_path):
    """The consistency term: nothing where the teacher is unsure (0.5), the plain BCE where it is
    certain; the perturbed view is a function of (seed, step) that keeps every pixel in place; a
    run with it killed at step 4 and resumed ends on the uninterrupted run's weights; it needs --ema."""
    from dataclasses import replace

    import torch.nn.functional as F

    from saliency.unet.train import consistency_loss, strong_view

    logits = torch.tensor([[[[2.0, -1.0]]]])
    assert consistency_loss(logits, torch.full_like(logits, 0.5)).item() == 0.0
    certain = torch.tensor([[[[1.0, 0.0]]]])
    torch.testing.assert_close(consistency_loss(logits, certain), F.binary_cross_entropy_with_logits(logits, certain))
    x = torch.zeros(2, 3, 16, 16)
    x[:, :, 4:12, 4:12] = 1.0
    a, b = strong_view(x, 0, 7), strong_view(x, 0, 7)
    assert torch.equal(a, b) and not torch.equal(a, strong_view(x, 0, 8)) and a.shape == x.shape
    assert (a[:, :, 6:10, 6:10].mean() - a[:, :, :2, :2].mean()) > 0.3  # the square stays where it was

    cfg = replace(tiny_config(planted_pairs, steps=6, val_every=6, checkpoint_every=2), ema=0.9, consistency=1.0)
    with pytest.raises(UserError, match="--ema"):
        train(replace(cfg, ema=0.0), tmp_path / "no-ema", torch.device("cpu"), *sources(planted_pairs, cfg), progress=False)
    train(cfg, tmp_path / "whole", torch.device("cpu"), *sources(planted_pairs, cfg), progress=False)
    with pytest.raises(Interrupted), interrupt_after(4):
        train(cfg, tmp_path / "split", torch.device("cpu"), *sources(planted_pairs, cfg), progress=False)
    train(cfg, tmp_path / "split", torch.device("cpu"), *sources(planted_pairs, cfg), progress=False)
    a, b = load_model(tmp_path / "whole" / "last.safetensors"), load_model(tmp_path / "split" / "last.safetensors")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
