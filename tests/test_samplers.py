"""difflab.samplers: DDPM, DDIM and its inversion, Heun and DPM-Solver++(2M) on eps models
(Chapters 3 and 4), against diffusers' schedulers in float64 and against the papers'
equations written out by hand."""

import inspect
import math

import pytest
import torch
from conftest import F64, randn64

import difflab
from difflab.samplers import (
    SAMPLERS,
    ddim_invert,
    ddim_noise_std,
    ddim_sample,
    ddim_step,
    ddpm_sample,
    ddpm_step,
    dpm_solver_2m_sample,
    dpm_solver_2m_sde_sample,
    dpm_solver_2m_weights,
    heun_sample,
    sample,
)
from difflab.schedules import linear_betas, spaced_timesteps

T = 1000


# --- DDPM (Ho et al. 2020) ---------------------------------------------------------------


@pytest.mark.parametrize("n_steps", [1000, 50])
def test_ddpm_matches_diffusers_scheduler_in_float64(n_steps, toy_eps, ddpm_scheduler):
    sched = ddpm_scheduler()
    sched.set_timesteps(n_steps)
    x0 = randn64(16, 2, seed=0)

    ref = x0.clone()
    g = torch.Generator().manual_seed(1)
    for t in sched.timesteps:
        ref = sched.step(toy_eps(ref, t.repeat(16)), t, ref, generator=g).prev_sample
    ours = ddpm_sample(
        toy_eps,
        x0.clone(),
        sched.timesteps.tolist(),
        sched.alphas_cumprod,
        generator=torch.Generator().manual_seed(1),
    )
    assert torch.allclose(ours, ref, atol=1e-6, rtol=0), (ours - ref).abs().max()


def test_one_step_matches_algorithm_2(abar):
    # Ho et al. 2020, Algorithm 2 with sigma_t^2 = beta_tilde_t
    betas = linear_betas()
    x, eps, z = (randn64(5, 2, seed=k) for k in range(3))
    t = 500
    alpha = 1 - betas[t]
    sigma2 = (1 - abar[t - 1]) / (1 - abar[t]) * betas[t]
    expected = (
        x - betas[t] / (1 - abar[t]).sqrt() * eps
    ) / alpha.sqrt() + sigma2.sqrt() * z
    got, _ = ddpm_step(x, eps, abar[t], abar[t - 1], z)
    assert torch.allclose(got, expected, atol=1e-12)


def _ddpm_without_noise(toy_eps, abar10, **options):
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    return ddpm_sample(toy_eps, x, [9, 5, 2], abar10, noise_scale=0.0, **options)


def test_ddpm_callback_sees_every_step(toy_eps, abar10):
    seen = []
    _ddpm_without_noise(toy_eps, abar10, callback=lambda i, t, xt, x0: seen.append(t))
    assert seen == [9, 5, 2]


def test_ddpm_without_noise_ignores_the_generator(toy_eps, abar10):
    a = _ddpm_without_noise(toy_eps, abar10)
    b = _ddpm_without_noise(toy_eps, abar10, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "timesteps,match",
    [
        pytest.param(
            [5, 5, 1],
            r"timesteps must be strictly decreasing.*timesteps\[0\]=5.*timesteps\[1\]=5",
            id="timesteps-repeated",
        ),
        pytest.param(
            [1, 5], "timesteps must be strictly decreasing", id="timesteps-increasing"
        ),
        pytest.param(
            [10, 3], "timesteps contains 10.*T-1 = 9", id="timesteps-above-T-1"
        ),
        pytest.param([3, -1], "timesteps contains -1", id="timesteps-negative"),
        pytest.param([], r"timesteps=\[\] must be a non-empty", id="timesteps-empty"),
        pytest.param(
            [2.5, 1.0],
            r"timesteps=\[2.5, 1.0\] must be a non-empty 1-D sequence of ints",
            id="timesteps-floats",
        ),
    ],
)
def test_bad_timesteps(timesteps, match, toy_eps, abar10):
    with pytest.raises(ValueError, match=match):
        ddpm_sample(toy_eps, torch.zeros(3, 2), timesteps, abar10)


@pytest.mark.parametrize(
    "model, x_shape, options, error, match",
    [
        pytest.param(
            lambda x, t: torch.zeros(3, 3),
            (3, 2),
            {},
            ValueError,
            r"model returned \(3, 3\) at t=9.*\(3, 2\)",
            id="model-shape",
        ),
        pytest.param(
            lambda x, t: x * float("nan"),
            (3, 2),
            {},
            FloatingPointError,
            "model returned NaN or inf at t=9",
            id="model-nan",
        ),
        pytest.param(None, (3,), {}, ValueError, r"x has shape \(3,\)", id="x"),
        pytest.param(
            None,
            (3, 2),
            {"noise_scale": -1.0},
            ValueError,
            "noise_scale=-1.0",
            id="noise_scale",
        ),
    ],
)
def test_ddpm_sample_names_a_bad_argument(
    model, x_shape, options, error, match, toy_eps, abar10
):
    with pytest.raises(error, match=match):
        ddpm_sample(model or toy_eps, torch.zeros(x_shape), [9, 0], abar10, **options)


def test_sample_draws_its_start_from_the_seed(toy_eps, abar):
    ts = spaced_timesteps(1000, 10, "leading")
    g = torch.Generator().manual_seed(3)
    ref = ddpm_sample(toy_eps, torch.randn(50, 2, generator=g), ts, abar, generator=g)
    assert torch.equal(sample(toy_eps, 3, 50, ts, abar), ref)


# --- what every sampler shares ------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_has_the_one_signature(name):
    params = inspect.signature(SAMPLERS[name]).parameters
    assert list(params)[:4] == ["model", "x", "timesteps", "alphas_cumprod"]
    assert (
        params["generator"].kind is inspect.Parameter.KEYWORD_ONLY
        and params["generator"].default is None
    )
    assert params["callback"].kind is inspect.Parameter.KEYWORD_ONLY


def _run(name, model, abar, **options):
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return SAMPLERS[name](
            model,
            x,
            spaced_timesteps(1000, 6),
            abar,
            generator=torch.Generator().manual_seed(1),
            **options,
        )


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_calls_back_once_per_step(name, small_denoiser, abar):
    seen = []
    _run(
        name,
        small_denoiser(),
        abar,
        callback=lambda i, t, x_, x0: seen.append(t),
    )
    assert seen == spaced_timesteps(1000, 6)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_repeats_with_a_seed(name, small_denoiser, abar):
    a = _run(name, small_denoiser(), abar)
    b = _run(name, small_denoiser(), abar)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_difflab_device_cpu_gives_the_same_samples(
    name, monkeypatch, small_denoiser, abar
):
    def run():
        dev = difflab.device()
        x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0)).to(dev)
        out = SAMPLERS[name](
            small_denoiser().to(dev),
            x,
            spaced_timesteps(1000, 5),
            abar,
            generator=torch.Generator().manual_seed(2),
        )
        return out.cpu(), dev.type

    monkeypatch.delenv("DIFFLAB_DEVICE", raising=False)
    default = run()
    monkeypatch.setenv("DIFFLAB_DEVICE", "cpu")
    cpu = run()
    assert cpu[1] == "cpu"  # DIFFLAB_DEVICE=cpu is obeyed
    if default[1] == "cpu":  # no accelerator: the very same computation, bit for bit
        assert torch.equal(default[0], cpu[0])
    else:  # another device: the same draws (made on the CPU), float differences only
        assert torch.allclose(default[0], cpu[0], atol=1e-3)


@pytest.mark.parametrize("name", ["ddim", "heun", "dpm++2m"])
def test_deterministic_samplers_draw_nothing_from_the_generator(
    name, small_denoiser, abar
):
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(5)
    state = g.get_state()
    with torch.no_grad():
        SAMPLERS[name](
            small_denoiser(), x, spaced_timesteps(1000, 4), abar, generator=g
        )
    assert torch.equal(g.get_state(), state), name


# --- DDIM (Song, Meng, Ermon 2021) ---------------------------------------------------------


@pytest.mark.parametrize(
    "n_steps,eta,spacing",
    [
        (50, 0.0, "leading"),
        (10, 0.0, "trailing"),
        (20, 1.0, "leading"),
        (10, 0.5, "trailing"),
        (1000, 0.0, "leading"),
    ],
)
def test_ddim_matches_diffusers_scheduler_in_float64(
    n_steps, eta, spacing, toy_eps, ddim_scheduler
):
    sched = ddim_scheduler(spacing)
    sched.set_timesteps(n_steps)
    ts = spaced_timesteps(T, n_steps, spacing)
    assert sched.timesteps.tolist() == ts
    x = randn64(16, 2, seed=0)
    ref, g = x.clone(), torch.Generator().manual_seed(1)
    for t in sched.timesteps:
        ref = sched.step(
            toy_eps(ref, t.repeat(16)), t, ref, eta=eta, generator=g
        ).prev_sample
    ours = ddim_sample(
        toy_eps,
        x.clone(),
        ts,
        sched.alphas_cumprod,
        eta=eta,
        generator=torch.Generator().manual_seed(1),
    )
    err = (ours - ref).abs().max().item()
    assert err < 1e-6, f"max |ours - diffusers| = {err:.2e}"


STEPS = [(999, 979), (500, 499), (20, 0)]


@pytest.mark.parametrize("t,prev", STEPS)
def test_eta_one_noise_is_ddpms_posterior_variance(t, prev, abar):
    # eq. 16 with eta = 1 is DDPM's posterior variance beta_tilde (Ho et al. 2020, eq. 7)
    beta = 1 - abar[t] / abar[prev]
    beta_tilde = (1 - abar[prev]) / (1 - abar[t]) * beta
    assert torch.allclose(
        ddim_noise_std(abar[t], abar[prev], 1.0) ** 2,
        beta_tilde,
        rtol=1e-12,
        atol=0,
    )


@pytest.mark.parametrize("t,prev", STEPS)
def test_eta_one_is_ddpm(t, prev, abar):
    # and with that variance the whole step agrees with DDPM's
    x, eps, z = (randn64(5, 2, seed=k) for k in range(3))
    ours, _ = ddim_step(x, eps, abar[t], abar[prev], z, eta=1.0)
    ddpm, _ = ddpm_step(x, eps, abar[t], abar[prev], z)
    assert torch.allclose(ours, ddpm, atol=1e-10), (ours - ddpm).abs().max()


def test_one_ddim_step_is_one_euler_step_of_the_ode(abar):
    # in y = x / sqrt(abar), sigma = sqrt((1 - abar) / abar) the ODE is dy/dsigma = eps (Song, Meng, Ermon 2021, eq. 14)
    x, eps = (randn64(7, 2, seed=k) for k in range(2))
    sig = lambda a: ((1 - a) / a).sqrt()
    for t, prev in [(999, 899), (500, 480), (10, 0)]:
        y_next = x / abar[t].sqrt() + (sig(abar[prev]) - sig(abar[t])) * eps
        ours, _ = ddim_step(x, eps, abar[t], abar[prev])
        err = (ours - y_next * abar[prev].sqrt()).abs().max().item()
        assert err < 1e-6, f"t={t}->{prev}: {err:.2e}"


def _ddim(toy_eps, abar, **options):
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    return ddim_sample(toy_eps, x, spaced_timesteps(T, 20), abar, **options)


def test_ddim_callback_sees_every_step(toy_eps, abar):
    seen = []
    _ddim(toy_eps, abar, callback=lambda i, t, xt, x0: seen.append(t))
    assert seen == spaced_timesteps(T, 20)


def test_ddim_with_eta_0_ignores_the_generator(toy_eps, abar):
    a = _ddim(toy_eps, abar)
    b = _ddim(toy_eps, abar, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)


def test_ddim_with_eta_1_draws_noise(toy_eps, abar):
    a = _ddim(toy_eps, abar)
    c = _ddim(toy_eps, abar, eta=1.0, generator=torch.Generator().manual_seed(9))
    assert not torch.equal(a, c)


# data N(0, s^2 I) has the exact eps(x, t) = sqrt(1 - abar) x / (abar s^2 + 1 - abar):
# inversion maps it to N(0, I), and data -> noise -> data comes back, with an error that
# falls like 1/n (a first-order method)
S = 0.5


def _gauss_eps(abar):
    def gauss(x, t):
        a = abar[t].to(x.dtype)[:, None]
        return (1 - a).sqrt() * x / (a * S**2 + 1 - a)

    return gauss


def _gauss_data():
    return randn64(500, 2, seed=0) * S


@pytest.mark.parametrize("n", [20, 200])
def test_ddim_invert_maps_the_data_to_unit_noise(n, abar):
    ts = spaced_timesteps(T, n, "leading")
    xT = ddim_invert(_gauss_eps(abar), _gauss_data(), ts, abar)
    assert abs(xT.std().item() - 1) < 0.1, xT.std()


def _round_trip_error(n, abar):
    ts = spaced_timesteps(T, n, "leading")
    x0 = _gauss_data()
    back = ddim_sample(
        _gauss_eps(abar), ddim_invert(_gauss_eps(abar), x0, ts, abar), ts, abar
    )
    return (back - x0).norm(dim=1).max().item()


def test_inversion_round_trip(abar):
    err = _round_trip_error(200, abar)
    assert err < 0.05, err


def test_inversion_error_falls_like_one_over_n(abar):
    errs = {n: _round_trip_error(n, abar) for n in (20, 200)}
    assert errs[200] < errs[20] / 5, errs


# --- second-order solvers: Heun (Karras et al. 2022), DPM-Solver++(2M) (Lu et al. 2022) ----


def test_dpm_solver_2m_matches_diffusers(toy_eps, abar, dpm_solver_scheduler):
    # diffusers' DPMSolverMultistepScheduler (0.42) casts its sigmas and the sample to float32 inside set_timesteps and
    # step, so the two agree to float32 precision only (~1e-4 after 20 steps); the 1e-6 cross-checks are DDPM and DDIM.
    sched = dpm_solver_scheduler()
    sched.alphas_cumprod = abar.clone()
    sched.alpha_t, sched.sigma_t = (
        sched.alphas_cumprod.sqrt(),
        (1 - sched.alphas_cumprod).sqrt(),
    )
    sched.lambda_t = sched.alpha_t.log() - sched.sigma_t.log()
    sched.set_timesteps(20)
    ts = sched.timesteps.tolist()
    x = randn64(16, 2, seed=0)
    ref = x.clone()
    for t in sched.timesteps:
        ref = sched.step(toy_eps(ref, t.repeat(16)), t, ref).prev_sample
    ours = dpm_solver_2m_sample(toy_eps, x.clone(), ts, abar)
    err = (ours - ref).abs().max().item()
    assert err < 3e-4, f"max |ours - diffusers| = {err:.2e}"


def test_dpm_solver_2m_sde_matches_diffusers(toy_eps, abar, dpm_solver_scheduler):
    # the SDE variant against DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++"), fed the same noise
    # (variance_noise) that our sampler draws from its generator; float32 precision again, as above
    sched = dpm_solver_scheduler("sde-dpmsolver++")
    sched.set_timesteps(20)
    ts = sched.timesteps.tolist()
    x = randn64(16, 2, seed=0)
    g = torch.Generator().manual_seed(1)
    noises = [torch.randn(x.shape, generator=g, dtype=x.dtype) for _ in ts[:-1]] + [
        torch.zeros_like(x)
    ]
    ref = x.clone()
    for t, z in zip(sched.timesteps, noises):
        ref = sched.step(
            toy_eps(ref, t.repeat(16)), t, ref, variance_noise=z
        ).prev_sample
    ours = dpm_solver_2m_sde_sample(
        toy_eps, x.clone(), ts, abar, generator=torch.Generator().manual_seed(1)
    )
    err = (ours - ref).abs().max().item()
    assert err < 3e-4, f"max |ours - diffusers| = {err:.2e}"


def test_sde_first_step_is_ddpms_posterior_step(toy_eps, abar):
    # with no history the SDE solver's step is first order, and first order is DDPM's posterior step (eq. 7)
    x = randn64(50, 2, seed=0)
    seen = []
    dpm_solver_2m_sde_sample(
        toy_eps,
        x,
        [900, 700, 0],
        abar,
        generator=torch.Generator().manual_seed(3),
        callback=lambda i, t, xt, x0: seen.append(xt),
    )
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype)
    ddpm, _ = ddpm_step(x, toy_eps(x, torch.full((50,), 900)), abar[900], abar[700], z)
    assert torch.allclose(seen[0], ddpm, atol=1e-10), (seen[0] - ddpm).abs().max()


def test_sde_solver_follows_its_seed(toy_eps, abar):
    x = randn64(50, 2, seed=0)
    run = lambda seed: dpm_solver_2m_sde_sample(
        toy_eps,
        x,
        spaced_timesteps(T, 10),
        abar,
        generator=torch.Generator().manual_seed(seed),
    )
    assert torch.equal(run(4), run(4)) and not torch.allclose(run(4), run(5))


def test_dpm_solver_2m_weights_follow_algorithm_2(abar):
    # w_i = 1 / (2 r_i) with r_i = h_{i-1} / h_i (Lu et al. 2022, Algorithm 2); w_0 = 0
    ts = spaced_timesteps(T, 10, "leading")
    dlam, w = dpm_solver_2m_weights(ts, abar)
    lam = [0.5 * math.log(abar[t] / (1 - abar[t])) for t in ts]
    h = [b - a for a, b in zip(lam, lam[1:])]
    assert len(dlam) == len(w) == len(ts) - 1 and w[0] == 0
    h_t = torch.tensor(h, dtype=F64)
    assert torch.allclose(dlam, h_t, rtol=0, atol=1e-12)
    for i in range(1, len(h)):
        assert abs(w[i].item() - 1 / (2 * (h[i - 1] / h[i]))) < 1e-12, i


def test_leading_spacing_makes_the_last_2m_step_extrapolate(abar):
    # Chapter 4's point: "leading" ends with the step 100 -> 0, long in lambda, so the
    # last correction extrapolates by more than the latest change of x0_hat
    dlam, w = dpm_solver_2m_weights(spaced_timesteps(T, 10, "leading"), abar)
    assert w[-1] > 1 and dlam[-1] > 3 * dlam[:-1].max(), (dlam, w)


def test_trailing_spacing_never_makes_a_2m_step_extrapolate(abar):
    _, w_trailing = dpm_solver_2m_weights(spaced_timesteps(T, 10, "trailing"), abar)
    assert (w_trailing < 1).all(), w_trailing


def test_dpm_solver_2m_steps_with_its_weights(toy_eps, abar):
    # each 2M step, rebuilt by hand from the callback's x and x0_hat and the weights:
    # x' = sqrt((1 - abar')/(1 - abar)) x + sqrt(abar') (1 - e^{-dlam}) x0_tilde
    ts = spaced_timesteps(T, 10, "leading")
    x = randn64(20, 2, seed=0)
    seen = []
    dpm_solver_2m_sample(
        toy_eps, x, ts, abar, callback=lambda i, t, xt, x0: seen.append((xt, x0))
    )
    xs, x0s = [x] + [s[0] for s in seen], [s[1] for s in seen]
    dlam, w = dpm_solver_2m_weights(ts, abar)
    for i in range(1, len(ts) - 1):
        a_t, a_n = abar[ts[i]], abar[ts[i + 1]]
        x0_tilde = x0s[i] + w[i] * (x0s[i] - x0s[i - 1])
        expected = ((1 - a_n) / (1 - a_t)).sqrt() * xs[i] + a_n.sqrt() * -torch.expm1(
            -dlam[i]
        ) * x0_tilde
        assert torch.allclose(xs[i + 1], expected, rtol=0, atol=1e-10), i


@pytest.mark.parametrize(
    "solver, n_steps",
    [(dpm_solver_2m_sample, 10), (heun_sample, 5)],  # 10 and 9 NFE
    ids=["dpm++2m", "heun"],
)
def test_second_order_solvers_are_more_accurate_than_ddim(
    solver, n_steps, toy_eps, abar
):
    # against a 1000-step DDIM solution of the same ODE, at about the same number of network evaluations
    x = randn64(100, 2, seed=0)
    ref = ddim_sample(toy_eps, x, list(range(T - 1, -1, -1)), abar)
    err = lambda y: (y - ref).norm(dim=1).max().item()
    e_ddim = err(ddim_sample(toy_eps, x, spaced_timesteps(T, 10, "trailing"), abar))
    e_second = err(solver(toy_eps, x, spaced_timesteps(T, n_steps, "trailing"), abar))
    assert e_second < e_ddim, (e_ddim, e_second)


@pytest.mark.parametrize(
    "sampler, n, nfe",
    [
        (ddim_sample, 10, 10),
        (dpm_solver_2m_sample, 10, 10),
        (dpm_solver_2m_sde_sample, 10, 10),
        (heun_sample, 5, 9),
    ],
    ids=["ddim", "dpm++2m", "dpm++2m-sde", "heun"],
)
def test_nfe_is_counted_honestly(sampler, n, nfe, toy_eps, abar):
    calls = []
    model = lambda x, t: calls.append(int(t[0])) or toy_eps(x, t)
    sampler(model, torch.randn(3, 2), spaced_timesteps(T, n), abar)
    assert len(calls) == nfe, (sampler.__name__, len(calls))


@pytest.mark.parametrize(
    "sampler, x_shape, timesteps, options, match",
    [
        pytest.param(
            ddim_sample,
            (3, 2),
            [9, 0],
            {"eta": -0.5},
            "eta=-0.5 is out of range",
            id="eta",
        ),
        pytest.param(
            ddim_sample,
            (3, 2),
            [10, 3],
            {},
            "timesteps contains 10.*T-1 = 9",
            id="timesteps",
        ),
        pytest.param(ddim_sample, (3,), [9, 0], {}, r"x has shape \(3,\)", id="x"),
        pytest.param(
            ddim_invert,
            (3, 2),
            [3, 5],
            {},
            "timesteps must be strictly decreasing",
            id="timesteps-invert",
        ),
        pytest.param(
            ddim_invert, (3,), [9, 0], {}, r"x0 has shape \(3,\)", id="x0-invert"
        ),
        pytest.param(
            heun_sample,
            (3, 2),
            [9],
            {},
            "needs at least 2 timesteps",
            id="timesteps-heun",
        ),
        pytest.param(
            dpm_solver_2m_sample,
            (3, 2),
            [9],
            {},
            "needs at least 2 timesteps",
            id="timesteps-dpm++2m",
        ),
        pytest.param(
            dpm_solver_2m_sde_sample,
            (3, 2),
            [9],
            {},
            "needs at least 2 timesteps",
            id="timesteps-dpm++2m-sde",
        ),
    ],
)
def test_samplers_name_a_bad_argument(
    sampler, x_shape, timesteps, options, match, toy_eps, abar10
):
    with pytest.raises(ValueError, match=match):
        sampler(toy_eps, torch.zeros(x_shape), timesteps, abar10, **options)
