"""Classifier-free guidance: the formula, its two conventions, negative prompts and bad input."""

import math

import pytest
import torch

from difflab.denoisers import ExactDenoiser
from difflab.guidance import cfg, cfg_w, guidance_vector, w_from_scale
from difflab.models.mlp import MLPConfig, MLPDenoiser
from difflab.samplers import ddpm_sample
from difflab.schedules import alphas_cumprod, linear_betas

ABAR = alphas_cumprod(linear_betas())


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MLPDenoiser(MLPConfig(hidden=16, depth=1, n_classes=3)).eval()


def _xt(n=7):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 2, generator=g), torch.randint(0, 1000, (n,), generator=g)


@pytest.fixture(scope="module")
def model64():  # float32 network; the tolerance below is float32 rounding of a few operations
    torch.manual_seed(1)
    return MLPDenoiser(MLPConfig(hidden=16, depth=1, n_classes=3)).eval()


@pytest.mark.parametrize("scale", [0.0, 0.5, 1.5, 3.0, 7.5, -1.0])
def test_cfg_matches_the_formula(model64, scale):
    x, t = _xt()
    c = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    with torch.no_grad():
        f_c, f_u = model64(x, t, c), model64(x, t, None)
        expected = f_u + scale * (f_c - f_u)
        assert torch.allclose(cfg(model64, c, scale)(x, t), expected, atol=1e-6, rtol=0)
        # Ho and Salimans (2022, eq. 6): (1 + w) f(c) - w f(), w = s - 1
        w = scale - 1
        assert torch.allclose(
            cfg_w(model64, c, w)(x, t), (1 + w) * f_c - w * f_u, atol=1e-6, rtol=0
        )


@pytest.mark.parametrize("scale", [0.0, 1.0, 2.0, 3.0, 5.0, 7.5])
def test_the_two_conventions_agree(model64, scale):
    x, t = _xt()
    with torch.no_grad():
        a = cfg(model64, 2, scale)(x, t)
        b = cfg_w(model64, 2, w_from_scale(scale))(x, t)
        n_a = cfg(model64, 2, scale, negative=0)(x, t)
        n_b = cfg_w(model64, 2, scale - 1, negative=0)(x, t)
    assert torch.allclose(a, b, atol=1e-6, rtol=0)
    assert torch.allclose(n_a, n_b, atol=1e-6, rtol=0)
    assert w_from_scale(scale) == scale - 1


def test_scale_one_is_plain_conditioning_exactly(model):
    x, t = _xt()
    with torch.no_grad():
        assert torch.equal(cfg(model, 1, 1.0)(x, t), model(x, t, torch.full((7,), 1)))
        assert torch.equal(cfg_w(model, 1, 0.0)(x, t), model(x, t, torch.full((7,), 1)))
        assert torch.equal(
            cfg(model, 1, 0.0)(x, t), model(x, t, None)
        )  # s = 0: unconditional


def test_negative_takes_the_place_of_the_unconditional(model64):
    x, t = _xt()
    with torch.no_grad():
        f_a, f_b = (
            model64(x, t, torch.full((7,), 0)),
            model64(x, t, torch.full((7,), 1)),
        )
        assert torch.allclose(
            cfg(model64, 0, 3.0, negative=1)(x, t),
            f_b + 3 * (f_a - f_b),
            atol=1e-6,
            rtol=0,
        )
        # "anything but B": no positive condition, B negative
        f_u = model64(x, t, None)
        assert torch.allclose(
            cfg(model64, None, 2.0, negative=1)(x, t),
            f_b + 2 * (f_u - f_b),
            atol=1e-6,
            rtol=0,
        )
        assert torch.allclose(
            guidance_vector(model64, x, t, 0), f_a - f_u, atol=1e-6, rtol=0
        )


def test_guided_model_plugs_into_the_sampler(model):
    g = torch.Generator().manual_seed(0)
    x = ddpm_sample(
        cfg(model, 2, 3.0),
        torch.randn(50, 2, generator=g),
        list(range(990, -1, -10)),
        ABAR,
        generator=g,
    )
    assert x.shape == (50, 2) and torch.isfinite(x).all()


def test_any_model_with_the_signature_can_be_guided():
    # the exact denoiser ignores the condition, so every scale gives the same prediction
    data = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    exact = ExactDenoiser(data, ABAR)
    x, t = _xt()
    assert torch.allclose(cfg(exact, 0, 4.0)(x, t), exact(x, t), atol=1e-5)


def test_bad_input_gives_clear_errors(model):
    x, t = _xt()
    with pytest.raises(
        ValueError,
        match=r"cond contains class id 3, which does not exist: allowed are 0\.\.2",
    ):
        cfg(model, 3, 2.0)
    with pytest.raises(
        ValueError, match=r"negative contains class id -1.*allowed are 0\.\.2"
    ):
        cfg(model, 0, 2.0, negative=-1)
    with pytest.raises(ValueError, match=r"cond contains class id 5"):
        cfg(model, torch.tensor([0, 5]), 2.0)
    with pytest.raises(ValueError, match=r"cond has 3 class ids but x has 7 points"):
        cfg(model, torch.tensor([0, 1, 2]), 2.0)(x, t)
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match=r"scale=.* must be a finite real number"):
            cfg(model, 0, bad)
        with pytest.raises(ValueError, match=r"w=.* must be a finite real number"):
            cfg_w(model, 0, bad)
    with pytest.raises(ValueError, match=r"scale='3' must be a finite"):
        cfg(model, 0, "3")
    with pytest.raises(ValueError, match=r"cond has dtype torch.float32"):
        cfg(model, torch.tensor([0.0, 1.0]), 2.0)
    with pytest.raises(TypeError, match=r"cond='red' must be None"):
        cfg(model, "red", 2.0)


def test_tilted_shares_by_hand():
    from difflab.data import label_probs
    from difflab.guidance import tilted_shares

    table, prior = label_probs(3, 0.2), torch.full((3,), 1 / 3, dtype=torch.float64)
    # s = 1: plain conditioning aims at p(x | c), i.e. p(part | c) = p(c | part) p(part) / p(c)
    assert tilted_shares(table, prior, 0, 1.0).tolist() == pytest.approx(
        [0.8, 0.1, 0.1]
    )
    assert tilted_shares(table, prior, 0, 0.0).tolist() == pytest.approx(
        [1 / 3] * 3
    )  # s = 0: p(x)
    # s = 3: p(x) p(c | x)^3
    w = torch.tensor([0.8**3, 0.1**3, 0.1**3])
    assert tilted_shares(table, prior, 0, 3.0).tolist() == pytest.approx(
        (w / w.sum()).tolist()
    )
    # "anything but B" at s = 2: p(x) p(B | x)^(-1)
    w = torch.tensor([1 / 0.1, 1 / 0.8, 1 / 0.1])
    assert tilted_shares(table, prior, None, 2.0, negative=1).tolist() == pytest.approx(
        (w / w.sum()).tolist()
    )
    # a negative equal to the positive cancels: p(x | c) at every scale
    assert tilted_shares(table, prior, 2, 5.0, negative=2).tolist() == pytest.approx(
        [0.1, 0.1, 0.8]
    )


def test_tilted_shares_bad_input():
    from difflab.guidance import tilted_shares

    table = torch.eye(
        3, dtype=torch.float64
    )  # disjoint classes: p(B | x) = 0 outside B
    with pytest.raises(ValueError, match="not a distribution"):
        tilted_shares(table, torch.ones(3), None, 2.0, negative=1)
    with pytest.raises(ValueError, match=r"must be \(n_parts, K\)"):
        tilted_shares(table, torch.ones(2), 0, 2.0)
    with pytest.raises(ValueError, match="cond contains class id 3"):
        tilted_shares(table, torch.ones(3), 3, 2.0)


def test_exact_conditional_denoiser_guided_reaches_its_tilted_target():
    """CFG on the exact conditional denoiser of labelled points: the share in the part follows
    p(x) p(c | x)^s, computed from the training points' own label table."""
    from difflab.data import make_spiral
    from difflab.denoisers import ExactCondDenoiser
    from difflab.guidance import tilted_shares
    from difflab.metrics import region_shares

    data = make_spiral(600, seed=4, label_noise=0.3)
    table = torch.stack(
        [
            torch.bincount(data.label[data.part == k], minlength=3).double()
            / (data.part == k).sum()
            for k in range(3)
        ]
    )
    prior = torch.bincount(data.part, minlength=3).double() / 600
    den = ExactCondDenoiser(data.x, data.label, ABAR)
    for s, c in [(1.0, 0), (2.0, 1)]:
        g = torch.Generator().manual_seed(0)
        x = ddpm_sample(
            cfg(den, c, s),
            torch.randn(800, 2, generator=g),
            list(range(980, -1, -20)),
            ABAR,
            generator=g,
        )
        measured, target = (
            region_shares(x)[c].item(),
            tilted_shares(table, prior, c, s)[c].item(),
        )
        assert abs(measured - target) < 0.05, (
            f"s = {s}: {measured:.3f} in part {c}, target {target:.3f}"
        )


@pytest.mark.parametrize("scale", [0.0, 1.0, 3.0, 7.5])
def test_imagen_convention_is_the_guidance_scale(model64, scale):
    """Imagen (Saharia et al. 2022, Sec. 2.2) writes w f(c) + (1 - w) f() with w = 1 meaning no
    guidance: their w is diffusers' s (and Ho and Salimans' w + 1). A test of the code: cfg, cfg_w and
    Imagen's formula are one formula rearranged."""
    x, t = _xt()
    with torch.no_grad():
        f_c, f_u = model64(x, t, torch.full((7,), 1)), model64(x, t, None)
        imagen = scale * f_c + (1 - scale) * f_u
        assert torch.allclose(cfg(model64, 1, scale)(x, t), imagen, atol=1e-5, rtol=0)
        assert torch.allclose(
            cfg_w(model64, 1, scale - 1)(x, t), imagen, atol=1e-5, rtol=0
        )


def test_cfg_interval_guides_only_inside_the_interval(model64):
    from difflab.guidance import cfg_interval

    x, t = _xt(12)
    t = torch.tensor([0, 50, 99, 100, 101, 300, 599, 600, 601, 800, 999, 400])
    inside = (t >= 100) & (t <= 600)
    with torch.no_grad():
        got = cfg_interval(model64, 2, 4.0, 100, 600)(x, t)
        guided, plain = cfg(model64, 2, 4.0)(x, t), cfg(model64, 2, 1.0)(x, t)
    assert torch.allclose(got[inside], guided[inside], atol=1e-6, rtol=0)
    assert torch.equal(got[~inside], plain[~inside])
    with pytest.raises(ValueError, match="t_lo=600 is above t_hi=100"):
        cfg_interval(model64, 2, 4.0, 600, 100)


def test_classifier_guidance_with_the_exact_classifier_is_cfg_on_the_exact_denoiser():
    """Ho and Salimans (2022, Sec. 3.2): f(c) - f() = -sqrt(1 - abar) grad log p_t(c | x_t) for the exact
    denoisers, so classifier guidance with the exact classifier p_t(c | x_t) (autograd) is CFG."""
    from difflab.data import make_spiral
    from difflab.denoisers import ExactCondDenoiser
    from difflab.guidance import classifier_guidance

    data = make_spiral(300, seed=2, label_noise=0.2)
    den = ExactCondDenoiser(data.x, data.label, ABAR)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 2, generator=g, dtype=torch.float64)
    for t_val in (100, 300, 600):
        t = torch.full((40,), t_val)
        cg = classifier_guidance(den, den.class_posterior, 2, 3.0, ABAR)(x, t)
        assert torch.allclose(cg, cfg(den, 2, 3.0)(x, t), atol=1e-9, rtol=0), t_val
    # a classifier of the wrong class guides elsewhere: the test can fail
    wrong = classifier_guidance(
        den, lambda x, t: den.class_posterior(x, t).flip(1), 2, 3.0, ABAR
    )(x, t)
    assert (wrong - cfg(den, 2, 3.0)(x, t)).abs().max() > 1e-3
    with pytest.raises(TypeError, match="one class id"):
        classifier_guidance(den, den.class_posterior, torch.tensor([0, 1]), 3.0, ABAR)


def test_n_classes_reads_the_models_config():
    from difflab.data import make_spiral
    from difflab.denoisers import ExactCondDenoiser
    from difflab.guidance import n_classes

    data = make_spiral(60, seed=0, n_parts=3)
    assert n_classes(ExactCondDenoiser(data.x, data.part, ABAR)) == 3


def test_n_classes_of_a_plain_callable_is_zero():
    from difflab.guidance import n_classes

    assert n_classes(lambda x, t, c: x) == 0
