"""difflab.conversions: every change of variables between the predictions (eps, x0, v,
score, velocity) and between the time variables (abar, the flow's sigma, Chapter 4's
sigma), checked against direct computation and as round trips."""

import itertools

import pytest
import torch
from conftest import randn64

from difflab.conversions import (
    PREDICTIONS,
    abar_from_flow_sigma,
    convert,
    eps_from,
    eps_from_v,
    flow_eps,
    flow_sigma_from_abar,
    flow_sigma_from_ve_sigma,
    flow_to_vp,
    flow_x0,
    from_eps,
    predictions,
    v_target,
    ve_sigma_from_flow_sigma,
    vp_levels,
    vp_to_flow,
)
from difflab.flow import interpolate, velocity_target
from difflab.schedules import spaced_timesteps, ve_sigma_from_abar


def test_eps_from_v_inverts_v_target():
    g = torch.Generator().manual_seed(0)
    x0, eps, abar = (
        torch.randn(4, 3, 8, 8, generator=g),
        torch.randn(4, 3, 8, 8, generator=g),
        torch.rand(4, 1, 1, 1, generator=g),
    )
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    assert torch.allclose(
        eps_from_v(x_t, v_target(x0, eps, abar), abar), eps, atol=1e-5
    )


def _vp_case(schedule, n=64, seed=0):
    x0, eps = randn64(n, 2, seed=seed), randn64(n, 2, seed=seed + 1)
    abar = schedule[
        torch.randint(0, 1000, (n,), generator=torch.Generator().manual_seed(seed))
    ]
    x_t = abar.sqrt()[:, None] * x0 + (1 - abar).sqrt()[:, None] * eps
    return x0, eps, abar, x_t


# --- the predictions ------------------------------------------------------------------------


def test_predictions_follow_their_formulas(abar):
    x0, eps, a, _ = _vp_case(abar)
    truth = predictions(x0, eps, a)
    b = (1 - a).sqrt()[:, None]
    assert torch.allclose(truth["v"], a.sqrt()[:, None] * eps - b * x0, atol=1e-15)
    assert torch.allclose(truth["score"], -eps / b) and torch.equal(
        truth["velocity"], eps - x0
    )


@pytest.mark.parametrize("kind", PREDICTIONS)
def test_eps_from_reads_eps_off_every_prediction(kind, abar):
    x0, eps, a, x_t = _vp_case(abar)
    truth = predictions(x0, eps, a)
    assert (eps_from(truth[kind], kind, x_t, a) - eps).abs().max() < 1e-6, kind


@pytest.mark.parametrize("kind", PREDICTIONS)
def test_from_eps_gives_every_prediction(kind, abar):
    x0, eps, a, x_t = _vp_case(abar)
    truth = predictions(x0, eps, a)
    assert (from_eps(eps, kind, x_t, a) - truth[kind]).abs().max() < 1e-6, kind


def test_every_prediction_converts_to_every_other(abar):
    x0, eps, a, x_t = _vp_case(abar)
    truth = predictions(x0, eps, a)
    for src, dst in itertools.product(PREDICTIONS, PREDICTIONS):
        got = convert(truth[src], src, dst, x_t, a)
        assert (got - truth[dst]).abs().max() < 1e-6, (src, dst)


def test_guidance_combines_every_prediction_alike(abar):
    """A combination whose weights add up to 1, as guidance's f_u + s (f_c - f_u), commutes
    with every conversion at a fixed x_t, each being affine in the prediction: guiding the
    velocity is guiding epsilon (Chapter 4b, One table)."""
    _, eps_u, a, x_t = _vp_case(abar)
    eps_c = randn64(*eps_u.shape, seed=9)
    s = 3.0
    for kind in PREDICTIONS:
        f_u, f_c = (convert(e, "eps", kind, x_t, a) for e in (eps_u, eps_c))
        guided = convert(f_u + s * (f_c - f_u), kind, "eps", x_t, a)
        assert torch.allclose(guided, eps_u + s * (eps_c - eps_u), atol=1e-9), kind


# --- the time variables ---------------------------------------------------------------------


def test_abar_from_flow_sigma_inverts_flow_sigma_from_abar(abar):
    _, _, a, _ = _vp_case(abar, seed=3)
    sigma = flow_sigma_from_abar(a)
    assert torch.allclose(abar_from_flow_sigma(sigma), a, atol=1e-12, rtol=0)


def test_vp_to_flow_keeps_the_noise_level(abar):
    _, _, a, x_t = _vp_case(abar, seed=3)
    _, s = vp_to_flow(x_t, a)
    assert torch.equal(s, flow_sigma_from_abar(a))


def test_vp_to_flow_lands_on_the_flows_path(abar):
    x0, eps, a, x_t = _vp_case(abar, seed=3)
    z, _ = vp_to_flow(x_t, a)
    sigma = flow_sigma_from_abar(a)
    assert (z - interpolate(x0, eps, sigma)).abs().max() < 1e-6  # a point of the flow


def test_flow_to_vp_inverts_vp_to_flow(abar):
    _, _, a, x_t = _vp_case(abar, seed=3)
    z, sigma = vp_to_flow(x_t, a)
    back, abar_back = flow_to_vp(z, sigma)
    assert (back - x_t).abs().max() < 1e-6 and (abar_back - a).abs().max() < 1e-12


def test_ve_sigma_from_flow_sigma_is_chapter_4s_sigma(abar):
    _, _, a, _ = _vp_case(abar, seed=3)
    sigma, ve = flow_sigma_from_abar(a), ve_sigma_from_abar(a)
    assert torch.allclose(ve_sigma_from_flow_sigma(sigma), ve, rtol=1e-10)


def test_flow_sigma_from_ve_sigma_inverts_it(abar):
    _, _, a, _ = _vp_case(abar, seed=3)
    sigma, ve = flow_sigma_from_abar(a), ve_sigma_from_abar(a)
    assert torch.allclose(flow_sigma_from_ve_sigma(ve), sigma, atol=1e-12)


def _flow_point(abar):
    x0, eps, a, x_t = _vp_case(abar, seed=3)
    z, sigma = vp_to_flow(x_t, a)
    # the velocity points to x0 and eps from the flow point
    return x0, eps, z, velocity_target(x0, eps), sigma


def test_flow_x0_follows_the_velocity_back_to_the_data(abar):
    x0, _, z, v, sigma = _flow_point(abar)
    assert (flow_x0(z, v, sigma) - x0).abs().max() < 1e-6


def test_flow_eps_follows_the_velocity_on_to_the_noise(abar):
    _, eps, z, v, sigma = _flow_point(abar)
    assert (flow_eps(z, v, sigma) - eps).abs().max() < 1e-6


def test_vp_levels_are_the_flow_sigmas_of_the_timesteps(abar):
    ts = spaced_timesteps(1000, 10, "trailing")
    sigmas, _ = vp_levels(ts, abar)
    assert (
        torch.allclose(sigmas[:-1], flow_sigma_from_abar(abar[ts])) and sigmas[-1] == 0
    )


@pytest.mark.parametrize(
    "call, match",
    [
        pytest.param(
            lambda x: eps_from(x, "logits", x, 0.5),
            "kind='logits' is not known",
            id="kind",
        ),
        pytest.param(
            lambda x: convert(x, "eps", "noise", x, 0.5),
            "dst='noise' is not known",
            id="dst",
        ),
        pytest.param(
            lambda x: vp_to_flow(x, torch.full((2,), 0.5)),
            r"abar has shape \(2,\)",
            id="abar",
        ),
    ],
)
def test_conversions_name_a_bad_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call(torch.zeros(3, 2))
