"""difflab.models.latent_unet: the latent denoiser of the latent-space chapter, which
attends to every word (cross-attention) or reads one pooled embedding (the control)."""

import pytest
import torch

from difflab.models.latent_unet import (
    CrossAttention,
    LatentUNet,
    LatentUNetConfig,
    WordLayers,
)
from difflab.utils import local_seed

COND_DIM = {"cross_attention": 64, "pooled": 512}


def randomised(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``module`` with every parameter that starts at zero (the output layers that make
    a new block the identity) drawn at random, so that what it computes shows."""
    with local_seed(seed), torch.no_grad():
        for p in module.parameters():
            if not p.any():
                p.normal_(0, 0.2)
    return module


def _net(conditioning="cross_attention"):
    config = LatentUNetConfig(
        channels=(16, 32),
        emb_dim=16,
        conditioning=conditioning,
        cond_dim=COND_DIM[conditioning],
        heads=2,
    )
    with local_seed(0):
        return randomised(LatentUNet(config)).eval()


def _case(conditioning="cross_attention", n=3):
    g = torch.Generator().manual_seed(0)
    z, t = torch.randn(n, 4, 8, 8, generator=g), torch.tensor([0, 500, 999][:n])
    d = COND_DIM[conditioning]
    shape = (n, 5, d) if conditioning == "cross_attention" else (n, d)
    return z, t, torch.randn(*shape, generator=g)


# --- the U-Net ------------------------------------------------------------------------------


@pytest.mark.parametrize("conditioning", ["cross_attention", "pooled"])
def test_the_output_keeps_the_latent_shape(conditioning):
    z, t, cond = _case(conditioning)
    with torch.no_grad():
        assert _net(conditioning)(z, t, cond).shape == (3, 4, 8, 8)


@pytest.mark.parametrize("conditioning", ["cross_attention", "pooled"])
def test_no_condition_is_the_zero_condition(conditioning):
    z, t, cond = _case(conditioning)
    net = _net(conditioning)
    with torch.no_grad():
        assert torch.allclose(net(z, t), net(z, t, torch.zeros_like(cond)), atol=1e-6)


@pytest.mark.parametrize("conditioning", ["cross_attention", "pooled"])
def test_the_condition_changes_the_output(conditioning):
    z, t, cond = _case(conditioning)
    net = _net(conditioning)
    with torch.no_grad():
        assert not torch.allclose(net(z, t), net(z, t, cond), atol=1e-4)


def test_token_states_of_any_length_are_read():
    z, t, _ = _case()
    with torch.no_grad():
        out = _net()(z, t, torch.randn(3, 11, 64))
    assert out.shape == (3, 4, 8, 8)


def test_padding_rows_do_not_change_the_output():
    # a caption padded to a longer neighbour's length means the same
    z, t, cond = _case()
    net = _net()
    with torch.no_grad():
        padded = net(z, t, torch.cat([cond, torch.zeros(3, 4, 64)], dim=1))
        assert torch.allclose(padded, net(z, t, cond), atol=1e-6)


def test_the_pooled_net_has_no_attention():
    assert len(_net("pooled").attend) == 0


def test_the_cross_attention_net_attends_after_every_block():
    net = _net()
    assert len(net.attend) == len(net.down) + 1 + len(net.up)


@pytest.mark.parametrize(
    "conditioning, z, cond, match",
    [
        pytest.param(
            "cross_attention",
            (3, 4, 8, 8),
            (3, 64),
            r"cond has shape \(3, 64\); expected \(N, L, 64\) token states",
            id="tokens-2d",
        ),
        pytest.param(
            "cross_attention",
            (3, 4, 8, 8),
            (3, 5, 32),
            r"cond has shape \(3, 5, 32\)",
            id="tokens-width",
        ),
        pytest.param(
            "cross_attention",
            (3, 4, 8, 8),
            (2, 5, 64),
            r"cond has shape \(2, 5, 64\).* with N = 3",
            id="tokens-count",
        ),
        pytest.param(
            "pooled",
            (3, 4, 8, 8),
            (3, 5, 512),
            r"cond has shape \(3, 5, 512\); expected \(N, 512\) embeddings",
            id="pooled-3d",
        ),
        pytest.param(
            "pooled",
            (3, 4, 8, 8),
            (3, 64),
            r"cond has shape \(3, 64\)",
            id="pooled-width",
        ),
        pytest.param(
            "cross_attention",
            (3, 3, 8, 8),
            (3, 5, 64),
            r"z has shape \(3, 3, 8, 8\); expected \(N, 4, H, W\)",
            id="z",
        ),
    ],
)
def test_a_bad_shape_is_named(conditioning, z, cond, match):
    net = _net(conditioning)
    with pytest.raises(ValueError, match=match):
        net(torch.randn(*z), torch.zeros(z[0], dtype=torch.long), torch.randn(*cond))


def test_an_unknown_conditioning_is_refused():
    with pytest.raises(ValueError, match="conditioning='bag'; use 'cross_attention'"):
        LatentUNet(LatentUNetConfig(conditioning="bag"))


# --- cross-attention ------------------------------------------------------------------------


def _attention(keep=True):
    with local_seed(1):
        a = CrossAttention(16, 64, 2)
    a.keep = keep
    return a


def _tokens_with_padding():
    """Token states (2, 6, 64): the first caption 4 tokens long, the second 6."""
    tokens = torch.randn(2, 6, 64, generator=torch.Generator().manual_seed(2))
    tokens[0, 4:] = 0
    return tokens


def _h():
    return torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(3))


def test_cross_attention_starts_as_the_identity():
    h = _h()
    with torch.no_grad():
        assert torch.equal(_attention(keep=False)(h, _tokens_with_padding()), h)


def test_cross_attention_weights_cover_the_null_token_before_the_tokens():
    a = _attention()
    with torch.no_grad():
        a(_h(), _tokens_with_padding())
    assert a.weights.shape == (2, 2, 64, 7)  # (N, heads, positions, 1 + tokens)


def test_cross_attention_keeps_no_weights_unless_asked():
    a = _attention(keep=False)
    with torch.no_grad():
        a(_h(), _tokens_with_padding())
    assert a.weights is None


def test_the_attention_weights_sum_to_one_over_the_tokens():
    a = _attention()
    with torch.no_grad():
        a(_h(), _tokens_with_padding())
    assert torch.allclose(a.weights.sum(-1), torch.ones(2, 2, 64), atol=1e-6)


def test_padding_rows_get_no_attention():
    a = _attention()
    with torch.no_grad():
        a(_h(), _tokens_with_padding())
    assert (a.weights[0, ..., 5:] == 0).all()  # tokens 4 and 5 of the first caption


def test_every_word_gets_some_attention():
    a = _attention()
    with torch.no_grad():
        a(_h(), _tokens_with_padding())
    assert (a.weights[0, ..., :5] > 0).all() and (a.weights[1] > 0).all()


def test_an_all_zero_context_attends_only_to_the_null_token():
    a = _attention()
    with torch.no_grad():
        a(_h(), torch.zeros(2, 3, 64))
    expected = torch.zeros(2, 2, 64, 4)
    expected[..., 0] = 1
    assert torch.equal(a.weights, expected)


def test_the_attention_is_of_each_position_to_the_tokens():
    # softmax(Q K^T / sqrt(d)) V written out for one head (Vaswani et al. 2017, eq. 1)
    a = randomised(_attention(keep=False))
    h, tokens = _h(), torch.randn(2, 3, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        c = torch.cat([a.null.expand(2, 1, 64), tokens], dim=1)
        q = a.q(a.norm(h).flatten(2).transpose(1, 2))  # (N, HW, 16)
        k, v = a.k(c), a.v(c)
        heads = []
        for i in range(2):
            s = slice(8 * i, 8 * i + 8)
            w = (q[..., s] @ k[..., s].transpose(1, 2) / 8**0.5).softmax(-1)
            heads.append(w @ v[..., s])
        expected = h + a.out(torch.cat(heads, -1)).transpose(1, 2).view(2, 16, 8, 8)
        assert torch.allclose(a(h, tokens), expected, atol=1e-5)


# --- the denoiser's own word layers ---------------------------------------------------------


def _word_layers():
    with local_seed(0):
        return WordLayers(LatentUNetConfig(text_layers=2)).eval()


def test_word_layers_keep_padding_rows_zero():
    tokens = torch.randn(2, 5, 64)
    tokens[0, 3:] = 0
    out = _word_layers()(tokens)
    assert torch.equal(out[0, 3:], torch.zeros(2, 64))


def test_word_layers_pass_a_caption_of_padding_only_through_as_zeros():
    out = _word_layers()(torch.zeros(3, 4, 64))
    assert torch.equal(out, torch.zeros(3, 4, 64))


def test_word_layers_mix_each_word_with_its_neighbours():
    layers = _word_layers()
    tokens = torch.randn(1, 5, 64)
    other = tokens.clone()
    other[0, 4] = torch.randn(64)  # change the last word only
    assert not torch.allclose(layers(tokens)[0, 0], layers(other)[0, 0])


def test_word_layers_ignore_what_stands_in_the_padding():
    layers = _word_layers()
    tokens = torch.randn(1, 5, 64)
    tokens[0, 3:] = 0
    longer = torch.cat([tokens, torch.zeros(1, 2, 64)], dim=1)
    assert torch.allclose(layers(tokens), layers(longer)[:, :5], atol=1e-6)


def test_a_model_without_word_layers_has_none():
    assert LatentUNet(LatentUNetConfig(text_layers=0)).words is None
