"""difflab.models.video_dit: the video chapter's diffusion transformer over spacetime patches,
latents (N, F, 4, 8, 8), a noise level and token states -> a velocity of the same shape."""

import pytest
import torch

from difflab.models.video_dit import VideoDiT, VideoDiTConfig, positions

SMALL = {"frames": 4, "stem": 16, "width": 32, "depth": 2, "heads": 2, "cond_dim": 8}


def net(**changes):
    torch.manual_seed(0)
    return VideoDiT(VideoDiTConfig(**{**SMALL, "text_layers": 1, **changes})).eval()


def words(n=2, length=3):
    return torch.randn(n, length, 8)


def test_the_velocity_has_the_latents_shape():
    z = torch.randn(2, 4, 4, 8, 8)
    assert net()(z, torch.rand(2), words()).shape == z.shape


def test_a_fresh_network_predicts_zero_its_output_layers_start_at_zero():
    z = torch.randn(2, 4, 4, 8, 8)
    assert net()(z, torch.rand(2), words()).abs().max() == 0


def _trained_like(model):
    """Every weight moved off its initial value, so that every path carries signal."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("attention", ["full", "factorised"])
def test_a_frame_sees_the_other_frames(attention):
    model = _trained_like(net(attention=attention))
    z = torch.randn(1, 4, 4, 8, 8)
    moved = z.clone()
    moved[:, 3, :, 0, 0] += 1.0  # change the last frame in one corner only
    sigma, c = torch.full((1,), 0.5), words(1)
    with torch.no_grad():
        change = (model(moved, sigma, c) - model(z, sigma, c))[:, 0].abs().max()
    assert change > 0


def test_the_output_depends_on_the_words():
    model = _trained_like(net())
    z, sigma = torch.randn(1, 4, 4, 8, 8), torch.full((1,), 0.5)
    with torch.no_grad():
        a, b = model(z, sigma, words(1)), model(z, sigma, words(1))
    assert not torch.allclose(a, b)


def test_no_condition_is_the_same_as_padding_only():
    model = _trained_like(net())
    z, sigma = torch.randn(2, 4, 4, 8, 8), torch.full((2,), 0.3)
    with torch.no_grad():
        none = model(z, sigma, None)
        padding = model(z, sigma, torch.zeros(2, 5, 8))
    assert torch.allclose(none, padding, atol=1e-6)


def test_padding_after_the_words_changes_nothing():
    model = _trained_like(net())
    z, sigma, c = torch.randn(1, 4, 4, 8, 8), torch.full((1,), 0.3), words(1)
    padded = torch.cat([c, torch.zeros(1, 4, 8)], 1)
    with torch.no_grad():
        assert torch.allclose(model(z, sigma, c), model(z, sigma, padded), atol=1e-5)


def test_positions_differ_for_every_token():
    p = positions(8, 4, 128)
    assert p.shape == (128, 128)
    assert torch.cdist(p, p).add(torch.eye(128) * 1e3).min() > 0.1


def test_latents_of_the_wrong_shape_are_refused_by_name():
    with pytest.raises(ValueError, match="z has shape"):
        net()(torch.randn(2, 3, 4, 8, 8), torch.rand(2))


def test_words_of_the_wrong_width_are_refused_by_name():
    with pytest.raises(ValueError, match="cond has shape"):
        net()(torch.randn(2, 4, 4, 8, 8), torch.rand(2), torch.randn(2, 3, 5))


def test_an_unknown_attention_is_refused_by_name():
    with pytest.raises(ValueError, match="attention"):
        net(attention="axial")
