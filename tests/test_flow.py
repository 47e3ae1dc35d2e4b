import importlib

"""Flow matching (the chapter after DDIM): the straight path, its loss, the exact velocity, the
Euler and Heun samplers against diffusers and by hand, SD3's shift, straightness, reflow, the
conversion table, and DDIM as one Euler step of the flow ODE."""

import itertools
import json

import pytest
import torch

from difflab import registry
from difflab._checks import check_sigmas
from difflab.conversions import (
    PREDICTIONS,
    abar_from_flow_sigma,
    convert,
    eps_from,
    flow_eps,
    flow_sigma_from_abar,
    flow_sigma_from_ve_sigma,
    flow_to_vp,
    flow_x0,
    from_eps,
    predictions,
    ve_sigma_from_flow_sigma,
    vp_levels,
    vp_to_flow,
)
from difflab.data.spiral import make_spiral
from difflab.denoisers import ExactVelocity
from difflab.flow import (
    flow_loss,
    interpolate,
    reflow_loss,
    reflow_pairs,
    sample_sigma,
    velocity_target,
)
from difflab.flow_samplers import (
    FLOW_SAMPLERS,
    ddim_path,
    euler_sample,
    euler_step,
    flow_heun_sample,
    sample_path,
)
from difflab.metrics import path_straightness, w2_ratio
from difflab.models.mlp import MLPConfig, MLPDenoiser, VelocityMLP
from difflab.samplers import ddim_sample, ddim_step
from difflab.saving import load_model, read_recipe, save_model
from difflab.schedules import (
    alphas_cumprod,
    flow_sigmas,
    linear_betas,
    shift_sigmas,
    spaced_timesteps,
    ve_sigma_from_abar,
)
from difflab.training import TrainConfig, train
from difflab.utils import local_seed

F64 = torch.float64
ABAR = alphas_cumprod(linear_betas())


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _toy_velocity(x, sigma):
    # any smooth function of (x, sigma) serves for an equivalence test
    return torch.tanh(0.7 * x + sigma[:, None]) - 0.3 * x


def _toy_eps(x, t):
    return torch.tanh(x * 0.7 + t[:, None].to(x.dtype) / 1000)


def _small_velocity_model(seed=0):
    with local_seed(seed):
        return VelocityMLP(MLPConfig(hidden=32, depth=1, time_dim=16))


# --- the straight path and its loss --------------------------------------------------


def test_interpolation_runs_straight_from_data_to_noise_with_velocity_eps_minus_x0():
    x0, eps = _randn(50, 2, seed=0), _randn(50, 2, seed=1)
    assert torch.equal(interpolate(x0, eps, 0.0), x0)
    assert torch.equal(interpolate(x0, eps, 1.0), eps)
    sigma = torch.rand(50, generator=torch.Generator().manual_seed(2), dtype=F64)
    x = interpolate(x0, eps, sigma)
    assert torch.allclose(
        x, (1 - sigma[:, None]) * x0 + sigma[:, None] * eps, atol=1e-15
    )
    h = 1e-6  # d x_sigma / d sigma by central differences is the target, at every sigma
    fd = (interpolate(x0, eps, sigma + h) - interpolate(x0, eps, sigma - h)) / (2 * h)
    assert torch.allclose(fd, velocity_target(x0, eps), atol=1e-8)


def test_sigma_sampling_uniform_and_logit_normal():
    g = torch.Generator().manual_seed(0)
    u = sample_sigma(20_000, g)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean().item() - 0.5) < 0.01
    ln = sample_sigma(20_000, g, "logit_normal", loc=0.5, scale=1.0)
    logit = (ln / (1 - ln)).log()  # N(loc, scale^2) (Esser et al. 2024, Sec. 3.1)
    assert abs(logit.mean().item() - 0.5) < 0.03 and abs(logit.std().item() - 1) < 0.03
    again = sample_sigma(5, torch.Generator().manual_seed(3), "logit_normal")
    assert torch.equal(
        again, sample_sigma(5, torch.Generator().manual_seed(3), "logit_normal")
    )


def test_flow_loss_is_finite_and_training_lowers_it():
    data = make_spiral(2000, seed=0).x
    model = _small_velocity_model()
    config = TrainConfig(steps=80, batch_size=128, lr=3e-3, warmup_steps=10)
    history = train(model, flow_loss, data, config, progress=False)
    assert all(torch.isfinite(torch.tensor(history)))
    first, last = sum(history[:10]) / 10, sum(history[-10:]) / 10
    assert last < 0.97 * first, (first, last)
    g = torch.Generator().manual_seed(0)
    loss = flow_loss(model, data[:256], g, sigma_sampling="logit_normal", loc=0.5)
    assert torch.isfinite(loss) and loss.requires_grad


def test_flow_loss_is_the_regression_written_out():
    model = _small_velocity_model()
    x0 = _randn(64, 2, seed=4).float()
    got = flow_loss(model, x0, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)  # flow_loss draws eps, then sigma
    eps = torch.randn(x0.shape, generator=g)
    sigma = torch.rand(64, generator=g)
    x = (1 - sigma[:, None]) * x0 + sigma[:, None] * eps
    expected = ((model(x, sigma) - (eps - x0)) ** 2).mean()
    assert torch.allclose(got, expected, atol=1e-6)
    again = reflow_loss(model, (x0, eps), torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(
        7
    )  # reflow_loss draws sigma only: the pairs are fixed
    sigma = torch.rand(64, generator=g)
    x = (1 - sigma[:, None]) * x0 + sigma[:, None] * eps
    assert torch.allclose(
        again, ((model(x, sigma) - (eps - x0)) ** 2).mean(), atol=1e-6
    )


# --- the exact velocity of a finite data set -----------------------------------------


def test_exact_velocity_matches_brute_force_bayes():
    data = _randn(40, 2, seed=0)
    x = _randn(25, 2, seed=1) * 1.5
    sigma = torch.linspace(0.05, 1.0, 25, dtype=F64)
    v = ExactVelocity(data, chunk=200)(x, sigma)  # chunk: 5 rows at a time
    for j in range(
        25
    ):  # w_i = N(x; (1 - s) x0_i, s^2 I) / sum_k N(x; (1 - s) x0_k, s^2 I)
        s = sigma[j]
        log_dens = -((x[j] - (1 - s) * data) ** 2).sum(1) / (2 * s**2)
        dens = torch.exp(log_dens - log_dens.max())  # the common factor cancels
        x0_hat = (dens[:, None] * data).sum(0) / dens.sum()
        eps_hat = (x[j] - (1 - s) * x0_hat) / s
        assert torch.allclose(v[j], eps_hat - x0_hat, atol=1e-10), j
    at_one = ExactVelocity(data)(x, torch.ones(25, dtype=F64))  # sigma = 1: x - mean
    assert torch.allclose(at_one, x - data.mean(0), atol=1e-12)


def test_exact_velocity_memorises_its_training_points():
    data = _randn(30, 2, seed=0)
    x = euler_sample(ExactVelocity(data), _randn(200, 2, seed=1), flow_sigmas(1000))
    nearest = torch.cdist(x, data).min(1).values
    assert nearest.max() < 1e-3, nearest.max()  # the points are ~0.3 apart


# --- samplers ----------------------------------------------------------------------


@pytest.mark.parametrize("n_steps,shift", [(10, 1.0), (50, 1.0), (10, 3.0), (25, 0.5)])
def test_euler_matches_diffusers_flow_match_euler_in_float64(n_steps, shift):
    from diffusers import FlowMatchEulerDiscreteScheduler

    ours = flow_sigmas(n_steps, shift=shift)
    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    sched.set_timesteps(sigmas=flow_sigmas(n_steps)[:-1].tolist())  # it shifts them
    assert torch.allclose(
        sched.sigmas.double(), ours, atol=1e-6, rtol=0
    )  # float32 inside
    sched.sigmas, sched.timesteps = ours.clone(), ours[:-1] * 1000  # ours, in float64
    x = _randn(16, 2, seed=0)
    path = sample_path(euler_sample, _toy_velocity, x, ours)
    for i, t in enumerate(sched.timesteps):
        v = _toy_velocity(path[i], ours[i].repeat(16))
        # step() casts the sample to float32 first: a rounding of ~|x| 6e-8 per step,
        # so each of our steps is compared from the same start
        ref = sched.step(model_output=v, timestep=t, sample=path[i]).prev_sample
        err = (path[i + 1] - ref).abs().max().item()
        assert err < 1e-6, f"step {i}: max |ours - diffusers| = {err:.2e}"


def test_heun_is_karras_algorithm_1_by_hand():
    sigmas = torch.tensor([1.0, 0.6, 0.25, 0.0], dtype=F64)
    x = _randn(8, 2, seed=0)
    got = flow_heun_sample(_toy_velocity, x, sigmas)
    y = x
    for s, n in zip(sigmas[:-1], sigmas[1:]):
        d = _toy_velocity(y, s.repeat(8))
        y_e = y + (n - s) * d
        if n > 0:
            d2 = _toy_velocity(y_e, n.repeat(8))
            y_e = y + (n - s) * 0.5 * (d + d2)
        y = y_e
    assert torch.allclose(got, y, atol=1e-12, rtol=0)
    assert torch.equal(euler_step(x, x, 0.5, 0.25), x - 0.25 * x)


def test_heun_is_second_order():
    x = _randn(100, 2, seed=0)
    ref = flow_heun_sample(_toy_velocity, x, flow_sigmas(2000))
    err = lambda s, n: (s(_toy_velocity, x, flow_sigmas(n)) - ref).abs().max().item()
    e_euler, e_heun = err(euler_sample, 20), err(flow_heun_sample, 10)  # 20 vs 19 NFE
    assert e_heun < e_euler / 3, (e_euler, e_heun)
    # halving the step: the error falls ~4x for a second-order method, ~2x for Euler
    assert err(flow_heun_sample, 20) < err(flow_heun_sample, 10) / 3.5
    assert err(euler_sample, 40) > err(euler_sample, 20) / 2.5


def test_samplers_count_calls_call_back_and_draw_nothing():
    calls = []
    model = lambda x, s: calls.append(s[0].item()) or _toy_velocity(x, s)
    for name, n, nfe in [("euler", 8, 8), ("heun", 8, 15)]:
        calls.clear()
        seen = []
        g = torch.Generator().manual_seed(5)
        state = g.get_state()
        FLOW_SAMPLERS[name](
            model,
            _randn(4, 2),
            flow_sigmas(n),
            generator=g,
            callback=lambda i, s, x, x0_hat: seen.append((i, s)),
        )
        assert len(calls) == nfe and torch.equal(g.get_state(), state), name
        assert seen == [(i, s) for i, s in enumerate(flow_sigmas(n)[:-1].tolist())]
    assert calls[0] == 1.0 and min(calls) > 0  # never evaluated at sigma = 0


def test_flow_sigmas_and_shift():
    s = flow_sigmas(4)
    assert torch.equal(s, torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0], dtype=F64))
    shifted = flow_sigmas(4, shift=3.0)
    assert shifted[0] == 1 and shifted[-1] == 0
    assert torch.allclose(shifted, 3 * s / (1 + 2 * s), atol=1e-15)
    assert (shifted[1:-1] > s[1:-1]).all()  # shift > 1: more of the steps at high noise
    assert torch.allclose(shift_sigmas(shift_sigmas(s, 3.0), 1 / 3), s, atol=1e-15)
    # a constant offset in lambda = log((1 - sigma) / sigma), half the log-SNR
    lam = lambda x: ((1 - x) / x).log()
    assert torch.allclose(
        lam(shifted[1:-1]) - lam(s[1:-1]), -torch.tensor(3.0, dtype=F64).log()
    )


def test_path_straightness():
    line = torch.linspace(0, 1, 11, dtype=F64)[:, None, None] * torch.tensor(
        [[3.0, 4.0]]
    )
    assert torch.allclose(path_straightness(line), torch.ones(1, dtype=F64), atol=1e-12)
    bent = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]], [[1.0, 1.0]]], dtype=F64)
    assert torch.allclose(path_straightness(bent), torch.tensor([2**0.5], dtype=F64))
    # a velocity that does not depend on x or sigma gives straight paths; a rotating one bends
    x = _randn(20, 2)
    const = sample_path(
        euler_sample, lambda x, s: torch.ones_like(x), x, flow_sigmas(30)
    )
    assert torch.allclose(path_straightness(const), torch.ones(20, dtype=F64))
    rot = lambda x, s: torch.stack([-x[:, 1], x[:, 0]], 1) + x
    curved = sample_path(euler_sample, rot, x, flow_sigmas(30))
    assert curved.shape == (31, 20, 2) and (path_straightness(curved) > 1.01).all()


def test_reflow_pairs_follow_the_model_ode():
    g = torch.Generator().manual_seed(0)
    x0, eps = reflow_pairs(_toy_velocity, 10, flow_sigmas(20), g, batch_size=4)
    assert x0.shape == eps.shape == (10, 2)
    assert torch.equal(
        eps, torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    )
    assert torch.allclose(x0, euler_sample(_toy_velocity, eps, flow_sigmas(20)))


# --- the velocity network and its checkpoint ----------------------------------------


def test_velocity_mlp_is_the_denoiser_network_fed_sigma_times_1000(tmp_path):
    model = _small_velocity_model()
    with local_seed(0):
        eps_net = MLPDenoiser(MLPConfig(hidden=32, depth=1, time_dim=16))
    x, sigma = torch.randn(6, 2), torch.rand(6)
    assert torch.equal(
        model(x, sigma), eps_net(x, sigma * 1000)
    )  # same weights, same init
    assert torch.equal(model(x, 0.5), model(x, torch.full((6,), 0.5)))
    path = tmp_path / "v.safetensors"
    save_model(model, path, {"r": 1})
    again = load_model(path, {"r": 1})
    assert isinstance(again, VelocityMLP) and torch.equal(
        again(x, sigma), model(x, sigma)
    )
    a, b = (
        registry.build("spiral_flow"),
        registry.build("spiral_ddpm"),
    )  # the recipes' networks start alike
    assert all(torch.equal(v, b.state_dict()[k[4:]]) for k, v in a.state_dict().items())


@pytest.mark.parametrize(
    "name", ["spiral_flow", "spiral_flow_logit_normal", "spiral_flow_reflow"]
)
def test_shipped_flow_files_record_their_recipes(name):
    path = registry.CHECKPOINTS / f"{name}.safetensors"
    recipe = registry.MODELS[name]
    assert read_recipe(path) == recipe and path.stat().st_size < 2_000_000
    assert isinstance(registry.load(name), VelocityMLP)


def test_shipped_flow_samples_the_spiral_and_reflow_helps_one_step():
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    flow, reflow = registry.load("spiral_flow"), registry.load("spiral_flow_reflow")
    r50 = w2_ratio(euler_sample(flow, x, flow_sigmas(50)), 0)
    assert r50 < 2.0, f"shipped flow model, 50 Euler steps: r = {r50:.2f} on one seed"
    r1, r1_reflow = (
        w2_ratio(euler_sample(m, x, flow_sigmas(1)), 0) for m in (flow, reflow)
    )
    assert r1_reflow < r1 / 2, (r1, r1_reflow)


def test_stored_flow_results_reproduce_a_slice():
    """Chapter 4b prints the file scripts/measure_flow.py wrote: re-measure one cheap entry
    (the shipped flow model, Euler at 2 steps, r of the first seed at the stored N), and
    check that the training-seed block starts from the shipped models' own numbers."""
    res = json.loads((registry.CHECKPOINTS / "spiral_flow_results.json").read_text())
    seed = res["seeds"][0]
    x = torch.randn(res["n"], 2, generator=torch.Generator().manual_seed(seed))
    flow = registry.load("spiral_flow")
    r = w2_ratio(euler_sample(flow, x, flow_sigmas(2)), seed)
    assert r == pytest.approx(res["flow_euler"]["2"][1][0], rel=1e-3)
    runs = res["training_seeds"]
    assert runs["seeds"][0] == 0 and runs["uniform"]["0"]["euler"] == res["flow_euler"]
    assert runs["logit_normal"]["0"]["euler"] == res["logit_normal_euler"]
    assert all(len(runs[m]) == len(runs["seeds"]) for m in ("uniform", "logit_normal"))


# --- the conversion table ----------------------------------------------------------


def _vp_case(n=64, seed=0):
    x0, eps = _randn(n, 2, seed=seed), _randn(n, 2, seed=seed + 1)
    abar = ABAR[
        torch.randint(0, 1000, (n,), generator=torch.Generator().manual_seed(seed))
    ]
    x_t = abar.sqrt()[:, None] * x0 + (1 - abar).sqrt()[:, None] * eps
    return x0, eps, abar, x_t


def test_conversions_agree_with_direct_computation_and_round_trip():
    x0, eps, abar, x_t = _vp_case()
    truth = predictions(x0, eps, abar)
    b = (1 - abar).sqrt()[:, None]
    assert torch.allclose(truth["v"], abar.sqrt()[:, None] * eps - b * x0, atol=1e-15)
    assert torch.allclose(truth["score"], -eps / b) and torch.equal(
        truth["velocity"], eps - x0
    )
    for kind in PREDICTIONS:
        assert (eps_from(truth[kind], kind, x_t, abar) - eps).abs().max() < 1e-6, kind
        assert (from_eps(eps, kind, x_t, abar) - truth[kind]).abs().max() < 1e-6, kind
    for src, dst in itertools.product(PREDICTIONS, PREDICTIONS):
        got = convert(truth[src], src, dst, x_t, abar)
        assert (got - truth[dst]).abs().max() < 1e-6, (src, dst)


def test_guidance_combines_every_prediction_alike():
    """A combination whose weights add up to 1, as guidance's f_u + s (f_c - f_u), commutes
    with every conversion at a fixed x_t, each being affine in the prediction: guiding the
    velocity is guiding epsilon (Chapter 4b, One table)."""
    _, eps_u, abar, x_t = _vp_case()
    eps_c = _randn(*eps_u.shape, seed=9)
    s = 3.0
    for kind in PREDICTIONS:
        f_u, f_c = (convert(e, "eps", kind, x_t, abar) for e in (eps_u, eps_c))
        guided = convert(f_u + s * (f_c - f_u), kind, "eps", x_t, abar)
        assert torch.allclose(guided, eps_u + s * (eps_c - eps_u), atol=1e-9), kind


def test_time_variables_and_the_change_of_variables():
    x0, eps, abar, x_t = _vp_case(seed=3)
    sigma = flow_sigma_from_abar(abar)
    assert torch.allclose(abar_from_flow_sigma(sigma), abar, atol=1e-12, rtol=0)
    z, s = vp_to_flow(x_t, abar)
    assert torch.equal(s, sigma)
    assert (z - interpolate(x0, eps, sigma)).abs().max() < 1e-6  # a point of the flow
    back, abar_back = flow_to_vp(z, sigma)
    assert (back - x_t).abs().max() < 1e-6 and (abar_back - abar).abs().max() < 1e-12
    ve = ve_sigma_from_abar(abar)  # Chapter 4's sigma
    assert torch.allclose(ve_sigma_from_flow_sigma(sigma), ve, rtol=1e-10)
    assert torch.allclose(flow_sigma_from_ve_sigma(ve), sigma, atol=1e-12)
    v = velocity_target(
        x0, eps
    )  # the velocity points to x0 and eps from the flow point
    assert (flow_x0(z, v, sigma) - x0).abs().max() < 1e-6
    assert (flow_eps(z, v, sigma) - eps).abs().max() < 1e-6


def _as_flow_model(eps_model, abar):
    """The flow velocity of an eps model, at flow levels that are timesteps of ``abar``."""
    levels = flow_sigma_from_abar(abar)

    def velocity(z, sigma):
        t = (levels[None, :] - sigma[:, None].double()).abs().argmin(1)  # (N,)
        x_t, a = flow_to_vp(z, sigma)
        return convert(eps_model(x_t, t), "eps", "velocity", x_t, abar[t])

    return velocity


def test_one_ddim_step_is_one_euler_step_of_the_flow_ode():
    x = _randn(32, 2, seed=0) * 2
    for t, prev in [(999, 899), (500, 480), (120, 0)]:
        eps = _toy_eps(x, torch.full((32,), t))
        ddim, _ = ddim_step(x, eps, ABAR[t], ABAR[prev])
        z, sigma = vp_to_flow(x, ABAR[t])
        v = convert(eps, "eps", "velocity", x, ABAR[t])  # the same network's prediction
        sigma_prev = flow_sigma_from_abar(ABAR[prev])
        euler, _ = flow_to_vp(euler_step(z, v, sigma, sigma_prev), sigma_prev)
        err = (euler - ddim).abs().max().item()
        assert err < 1e-6, f"t={t}->{prev}: max |Euler - DDIM| = {err:.2e}"
    # and so the whole DDIM sampler is Euler on the flow, at the matching sigmas
    # (vp_levels), point for point along the path (ddim_path)
    ts = spaced_timesteps(1000, 10, "trailing")
    sigmas, scale = vp_levels(ts, ABAR)
    assert (
        torch.allclose(sigmas[:-1], flow_sigma_from_abar(ABAR[ts])) and sigmas[-1] == 0
    )
    euler = sample_path(euler_sample, _as_flow_model(_toy_eps, ABAR), x / scale, sigmas)
    err = (euler - ddim_path(_toy_eps, x, ts, ABAR)).abs().max().item()
    assert err < 1e-6, f"10 steps: max |Euler path - DDIM path| = {err:.2e}"
    err = (euler[-1] - ddim_sample(_toy_eps, x, ts, ABAR)).abs().max().item()
    assert err < 1e-6, f"10 steps: max |Euler - DDIM| = {err:.2e}"


# --- clear errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "sigmas,match",
    [
        (
            [1.0, 0.5, 0.5, 0.0],
            r"strictly decreasing.*sigmas\[1\]=0.5.*sigmas\[2\]=0.5",
        ),
        ([0.0, 1.0], "strictly decreasing"),
        (
            [1.5, 0.5, 0.0],
            r"sigmas\[0\]=1.5 is out of range: allowed is 0 <= sigma <= 1",
        ),
        ([1.0, -0.1], r"sigmas\[1\]=-0.1 is out of range"),
        ([1.0, float("nan")], r"sigmas\[1\]=nan is out of range"),
        ([1.0], "n \\+ 1 >= 2 noise levels"),
        ([[1.0, 0.0]], r"sigmas has shape \(1, 2\)"),
        (torch.tensor([1, 0]), "dtype torch.int64"),
        ([999, 500, 0], r"sigmas\[0\]=999.0 is out of range"),  # DDPM timesteps
    ],
)
def test_bad_sigmas(sigmas, match):
    with pytest.raises(ValueError, match=match):
        euler_sample(_toy_velocity, torch.zeros(3, 2), sigmas)


def test_bad_arguments_name_what_is_wrong():
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"x has shape \(3,\)"):
        flow_heun_sample(_toy_velocity, torch.zeros(3), [1.0, 0.0])
    with pytest.raises(
        ValueError, match=r"model returned \(3, 3\) at sigma=1.*\(3, 2\)"
    ):
        euler_sample(lambda x, s: torch.zeros(3, 3), x, [1.0, 0.0])
    with pytest.raises(FloatingPointError, match="NaN or inf at sigma=1"):
        euler_sample(lambda x, s: x * float("nan"), x, [1.0, 0.0])
    with pytest.raises(ValueError, match="sigma_sampling='lognormal' is not known"):
        flow_loss(
            _small_velocity_model(), x, torch.Generator(), sigma_sampling="lognormal"
        )
    with pytest.raises(ValueError, match="scale=0.0 is out of range"):
        sample_sigma(4, torch.Generator(), "logit_normal", scale=0.0)
    with pytest.raises(ValueError, match="shift=0.0 is out of range"):
        flow_sigmas(10, shift=0.0)
    with pytest.raises(ValueError, match="n=0 is out of range"):
        flow_sigmas(0)
    with pytest.raises(
        ValueError, match=r"eps has shape \(3, 1\) but x0 has shape \(3, 2\)"
    ):
        interpolate(x, torch.zeros(3, 1), 0.5)
    with pytest.raises(
        ValueError, match=r"sigma has shape \(2,\); expected a number or \(3,\)"
    ):
        interpolate(x, x, torch.zeros(2))
    with pytest.raises(TypeError, match="integer steps of a DDPM sampler"):
        _small_velocity_model()(x, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"sigma has shape \(2,\); expected \(3,\)"):
        _small_velocity_model()(x, torch.zeros(2))
    with pytest.raises(ValueError, match=r"values in \(0, 1\]"):
        ExactVelocity(torch.zeros(5, 2))(x, torch.zeros(3))
    with pytest.raises(ValueError, match=r"data has shape \(5,\)"):
        ExactVelocity(torch.zeros(5))
    with pytest.raises(ValueError, match="reflow pairs need the whole path"):
        reflow_pairs(_toy_velocity, 4, [1.0, 0.5], torch.Generator())
    with pytest.raises(ValueError, match="batch must be a pair"):
        reflow_loss(_small_velocity_model(), x, torch.Generator())
    with pytest.raises(ValueError, match="kind='logits' is not known"):
        eps_from(x, "logits", x, 0.5)
    with pytest.raises(ValueError, match="dst='noise' is not known"):
        convert(x, "eps", "noise", x, 0.5)
    with pytest.raises(ValueError, match=r"abar has shape \(2,\)"):
        vp_to_flow(x, torch.full((2,), 0.5))
    assert check_sigmas([1.0, 0.5, 0.0]).dtype == F64


@pytest.mark.parametrize(
    "module, old_name",
    [
        ("flow", "heun_sample"),
        ("samplers", "ddim_sigma"),
        ("schedules", "sigma_from_abar"),
    ],
)
def test_a_quantity_has_one_name(module, old_name):
    # flow_samplers.flow_heun_sample, samplers.ddim_noise_std, schedules.ve_sigma_from_abar
    assert not hasattr(importlib.import_module(f"difflab.{module}"), old_name)


def test_flow_callback_sees_the_x0_its_velocity_points_to():
    x, seen = _randn(4, 2), []
    euler_sample(
        _toy_velocity, x, flow_sigmas(3), callback=lambda i, s, x_, x0: seen.append(x0)
    )
    v = _toy_velocity(x, torch.ones(4, dtype=F64))
    assert torch.equal(seen[0], x - v)  # x0_hat = x - sigma v at sigma = 1
