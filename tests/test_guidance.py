"""difflab.guidance: classifier-free guidance, its two conventions, negative prompts,
guidance on text embeddings, the tilted target it aims at, and bad input."""

import math

import pytest
import torch

from difflab import registry
from difflab.conversions import eps_from_v
from difflab.data import label_probs, make_spiral
from difflab.denoisers import ExactCondDenoiser, ExactDenoiser
from difflab.guidance import (
    cfg,
    cfg_interval,
    cfg_w,
    classifier_guidance,
    guidance_vector,
    n_classes,
    tilted_shares,
    w_from_scale,
)
from difflab.metrics import region_shares
from difflab.samplers import ddpm_sample
from difflab.utils import local_seed


def _xt(n=7):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 2, generator=g), torch.randint(0, 1000, (n,), generator=g)


# model = small_denoiser(3): a float32 network of 3 classes (seed 0); formula checks use
# small_denoiser(3, seed=1), with tolerances of float32 rounding of a few operations

# --- the formula and its two conventions ----------------------------------------------------


@pytest.mark.parametrize("scale", [0.0, 0.5, 1.5, 3.0, 7.5, -1.0])
def test_cfg_matches_the_formula(small_denoiser, scale):
    model, (x, t) = small_denoiser(3, seed=1), _xt()
    c = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    with torch.no_grad():
        f_c, f_u = model(x, t, c), model(x, t, None)
        expected = f_u + scale * (f_c - f_u)
        assert torch.allclose(cfg(model, c, scale)(x, t), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("scale", [0.0, 0.5, 1.5, 3.0, 7.5, -1.0])
def test_cfg_w_matches_eq_6_of_ho_salimans_2022(small_denoiser, scale):
    # Ho and Salimans (2022, eq. 6): (1 + w) f(c) - w f(), w = s - 1
    model, (x, t) = small_denoiser(3, seed=1), _xt()
    c = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    w = scale - 1
    with torch.no_grad():
        f_c, f_u = model(x, t, c), model(x, t, None)
        assert torch.allclose(
            cfg_w(model, c, w)(x, t), (1 + w) * f_c - w * f_u, atol=1e-6, rtol=0
        )


@pytest.mark.parametrize("scale", [0.0, 1.0, 2.0, 3.0, 5.0, 7.5])
def test_the_two_conventions_agree(small_denoiser, scale):
    model, (x, t) = small_denoiser(3, seed=1), _xt()
    with torch.no_grad():
        a = cfg(model, 2, scale)(x, t)
        b = cfg_w(model, 2, w_from_scale(scale))(x, t)
    assert torch.allclose(a, b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("scale", [0.0, 1.0, 2.0, 3.0, 5.0, 7.5])
def test_the_two_conventions_agree_with_a_negative(small_denoiser, scale):
    model, (x, t) = small_denoiser(3, seed=1), _xt()
    with torch.no_grad():
        n_a = cfg(model, 2, scale, negative=0)(x, t)
        n_b = cfg_w(model, 2, scale - 1, negative=0)(x, t)
    assert torch.allclose(n_a, n_b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("scale", [0.0, 1.0, 2.0, 3.0, 5.0, 7.5])
def test_w_from_scale_is_the_scale_minus_one(scale):
    assert w_from_scale(scale) == scale - 1


@pytest.mark.parametrize("scale", [0.0, 1.0, 3.0, 7.5])
def test_imagen_convention_is_the_guidance_scale(small_denoiser, scale):
    """Imagen (Saharia et al. 2022, Sec. 2.2) writes w f(c) + (1 - w) f() with w = 1 meaning no
    guidance: their w is diffusers' s (and Ho and Salimans' w + 1). A test of the code: cfg, cfg_w and
    Imagen's formula are one formula rearranged."""
    model, (x, t) = small_denoiser(3, seed=1), _xt()
    with torch.no_grad():
        f_c, f_u = model(x, t, torch.full((7,), 1)), model(x, t, None)
        imagen = scale * f_c + (1 - scale) * f_u
        assert torch.allclose(cfg(model, 1, scale)(x, t), imagen, atol=1e-5, rtol=0)
        assert torch.allclose(
            cfg_w(model, 1, scale - 1)(x, t), imagen, atol=1e-5, rtol=0
        )


def test_scale_one_is_plain_conditioning_exactly(small_denoiser):
    model, (x, t) = small_denoiser(3), _xt()
    with torch.no_grad():
        assert torch.equal(cfg(model, 1, 1.0)(x, t), model(x, t, torch.full((7,), 1)))
        assert torch.equal(cfg_w(model, 1, 0.0)(x, t), model(x, t, torch.full((7,), 1)))


def test_scale_zero_is_the_unconditional_model(small_denoiser):
    model, (x, t) = small_denoiser(3), _xt()
    with torch.no_grad():
        assert torch.equal(cfg(model, 1, 0.0)(x, t), model(x, t, None))


# --- negative prompts ------------------------------------------------------------------------


def test_negative_takes_the_place_of_the_unconditional(small_denoiser):
    model, (x, t) = small_denoiser(3, seed=1), _xt()
    with torch.no_grad():
        f_a, f_b = model(x, t, torch.full((7,), 0)), model(x, t, torch.full((7,), 1))
        assert torch.allclose(
            cfg(model, 0, 3.0, negative=1)(x, t),
            f_b + 3 * (f_a - f_b),
            atol=1e-6,
            rtol=0,
        )


def test_a_negative_alone_guides_away_from_it(small_denoiser):
    # "anything but B": no positive condition, B negative
    model, (x, t) = small_denoiser(3, seed=1), _xt()
    with torch.no_grad():
        f_b, f_u = model(x, t, torch.full((7,), 1)), model(x, t, None)
        assert torch.allclose(
            cfg(model, None, 2.0, negative=1)(x, t),
            f_b + 2 * (f_u - f_b),
            atol=1e-6,
            rtol=0,
        )


def test_the_guidance_vector_is_conditional_minus_unconditional(small_denoiser):
    model, (x, t) = small_denoiser(3, seed=1), _xt()
    with torch.no_grad():
        f_a, f_u = model(x, t, torch.full((7,), 0)), model(x, t, None)
        assert torch.allclose(
            guidance_vector(model, x, t, 0), f_a - f_u, atol=1e-6, rtol=0
        )


# --- any model, any sampler -------------------------------------------------------------


def test_guided_model_plugs_into_the_sampler(small_denoiser, abar):
    g = torch.Generator().manual_seed(0)
    x = ddpm_sample(
        cfg(small_denoiser(3), 2, 3.0),
        torch.randn(50, 2, generator=g),
        list(range(990, -1, -10)),
        abar,
        generator=g,
    )
    assert x.shape == (50, 2) and torch.isfinite(x).all()


def test_any_model_with_the_signature_can_be_guided(abar):
    # the exact denoiser ignores the condition, so every scale gives the same prediction
    data = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    exact = ExactDenoiser(data, abar)
    x, t = _xt()
    assert torch.allclose(cfg(exact, 0, 4.0)(x, t), exact(x, t), atol=1e-5)


@pytest.mark.parametrize(
    "guide, error, match",
    [
        pytest.param(
            lambda m: cfg(m, 3, 2.0),
            ValueError,
            r"cond contains class id 3, which does not exist: allowed are 0\.\.2",
            id="cond",
        ),
        pytest.param(
            lambda m: cfg(m, 0, 2.0, negative=-1),
            ValueError,
            r"negative contains class id -1.*allowed are 0\.\.2",
            id="negative",
        ),
        pytest.param(
            lambda m: cfg(m, torch.tensor([0, 5]), 2.0),
            ValueError,
            r"cond contains class id 5",
            id="cond-tensor",
        ),
        pytest.param(
            lambda m: cfg(m, torch.tensor([0, 1, 2]), 2.0)(*_xt()),
            ValueError,
            r"cond has 3 class ids but x has 7 points",
            id="cond-count",
        ),
        *(
            pytest.param(
                lambda m, bad=bad: cfg(m, 0, bad),
                ValueError,
                r"scale=.* must be a finite real number",
                id=f"scale-{bad}",
            )
            for bad in (math.nan, math.inf, -math.inf)
        ),
        *(
            pytest.param(
                lambda m, bad=bad: cfg_w(m, 0, bad),
                ValueError,
                r"w=.* must be a finite real number",
                id=f"w-{bad}",
            )
            for bad in (math.nan, math.inf, -math.inf)
        ),
        pytest.param(
            lambda m: cfg(m, 0, "3"),
            ValueError,
            r"scale='3' must be a finite",
            id="scale-str",
        ),
        pytest.param(
            lambda m: cfg(m, torch.tensor([0.0, 1.0]), 2.0),
            ValueError,
            r"cond has dtype torch.float32",
            id="cond-dtype",
        ),
        pytest.param(
            lambda m: cfg(m, "red", 2.0),
            TypeError,
            r"cond='red' must be None",
            id="cond-str",
        ),
    ],
)
def test_cfg_names_a_bad_argument(small_denoiser, guide, error, match):
    with pytest.raises(error, match=match):
        guide(small_denoiser(3))


# --- guidance on text embeddings (Chapter 8) ---------------------------------------------


def _embedding_case():
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(2, 3, 32, 32, generator=g), torch.tensor([300, 300])
    return x, t, torch.randn(512, generator=g), torch.randn(2, 512, generator=g)


def test_cfg_at_scale_one_on_an_embedding_is_plain_conditioning(small_t2i):
    x, t, c, _ = _embedding_case()
    with torch.no_grad():
        assert torch.equal(
            cfg(small_t2i, c, 1.0)(x, t), small_t2i(x, t, c.expand(2, 512))
        )


def test_cfg_on_embeddings_matches_the_formula(small_t2i):
    x, t, c, n = _embedding_case()
    with torch.no_grad():
        got = cfg(small_t2i, c, 3.0, negative=n)(x, t)
        f_c, f_n = small_t2i(x, t, c.expand(2, 512)), small_t2i(x, t, n)
        assert torch.allclose(got, f_n + 3.0 * (f_c - f_n), atol=1e-5)


def test_cfg_on_embeddings_agrees_in_v_space(small_t2i):
    # combining v instead of epsilon gives the same epsilon (eps is affine in v, same coefficients)
    x, t, c, n = _embedding_case()
    with torch.no_grad():
        got = cfg(small_t2i, c, 3.0, negative=n)(x, t)
        abar = small_t2i.alphas_cumprod[t][:, None, None, None]
        v_c, v_n = small_t2i.net(x, t, c.expand(2, 512)), small_t2i.net(x, t, n)
        assert torch.allclose(
            eps_from_v(x, v_n + 3.0 * (v_c - v_n), abar), got, atol=1e-4
        )


@pytest.mark.parametrize(
    "guide, match",
    [
        pytest.param(
            lambda m, x, t: cfg(m, torch.randn(7), 2.0),
            r"cond of shape \(7,\) must be None or a finite float tensor \(512,\)",
            id="cond",
        ),
        pytest.param(
            lambda m, x, t: cfg(
                m, torch.randn(512), 2.0, negative=torch.tensor([1, 2])
            ),
            r"negative .* must be None or a finite float tensor",
            id="negative",
        ),
        pytest.param(
            lambda m, x, t: cfg(m, torch.randn(3, 512), 2.0)(x, t),
            r"cond has 3 embeddings but x has 2 points",
            id="cond-count",
        ),
    ],
)
def test_cfg_names_a_bad_embedding(small_t2i, guide, match):
    x, t, _, _ = _embedding_case()
    with pytest.raises(ValueError, match=match):
        guide(small_t2i, x, t)


# --- the target guidance aims at ------------------------------------------------------------

TABLE, PRIOR = label_probs(3, 0.2), torch.full((3,), 1 / 3, dtype=torch.float64)


def _normalised(w):
    return (w / w.sum()).tolist()


@pytest.mark.parametrize(
    "cond, scale, negative, expected",
    [
        # s = 1: plain conditioning aims at p(x | c), i.e. p(part | c) = p(c | part) p(part) / p(c)
        pytest.param(0, 1.0, None, [0.8, 0.1, 0.1], id="s=1"),
        pytest.param(0, 0.0, None, [1 / 3] * 3, id="s=0"),  # p(x)
        # s = 3: p(x) p(c | x)^3
        pytest.param(
            0, 3.0, None, _normalised(torch.tensor([0.8**3, 0.1**3, 0.1**3])), id="s=3"
        ),
        # "anything but B" at s = 2: p(x) p(B | x)^(-1)
        pytest.param(
            None,
            2.0,
            1,
            _normalised(torch.tensor([1 / 0.1, 1 / 0.8, 1 / 0.1])),
            id="anything-but-B",
        ),
        # a negative equal to the positive cancels: p(x | c) at every scale
        pytest.param(2, 5.0, 2, [0.1, 0.1, 0.8], id="negative-is-positive"),
    ],
)
def test_tilted_shares_by_hand(cond, scale, negative, expected):
    got = tilted_shares(TABLE, PRIOR, cond, scale, negative=negative)
    assert got.tolist() == pytest.approx(expected)


@pytest.mark.parametrize(
    "prior, cond, negative, match",
    [
        pytest.param(
            torch.ones(3),
            None,
            1,
            "not a distribution for these label probabilities",
            id="label_probs",
        ),
        pytest.param(
            torch.ones(2),
            0,
            None,
            r"must be \(n_parts, K\) and prior \(2,\)",
            id="prior",
        ),
        pytest.param(torch.ones(3), 3, None, "cond contains class id 3", id="cond"),
    ],
)
def test_tilted_shares_names_a_bad_argument(prior, cond, negative, match):
    table = torch.eye(
        3, dtype=torch.float64
    )  # disjoint classes: p(B | x) = 0 outside B
    with pytest.raises(ValueError, match=match):
        tilted_shares(table, prior, cond, 2.0, negative=negative)


@pytest.mark.parametrize("s, c", [(1.0, 0), (2.0, 1)])
def test_exact_conditional_denoiser_guided_reaches_its_tilted_target(s, c, abar):
    """CFG on the exact conditional denoiser of labelled points: the share in the part follows
    p(x) p(c | x)^s, computed from the training points' own label table."""
    data = make_spiral(600, seed=4, label_noise=0.3)
    table = torch.stack(
        [
            torch.bincount(data.label[data.part == k], minlength=3).double()
            / (data.part == k).sum()
            for k in range(3)
        ]
    )
    prior = torch.bincount(data.part, minlength=3).double() / 600
    den = ExactCondDenoiser(data.x, data.label, abar)
    g = torch.Generator().manual_seed(0)
    x = ddpm_sample(
        cfg(den, c, s),
        torch.randn(800, 2, generator=g),
        list(range(980, -1, -20)),
        abar,
        generator=g,
    )
    measured, target = (
        region_shares(x)[c].item(),
        tilted_shares(table, prior, c, s)[c].item(),
    )
    assert abs(measured - target) < 0.05, (
        f"s = {s}: {measured:.3f} in part {c}, target {target:.3f}"
    )


# --- guidance on an interval of steps (Kynkäänniemi et al. 2024) -----------------------------

T_INTERVAL = torch.tensor([0, 50, 99, 100, 101, 300, 599, 600, 601, 800, 999, 400])
INSIDE = (T_INTERVAL >= 100) & (T_INTERVAL <= 600)


def test_cfg_interval_guides_inside_the_interval(small_denoiser):
    model, (x, _) = small_denoiser(3, seed=1), _xt(12)
    with torch.no_grad():
        got = cfg_interval(model, 2, 4.0, 100, 600)(x, T_INTERVAL)
        guided = cfg(model, 2, 4.0)(x, T_INTERVAL)
    assert torch.allclose(got[INSIDE], guided[INSIDE], atol=1e-6, rtol=0)


def test_cfg_interval_only_conditions_outside_the_interval(small_denoiser):
    model, (x, _) = small_denoiser(3, seed=1), _xt(12)
    with torch.no_grad():
        got = cfg_interval(model, 2, 4.0, 100, 600)(x, T_INTERVAL)
        plain = cfg(model, 2, 1.0)(x, T_INTERVAL)
    assert torch.equal(got[~INSIDE], plain[~INSIDE])


def test_cfg_interval_names_a_reversed_interval(small_denoiser):
    with pytest.raises(ValueError, match="t_lo=600 is above t_hi=100"):
        cfg_interval(small_denoiser(3, seed=1), 2, 4.0, 600, 100)


# --- classifier guidance (Dhariwal and Nichol 2021) ---------------------------------------


def _labelled(abar):
    data = make_spiral(300, seed=2, label_noise=0.2)
    den = ExactCondDenoiser(data.x, data.label, abar)
    x = torch.randn(
        40, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    return den, x


@pytest.mark.parametrize("t_val", [100, 300, 600])
def test_classifier_guidance_with_the_exact_classifier_is_cfg_on_the_exact_denoiser(
    t_val, abar
):
    """Ho and Salimans (2022, Sec. 3.2): f(c) - f() = -sqrt(1 - abar) grad log p_t(c | x_t) for the exact
    denoisers, so classifier guidance with the exact classifier p_t(c | x_t) (autograd) is CFG."""
    den, x = _labelled(abar)
    t = torch.full((40,), t_val)
    cg = classifier_guidance(den, den.class_posterior, 2, 3.0, abar)(x, t)
    assert torch.allclose(cg, cfg(den, 2, 3.0)(x, t), atol=1e-9, rtol=0), t_val


def test_classifier_guidance_with_the_wrong_classifier_guides_elsewhere(abar):
    # the test above can fail
    den, x = _labelled(abar)
    t = torch.full((40,), 600)
    wrong = classifier_guidance(
        den, lambda x, t: den.class_posterior(x, t).flip(1), 2, 3.0, abar
    )(x, t)
    assert (wrong - cfg(den, 2, 3.0)(x, t)).abs().max() > 1e-3


def test_classifier_guidance_names_a_batch_of_classes(abar):
    den, _ = _labelled(abar)
    with pytest.raises(TypeError, match="cond.*one class id"):
        classifier_guidance(den, den.class_posterior, torch.tensor([0, 1]), 3.0, abar)


# --- n_classes --------------------------------------------------------------------------------


def test_n_classes_reads_the_models_config(abar):
    data = make_spiral(60, seed=0, n_parts=3)
    assert n_classes(ExactCondDenoiser(data.x, data.part, abar)) == 3


def test_n_classes_of_a_plain_callable_is_zero():
    assert n_classes(lambda x, t, c: x) == 0


# --- guidance on token states (the latent-space chapter) ----------------------------------


def _latent_model(name):
    """The recipe's latent denoiser, untrained, as users get it, with its zero-initialised
    layers drawn at random so that the condition shows in its output."""
    model = registry.FAMILIES["latent"].ready(
        registry.build(name), registry.recipe_of(name)
    )
    with local_seed(0), torch.no_grad():
        for p in model.parameters():
            if not p.any():
                p.normal_(0, 0.2)
    return model.eval()


@pytest.fixture(scope="module")
def latent_model():
    return _latent_model("latent")


def _token_case():
    g = torch.Generator().manual_seed(0)
    z, t = torch.randn(2, 4, 8, 8, generator=g), torch.tensor([300, 700])
    return z, t, torch.randn(2, 5, 64, generator=g), torch.randn(2, 3, 64, generator=g)


def test_cfg_on_token_states_gives_the_latent_shape(latent_model):
    z, t, c, _ = _token_case()
    with torch.no_grad():
        assert cfg(latent_model, c, 3.0)(z, t).shape == (2, 4, 8, 8)


def test_cfg_on_token_states_matches_the_formula(latent_model):
    # a negative prompt's token states may be of another length than the prompt's
    z, t, c, n = _token_case()
    with torch.no_grad():
        got = cfg(latent_model, c, 3.0, negative=n)(z, t)
        f_c, f_n = latent_model(z, t, c), latent_model(z, t, n)
    assert (f_c - f_n).abs().max() > 1e-3
    assert torch.allclose(got, f_n + 3.0 * (f_c - f_n), atol=1e-5)


def test_cfg_on_token_states_at_scale_zero_is_the_unconditional_model(latent_model):
    z, t, c, _ = _token_case()
    with torch.no_grad():
        assert torch.allclose(
            cfg(latent_model, c, 0.0)(z, t), latent_model(z, t), atol=1e-6
        )


@pytest.mark.parametrize(
    "guide, match",
    [
        pytest.param(
            lambda m: cfg(m, torch.randn(2, 64), 2.0),
            r"cond of shape \(2, 64\) must be None or a finite float tensor "
            r"\(N, L, 64\) of token states",
            id="cond-pooled",
        ),
        pytest.param(
            lambda m: cfg(m, torch.randn(2, 5, 64), 2.0, negative=torch.randn(2, 64)),
            r"negative of shape \(2, 64\) .*token states",
            id="negative-pooled",
        ),
        pytest.param(
            lambda m: cfg(m, torch.randn(2, 5, 32), 2.0),
            r"cond of shape \(2, 5, 32\) .*token states",
            id="cond-width",
        ),
        pytest.param(
            lambda m: cfg(m, torch.full((2, 5, 64), float("nan")), 2.0),
            r"cond of shape \(2, 5, 64\) must be None or a finite float tensor",
            id="cond-nan",
        ),
    ],
)
def test_cfg_names_a_bad_token_state(latent_model, guide, match):
    with pytest.raises(ValueError, match=match):
        guide(latent_model)


def test_cfg_on_the_pooled_control_refuses_token_states():
    model = registry.FAMILIES["latent"].ready(
        registry.build("latent_pooled"), registry.recipe_of("latent_pooled")
    )
    with pytest.raises(ValueError, match=r"\(512,\) or \(N, 512\) of embeddings"):
        cfg(model, torch.randn(2, 5, 512), 2.0)
