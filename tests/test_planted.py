"""The planted-truth generator's own promises, which every other test relies on."""

import torch

from saliency.generators import build_generator


def test_planted_direction_flattens_background_and_keeps_foreground():
    G = build_generator("planted")
    z = G.sample_latents(16, torch.Generator().manual_seed(1))
    d = G.planted_direction
    assert d.abs().max() < 0.7, "d* must not be aligned with an axis of z"
    interior = (-torch.nn.functional.max_pool2d(-G.true_mask(z), 3, 1, 1)).bool().expand(-1, 3, -1, -1)  # off the soft edge
    x0, x1 = G(z), G(z + 12 * d)
    assert torch.equal(G.true_mask(z), G.true_mask(z + 12 * d))
    assert torch.allclose(x0[interior], x1[interior], atol=1e-4), "foreground must not change"
    far = ~torch.nn.functional.max_pool2d(G.true_mask(z), 3, 1, 1).bool().expand(-1, 3, -1, -1)  # off the soft edge
    bg1 = x1[far]
    assert bg1.min() > 0.9, "background must turn near-uniform white"
    assert x0[far].std() > 5 * bg1.std()


def test_other_directions_move_the_foreground():
    G = build_generator("planted")
    z = G.sample_latents(8, torch.Generator().manual_seed(2))
    x_axis = G.basis[1]
    assert not torch.equal(G.true_mask(z), G.true_mask(z + 0.75 * x_axis))


def test_planted_none_has_no_flattening_direction():
    G = build_generator("planted-none")
    z = G.sample_latents(4, torch.Generator().manual_seed(3))
    assert torch.allclose(G(z), G(z + 10 * G.planted_direction), atol=1e-4)
