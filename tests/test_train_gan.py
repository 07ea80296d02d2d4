"""train-gan: a few steps on tiny images, exact resume, sample grids, and the result as a backend."""

import cv2
import numpy as np
import pytest
import torch

from saliency.errors import UserError
from saliency.gan.train import GANConfig, train_gan
from saliency.generators import build_generator
from saliency.training import Interrupted, interrupt_after

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(24):
        img = np.full((40, 48, 3), rng.integers(0, 255, 3), np.uint8)
        cv2.circle(img, (int(rng.integers(10, 38)), int(rng.integers(10, 30))), 8, [int(c) for c in rng.integers(0, 255, 3)], -1)
        cv2.imwrite(str(root / f"{i:03d}.jpg"), img)
    (root / ".DS_Store").write_bytes(b"x")
    return root


def config(photos, **kw):
    return GANConfig(
        **{
            **dict(
                images=str(photos),
                resolution=32,
                latent_dim=16,
                width=8,
                batch_size=8,
                steps=12,
                sample_every=6,
                checkpoint_every=4,
                log_every=2,
            ),
            **kw,
        }
    )


@pytest.mark.parametrize("d_norm", ["batch", "spectral"])
def test_trains_writes_samples_and_loads_as_backend(photos, tmp_path, d_norm):
    meta = train_gan(config(photos, d_norm=d_norm), tmp_path, CPU, progress=False)
    assert meta["steps"] == 12 and meta["images_count"] == 24
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.png")) == ["step_0000006.png", "step_0000012.png"]
    G = build_generator("objects", weights=str(tmp_path / "generator_ema.safetensors"))
    assert G.latent_dim == 16 and G.resolution == 32
    x = G(G.sample_latents(3, torch.Generator().manual_seed(0)))
    assert x.shape == (3, 3, 32, 32) and x.abs().max() <= 1 and torch.isfinite(x).all()


def test_resume_equals_uninterrupted(photos, tmp_path):
    train_gan(config(photos), tmp_path / "whole", CPU, progress=False)
    with pytest.raises(Interrupted), interrupt_after(7):
        train_gan(config(photos), tmp_path / "split", CPU, progress=False)
    train_gan(config(photos), tmp_path / "split", CPU, progress=False)
    assert _same_tensors(tmp_path / "whole", tmp_path / "split")
    assert (tmp_path / "whole" / "log.jsonl").read_text().count("\n") == (tmp_path / "split" / "log.jsonl").read_text().count("\n")


def test_time_limit_exports_a_usable_generator_and_continues_exactly(photos, tmp_path):
    whole = train_gan(config(photos), tmp_path / "whole", CPU, progress=False)
    meta = train_gan(config(photos), tmp_path / "lease", CPU, progress=False, time_limit=0.0)
    assert meta["steps"] == 1  # a lease that ends at once still leaves a checkpoint, samples and a loadable generator
    assert (tmp_path / "lease" / "samples" / "step_0000001.png").exists()
    assert build_generator("objects", weights=str(tmp_path / "lease" / "generator_ema.safetensors")).latent_dim == 16
    assert train_gan(config(photos), tmp_path / "lease", CPU, progress=False)["steps"] == whole["steps"] == 12
    assert _same_tensors(tmp_path / "whole", tmp_path / "lease")


def _same_tensors(a, b) -> bool:
    from safetensors.torch import load_file

    la, lb = load_file(a / "generator_ema.safetensors"), load_file(b / "generator_ema.safetensors")
    return la.keys() == lb.keys() and all(torch.equal(la[k], lb[k]) for k in la)


def test_resume_refuses_another_discriminator(photos, tmp_path):
    train_gan(config(photos, steps=4), tmp_path, CPU, progress=False)
    with pytest.raises(UserError, match="d_norm"):
        train_gan(config(photos, steps=8, d_norm="spectral"), tmp_path, CPU, progress=False)


def test_resume_of_a_run_from_before_d_norm_needs_spectral(photos, tmp_path):
    """Such runs trained a spectral-norm discriminator; the default is batch norm now."""
    from saliency.files import safe_torch_load, torch_save

    train_gan(config(photos, steps=4, d_norm="spectral"), tmp_path, CPU, progress=False)
    state = safe_torch_load(tmp_path / "train_state.pt", "GAN training state")
    del state["config"]["d_norm"]
    torch_save(state, tmp_path / "train_state.pt")
    with pytest.raises(UserError, match="d_norm: 'spectral' -> 'batch'"):
        train_gan(config(photos, steps=8), tmp_path, CPU, progress=False)
    assert train_gan(config(photos, steps=8, d_norm="spectral"), tmp_path, CPU, progress=False)["steps"] == 8


def test_bad_inputs(tmp_path):
    with pytest.raises(UserError, match="photo folder not found: .*none"):
        train_gan(GANConfig(images=str(tmp_path / "none")), tmp_path / "o", CPU, progress=False)
    with pytest.raises(UserError, match="no trained generator"):
        build_generator("objects", weights=str(tmp_path / "missing.safetensors"))


def test_standing_stats_match_the_generators_own_activations():
    """EMA weights carry another network's batch-norm statistics; standing_stats re-measures them,
    so the normalised activations of fresh samples have mean ~0 and variance ~1 again."""
    from saliency.gan.models import ObjectGenerator
    from saliency.gan.train import standing_stats

    torch.manual_seed(0)
    G, other = ObjectGenerator(16, 32, 8), ObjectGenerator(16, 32, 8)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(3)
        other.train()(torch.randn(256, 16))  # statistics of a different network
    for mine, theirs in zip(G.buffers(), other.buffers()):
        mine.copy_(theirs)

    def normalised_first_layer(net):
        with torch.no_grad():
            z = torch.randn(512, 16, generator=torch.Generator().manual_seed(5))
            x = net.eval().main[1](net.main[0](z[:, :, None, None]))
        return x.mean().item(), x.var().item()

    m0, v0 = normalised_first_layer(G)
    m1, v1 = normalised_first_layer(standing_stats(G, 16, CPU, batches=8, batch_size=64))
    assert abs(v0 - 1) > 0.5  # the borrowed statistics are wrong
    assert abs(m1) < 0.05 and abs(v1 - 1) < 0.1


def test_early_ema_follows_the_trained_generator_not_its_initialisation(photos, tmp_path):
    """With decay 0.999 and no warm-up, 12 steps would leave the EMA 99% the random init."""
    from saliency.ema import ema_decay
    from saliency.files import safe_torch_load
    from saliency.gan.models import ObjectGenerator

    assert ema_decay(0, 0.999) == 0.1 and ema_decay(10**6, 0.999) == 0.999
    train_gan(config(photos), tmp_path, CPU, progress=False)
    state = safe_torch_load(tmp_path / "train_state.pt", "GAN training state")
    torch.manual_seed(0)  # train_gan seeds the weights with cfg.seed = 0
    init = ObjectGenerator(16, 32, 8).state_dict()
    name = "main.0.weight"
    to_g = (state["G_ema"][name] - state["G"][name]).norm()
    to_init = (state["G_ema"][name] - init[name]).norm()
    assert to_g < 0.5 * to_init
