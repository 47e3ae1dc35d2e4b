"""difflab.flow_samplers: Euler and Heun on velocity models (Chapter 4b), against diffusers'
FlowMatchEulerDiscreteScheduler and Karras et al. 2022's Algorithm 1 by hand, and DDIM as
Euler on the flow ODE."""

import pytest
import torch
from conftest import F64, randn64

from difflab.conversions import (
    convert,
    flow_sigma_from_abar,
    flow_to_vp,
    vp_levels,
    vp_to_flow,
)
from difflab.flow_samplers import (
    FLOW_SAMPLERS,
    ddim_path,
    euler_sample,
    euler_step,
    flow_heun_sample,
    sample_path,
)
from difflab.samplers import ddim_sample, ddim_step
from difflab.schedules import flow_sigmas, spaced_timesteps


def _as_flow_model(eps_model, abar):
    """The flow velocity of an eps model, at flow levels that are timesteps of ``abar``."""
    levels = flow_sigma_from_abar(abar)

    def velocity(z, sigma):
        t = (levels[None, :] - sigma[:, None].double()).abs().argmin(1)  # (N,)
        x_t, _ = flow_to_vp(z, sigma)
        return convert(eps_model(x_t, t), "eps", "velocity", x_t, abar[t])

    return velocity


# --- Euler ---------------------------------------------------------------------------------


def test_euler_step_moves_along_the_velocity():
    x = randn64(8, 2, seed=0)
    assert torch.equal(euler_step(x, x, 0.5, 0.25), x - 0.25 * x)


@pytest.mark.parametrize("n_steps,shift", [(10, 1.0), (50, 1.0), (10, 3.0), (25, 0.5)])
def test_euler_matches_diffusers_flow_match_euler_in_float64(
    n_steps, shift, toy_velocity, flow_match_scheduler
):
    ours = flow_sigmas(n_steps, shift=shift)
    sched = flow_match_scheduler(shift)
    sched.set_timesteps(sigmas=flow_sigmas(n_steps)[:-1].tolist())
    sched.sigmas, sched.timesteps = ours.clone(), ours[:-1] * 1000  # ours, in float64
    x = randn64(16, 2, seed=0)
    path = sample_path(euler_sample, toy_velocity, x, ours)
    for i, t in enumerate(sched.timesteps):
        v = toy_velocity(path[i], ours[i].repeat(16))
        # step() casts the sample to float32 first: a rounding of ~|x| 6e-8 per step,
        # so each of our steps is compared from the same start
        ref = sched.step(model_output=v, timestep=t, sample=path[i]).prev_sample
        err = (path[i + 1] - ref).abs().max().item()
        assert err < 1e-6, f"step {i}: max |ours - diffusers| = {err:.2e}"


def test_flow_callback_sees_the_x0_its_velocity_points_to(toy_velocity):
    x, seen = randn64(4, 2), []
    euler_sample(
        toy_velocity, x, flow_sigmas(3), callback=lambda i, s, x_, x0: seen.append(x0)
    )
    v = toy_velocity(x, torch.ones(4, dtype=F64))
    assert torch.equal(seen[0], x - v)  # x0_hat = x - sigma v at sigma = 1


# --- Heun (Karras et al. 2022, Algorithm 1) ---------------------------------------------------


def test_heun_is_karras_algorithm_1_by_hand(toy_velocity):
    sigmas = torch.tensor([1.0, 0.6, 0.25, 0.0], dtype=F64)
    x = randn64(8, 2, seed=0)
    got = flow_heun_sample(toy_velocity, x, sigmas)
    y = x
    for s, n in zip(sigmas[:-1], sigmas[1:]):
        d = toy_velocity(y, s.repeat(8))
        y_e = y + (n - s) * d
        if n > 0:
            d2 = toy_velocity(y_e, n.repeat(8))
            y_e = y + (n - s) * 0.5 * (d + d2)
        y = y_e
    assert torch.allclose(got, y, atol=1e-12, rtol=0)


def _error(toy_velocity):
    x = randn64(100, 2, seed=0)
    ref = flow_heun_sample(toy_velocity, x, flow_sigmas(2000))
    return lambda s, n: (s(toy_velocity, x, flow_sigmas(n)) - ref).abs().max().item()


def test_heun_beats_euler_at_the_same_cost(toy_velocity):
    err = _error(toy_velocity)
    e_euler, e_heun = err(euler_sample, 20), err(flow_heun_sample, 10)  # 20 vs 19 NFE
    assert e_heun < e_euler / 3, (e_euler, e_heun)


def test_heun_is_second_order(toy_velocity):
    # halving the step: the error falls ~4x for a second-order method
    err = _error(toy_velocity)
    assert err(flow_heun_sample, 20) < err(flow_heun_sample, 10) / 3.5


def test_euler_is_first_order(toy_velocity):
    # halving the step: the error falls ~2x for Euler
    err = _error(toy_velocity)
    assert err(euler_sample, 40) > err(euler_sample, 20) / 2.5


# --- what both flow samplers share ----------------------------------------------------------

NFE = [("euler", 8, 8), ("heun", 8, 15)]


def _run(name, n, model, **options):
    g = torch.Generator().manual_seed(5)
    return FLOW_SAMPLERS[name](
        model, randn64(4, 2), flow_sigmas(n), generator=g, **options
    )


def _counting(toy_velocity, calls):
    return lambda x, s: calls.append(s[0].item()) or toy_velocity(x, s)


@pytest.mark.parametrize("name, n, nfe", NFE)
def test_flow_samplers_count_their_calls(name, n, nfe, toy_velocity):
    calls = []
    _run(name, n, _counting(toy_velocity, calls))
    assert len(calls) == nfe, name


@pytest.mark.parametrize("name, n, nfe", NFE)
def test_flow_samplers_draw_nothing_from_the_generator(name, n, nfe, toy_velocity):
    g = torch.Generator().manual_seed(5)
    state = g.get_state()
    FLOW_SAMPLERS[name](toy_velocity, randn64(4, 2), flow_sigmas(n), generator=g)
    assert torch.equal(g.get_state(), state), name


@pytest.mark.parametrize("name, n, nfe", NFE)
def test_flow_samplers_call_back_once_per_step(name, n, nfe, toy_velocity):
    seen = []
    _run(
        name,
        n,
        toy_velocity,
        callback=lambda i, s, x, x0_hat: seen.append((i, s)),
    )
    assert seen == [(i, s) for i, s in enumerate(flow_sigmas(n)[:-1].tolist())]


@pytest.mark.parametrize("name, n, nfe", NFE)
def test_flow_samplers_never_evaluate_at_sigma_0(name, n, nfe, toy_velocity):
    calls = []
    _run(name, n, _counting(toy_velocity, calls))
    assert calls[0] == 1.0 and min(calls) > 0


@pytest.mark.parametrize(
    "sigmas,match",
    [
        pytest.param(
            [1.0, 0.5, 0.5, 0.0],
            r"sigmas must be strictly decreasing.*sigmas\[1\]=0.5.*sigmas\[2\]=0.5",
            id="sigmas-repeated",
        ),
        pytest.param(
            [0.0, 1.0], "sigmas must be strictly decreasing", id="sigmas-increasing"
        ),
        pytest.param(
            [1.5, 0.5, 0.0],
            r"sigmas\[0\]=1.5 is out of range: allowed is 0 <= sigma <= 1",
            id="sigmas-above-1",
        ),
        pytest.param(
            [1.0, -0.1], r"sigmas\[1\]=-0.1 is out of range", id="sigmas-negative"
        ),
        pytest.param(
            [1.0, float("nan")], r"sigmas\[1\]=nan is out of range", id="sigmas-nan"
        ),
        pytest.param(
            [1.0], "sigmas has shape.*n \\+ 1 >= 2 noise levels", id="sigmas-one"
        ),
        pytest.param([[1.0, 0.0]], r"sigmas has shape \(1, 2\)", id="sigmas-2d"),
        pytest.param(
            torch.tensor([1, 0]),
            "sigmas has shape.*dtype torch.int64",
            id="sigmas-ints",
        ),
        pytest.param(
            [999, 500, 0],
            r"sigmas\[0\]=999.0 is out of range",
            id="sigmas-ddpm-timesteps",
        ),
    ],
)
def test_bad_sigmas(sigmas, match, toy_velocity):
    with pytest.raises(ValueError, match=match):
        euler_sample(toy_velocity, torch.zeros(3, 2), sigmas)


@pytest.mark.parametrize(
    "sampler, model, x_shape, error, match",
    [
        pytest.param(
            flow_heun_sample, None, (3,), ValueError, r"x has shape \(3,\)", id="x"
        ),
        pytest.param(
            euler_sample,
            lambda x, s: torch.zeros(3, 3),
            (3, 2),
            ValueError,
            r"model returned \(3, 3\) at sigma=1.*\(3, 2\)",
            id="model-shape",
        ),
        pytest.param(
            euler_sample,
            lambda x, s: x * float("nan"),
            (3, 2),
            FloatingPointError,
            "model returned NaN or inf at sigma=1",
            id="model-nan",
        ),
    ],
)
def test_flow_samplers_name_a_bad_argument(
    sampler, model, x_shape, error, match, toy_velocity
):
    with pytest.raises(error, match=match):
        sampler(model or toy_velocity, torch.zeros(x_shape), [1.0, 0.0])


# --- DDIM is Euler on the flow ODE ------------------------------------------------------------


def test_one_ddim_step_is_one_euler_step_of_the_flow_ode(toy_eps, abar):
    x = randn64(32, 2, seed=0) * 2
    for t, prev in [(999, 899), (500, 480), (120, 0)]:
        eps = toy_eps(x, torch.full((32,), t))
        ddim, _ = ddim_step(x, eps, abar[t], abar[prev])
        z, sigma = vp_to_flow(x, abar[t])
        v = convert(eps, "eps", "velocity", x, abar[t])  # the same network's prediction
        sigma_prev = flow_sigma_from_abar(abar[prev])
        euler, _ = flow_to_vp(euler_step(z, v, sigma, sigma_prev), sigma_prev)
        err = (euler - ddim).abs().max().item()
        assert err < 1e-6, f"t={t}->{prev}: max |Euler - DDIM| = {err:.2e}"


def _euler_path_of_ddim(toy_eps, abar, x, ts):
    # the DDIM sampler's steps as Euler on the flow, at the matching sigmas (vp_levels)
    sigmas, scale = vp_levels(ts, abar)
    return sample_path(euler_sample, _as_flow_model(toy_eps, abar), x / scale, sigmas)


def test_the_ddim_path_is_the_euler_path_of_the_flow(toy_eps, abar):
    # point for point along the path (ddim_path)
    x, ts = randn64(32, 2, seed=0) * 2, spaced_timesteps(1000, 10, "trailing")
    euler = _euler_path_of_ddim(toy_eps, abar, x, ts)
    err = (euler - ddim_path(toy_eps, x, ts, abar)).abs().max().item()
    assert err < 1e-6, f"10 steps: max |Euler path - DDIM path| = {err:.2e}"


def test_the_ddim_sampler_is_euler_on_the_flow(toy_eps, abar):
    x, ts = randn64(32, 2, seed=0) * 2, spaced_timesteps(1000, 10, "trailing")
    euler = _euler_path_of_ddim(toy_eps, abar, x, ts)
    err = (euler[-1] - ddim_sample(toy_eps, x, ts, abar)).abs().max().item()
    assert err < 1e-6, f"10 steps: max |Euler - DDIM| = {err:.2e}"
