"""DDIM, its inversion, timestep spacings and the second-order solvers (Chapter 4)."""

import math

import pytest
import torch

from difflab.samplers import (
    ddim_invert,
    ddim_noise_std,
    ddim_sample,
    ddim_step,
    ddpm_step,
    dpm_solver_2m_sample,
    dpm_solver_2m_sde_sample,
    dpm_solver_2m_weights,
    heun_sample,
)
from difflab.schedules import (
    alphas_cumprod,
    linear_betas,
    log_snr,
    spaced_timesteps,
    ve_sigma_from_abar,
)

T = 1000


def _toy_model(x, t):
    # any smooth function of (x, t) serves for an equivalence test
    return torch.tanh(x * 0.7 + t[:, None].to(x.dtype) / 1000)


def _diffusers_abar(sched):
    # our float64 schedule on the scheduler, as tests/test_samplers.py does for DDPM
    sched.betas = linear_betas()
    sched.alphas = 1 - sched.betas
    sched.alphas_cumprod = alphas_cumprod(sched.betas)
    sched.final_alpha_cumprod = torch.tensor(1.0, dtype=torch.float64)
    return sched


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
def test_ddim_matches_diffusers_scheduler_in_float64(n_steps, eta, spacing):
    from diffusers import DDIMScheduler

    sched = _diffusers_abar(
        DDIMScheduler(
            num_train_timesteps=T,
            beta_schedule="linear",
            clip_sample=False,
            set_alpha_to_one=True,
            timestep_spacing=spacing,
        )
    )
    sched.set_timesteps(n_steps)
    ts = spaced_timesteps(T, n_steps, spacing)
    assert sched.timesteps.tolist() == ts
    x = torch.randn(
        16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    ref, g = x.clone(), torch.Generator().manual_seed(1)
    for t in sched.timesteps:
        ref = sched.step(
            _toy_model(ref, t.repeat(16)), t, ref, eta=eta, generator=g
        ).prev_sample
    ours = ddim_sample(
        _toy_model,
        x.clone(),
        ts,
        sched.alphas_cumprod,
        eta=eta,
        generator=torch.Generator().manual_seed(1),
    )
    err = (ours - ref).abs().max().item()
    assert err < 1e-6, f"max |ours - diffusers| = {err:.2e}"


@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
@pytest.mark.parametrize("n_steps", [1, 7, 10, 20, 50, 333])
def test_spacings_match_diffusers(spacing, n_steps):
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
    sched.set_timesteps(n_steps)
    assert spaced_timesteps(T, n_steps, spacing) == sched.timesteps.tolist()


def test_dpm_solver_2m_matches_diffusers():
    # diffusers' DPMSolverMultistepScheduler (0.42) casts its sigmas and the sample to float32 inside set_timesteps and
    # step, so the two agree to float32 precision only (~1e-4 after 20 steps); the 1e-6 cross-checks are DDPM and DDIM.
    from diffusers import DPMSolverMultistepScheduler

    sched = DPMSolverMultistepScheduler(
        num_train_timesteps=T,
        beta_schedule="linear",
        algorithm_type="dpmsolver++",
        solver_order=2,
        lower_order_final=False,
        final_sigmas_type="zero",
        timestep_spacing="trailing",
    )
    sched.alphas_cumprod = alphas_cumprod(linear_betas())
    sched.alpha_t, sched.sigma_t = (
        sched.alphas_cumprod.sqrt(),
        (1 - sched.alphas_cumprod).sqrt(),
    )
    sched.lambda_t = sched.alpha_t.log() - sched.sigma_t.log()
    sched.set_timesteps(20)
    ts = sched.timesteps.tolist()
    x = torch.randn(
        16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    ref = x.clone()
    for t in sched.timesteps:
        ref = sched.step(_toy_model(ref, t.repeat(16)), t, ref).prev_sample
    ours = dpm_solver_2m_sample(
        _toy_model, x.clone(), ts, alphas_cumprod(linear_betas())
    )
    err = (ours - ref).abs().max().item()
    assert err < 3e-4, f"max |ours - diffusers| = {err:.2e}"


def test_dpm_solver_2m_sde_matches_diffusers():
    # the SDE variant against DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++"), fed the same noise
    # (variance_noise) that our sampler draws from its generator; float32 precision again, as above
    from diffusers import DPMSolverMultistepScheduler

    sched = DPMSolverMultistepScheduler(
        num_train_timesteps=T,
        beta_schedule="linear",
        algorithm_type="sde-dpmsolver++",
        solver_order=2,
        lower_order_final=False,
        final_sigmas_type="zero",
        timestep_spacing="trailing",
    )
    sched.set_timesteps(20)
    ts = sched.timesteps.tolist()
    x = torch.randn(
        16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    g = torch.Generator().manual_seed(1)
    noises = [torch.randn(x.shape, generator=g, dtype=x.dtype) for _ in ts[:-1]] + [
        torch.zeros_like(x)
    ]
    ref = x.clone()
    for t, z in zip(sched.timesteps, noises):
        ref = sched.step(
            _toy_model(ref, t.repeat(16)), t, ref, variance_noise=z
        ).prev_sample
    ours = dpm_solver_2m_sde_sample(
        _toy_model,
        x.clone(),
        ts,
        alphas_cumprod(linear_betas()),
        generator=torch.Generator().manual_seed(1),
    )
    err = (ours - ref).abs().max().item()
    assert err < 3e-4, f"max |ours - diffusers| = {err:.2e}"


def test_sde_first_step_is_ddpm_and_seeded():
    # with no history the SDE solver's step is first order, and first order is DDPM's posterior step (eq. 7)
    abar = alphas_cumprod(linear_betas())
    x = torch.randn(
        50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    seen = []
    dpm_solver_2m_sde_sample(
        _toy_model,
        x,
        [900, 700, 0],
        abar,
        generator=torch.Generator().manual_seed(3),
        callback=lambda i, t, xt, x0: seen.append(xt),
    )
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype)
    ddpm, _ = ddpm_step(
        x, _toy_model(x, torch.full((50,), 900)), abar[900], abar[700], z
    )
    assert torch.allclose(seen[0], ddpm, atol=1e-10), (seen[0] - ddpm).abs().max()
    run = lambda seed: dpm_solver_2m_sde_sample(
        _toy_model,
        x,
        spaced_timesteps(T, 10),
        abar,
        generator=torch.Generator().manual_seed(seed),
    )
    assert torch.equal(run(4), run(4)) and not torch.allclose(run(4), run(5))


def test_eta_one_is_ddpm():
    # eq. 16 with eta = 1 is DDPM's posterior variance beta_tilde (Ho et al. 2020, eq. 7), and the whole step agrees
    abar = alphas_cumprod(linear_betas())
    x, eps, z = (
        torch.randn(
            5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(k)
        )
        for k in range(3)
    )
    for t, prev in [(999, 979), (500, 499), (20, 0)]:
        beta = 1 - abar[t] / abar[prev]
        beta_tilde = (1 - abar[prev]) / (1 - abar[t]) * beta
        assert torch.allclose(
            ddim_noise_std(abar[t], abar[prev], 1.0) ** 2,
            beta_tilde,
            rtol=1e-12,
            atol=0,
        )
        ours, _ = ddim_step(x, eps, abar[t], abar[prev], z, eta=1.0)
        ddpm, _ = ddpm_step(x, eps, abar[t], abar[prev], z)
        assert torch.allclose(ours, ddpm, atol=1e-10), (ours - ddpm).abs().max()


def test_one_ddim_step_is_one_euler_step_of_the_ode():
    # in y = x / sqrt(abar), sigma = sqrt((1 - abar) / abar) the ODE is dy/dsigma = eps (Song, Meng, Ermon 2021, eq. 14)
    abar = alphas_cumprod(linear_betas())
    x, eps = (
        torch.randn(
            7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(k)
        )
        for k in range(2)
    )
    sig = lambda a: ((1 - a) / a).sqrt()
    for t, prev in [(999, 899), (500, 480), (10, 0)]:
        y_next = x / abar[t].sqrt() + (sig(abar[prev]) - sig(abar[t])) * eps
        ours, _ = ddim_step(x, eps, abar[t], abar[prev])
        err = (ours - y_next * abar[prev].sqrt()).abs().max().item()
        assert err < 1e-6, f"t={t}->{prev}: {err:.2e}"


def test_ve_sigma_from_abar_and_log_snr():
    # sigma^2 = (1 - abar) / abar (DDIM Sec. 4.3) and
    # lambda = log(sqrt(abar) / sqrt(1 - abar)) = -log sigma (DPM-Solver++, Algorithm 2)
    abar = alphas_cumprod(linear_betas())
    sig, lam = ve_sigma_from_abar(abar), log_snr(abar)
    assert torch.allclose(sig**2 * abar, 1 - abar, rtol=1e-12, atol=0)
    closed = abar.sqrt().log() - (1 - abar).sqrt().log()
    assert torch.allclose(lam, closed, rtol=0, atol=1e-12)
    assert torch.allclose(lam, -sig.log(), rtol=0, atol=1e-12)
    assert (sig[1:] > sig[:-1]).all() and (lam[1:] < lam[:-1]).all()
    one = torch.ones((), dtype=torch.float64)
    assert ve_sigma_from_abar(one) == 0 and log_snr(one) == float("inf")


def test_dpm_solver_2m_weights_follow_algorithm_2():
    # w_i = 1 / (2 r_i) with r_i = h_{i-1} / h_i (Lu et al. 2022, Algorithm 2); w_0 = 0
    abar = alphas_cumprod(linear_betas())
    ts = spaced_timesteps(T, 10, "leading")
    dlam, w = dpm_solver_2m_weights(ts, abar)
    lam = [0.5 * math.log(abar[t] / (1 - abar[t])) for t in ts]
    h = [b - a for a, b in zip(lam, lam[1:])]
    assert len(dlam) == len(w) == len(ts) - 1 and w[0] == 0
    h_t = torch.tensor(h, dtype=torch.float64)
    assert torch.allclose(dlam, h_t, rtol=0, atol=1e-12)
    for i in range(1, len(h)):
        assert abs(w[i].item() - 1 / (2 * (h[i - 1] / h[i]))) < 1e-12, i
    # Chapter 4's point: "leading" ends with the step 100 -> 0, long in lambda, so the
    # last correction extrapolates by more than the latest change of x0_hat;
    # "trailing" never does
    assert w[-1] > 1 and dlam[-1] > 3 * dlam[:-1].max(), (dlam, w)
    _, w_trailing = dpm_solver_2m_weights(spaced_timesteps(T, 10, "trailing"), abar)
    assert (w_trailing < 1).all(), w_trailing


def test_dpm_solver_2m_steps_with_its_weights():
    # each 2M step, rebuilt by hand from the callback's x and x0_hat and the weights:
    # x' = sqrt((1 - abar')/(1 - abar)) x + sqrt(abar') (1 - e^{-dlam}) x0_tilde
    abar = alphas_cumprod(linear_betas())
    ts = spaced_timesteps(T, 10, "leading")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 2, generator=g, dtype=torch.float64)
    seen = []
    dpm_solver_2m_sample(
        _toy_model, x, ts, abar, callback=lambda i, t, xt, x0: seen.append((xt, x0))
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


def test_determinism_and_callback():
    abar = alphas_cumprod(linear_betas())
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    seen = []
    a = ddim_sample(
        _toy_model,
        x.clone(),
        spaced_timesteps(T, 20),
        abar,
        callback=lambda i, t, xt, x0: seen.append(t),
    )
    b = ddim_sample(
        _toy_model,
        x.clone(),
        spaced_timesteps(T, 20),
        abar,
        generator=torch.Generator().manual_seed(9),
    )
    assert torch.equal(a, b) and seen == spaced_timesteps(T, 20)
    c = ddim_sample(
        _toy_model,
        x.clone(),
        spaced_timesteps(T, 20),
        abar,
        eta=1.0,
        generator=torch.Generator().manual_seed(9),
    )
    assert not torch.equal(a, c)


def test_inversion_round_trip():
    # data N(0, s^2 I) has the exact eps(x, t) = sqrt(1 - abar) x / (abar s^2 + 1 - abar): inversion maps it to
    # N(0, I), and data -> noise -> data comes back, with an error that falls like 1/n (a first-order method)
    abar = alphas_cumprod(linear_betas())
    s = 0.5

    def gauss(x, t):
        a = abar[t].to(x.dtype)[:, None]
        return (1 - a).sqrt() * x / (a * s**2 + 1 - a)

    x0 = (
        torch.randn(
            500, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
        )
        * s
    )
    errs = {}
    for n in (20, 200):
        ts = spaced_timesteps(T, n, "leading")
        xT = ddim_invert(gauss, x0, ts, abar)
        assert abs(xT.std().item() - 1) < 0.1, xT.std()
        back = ddim_sample(gauss, xT, ts, abar)
        errs[n] = (back - x0).norm(dim=1).max().item()
    assert errs[200] < 0.05 and errs[200] < errs[20] / 5, errs


def test_second_order_solvers_are_more_accurate_than_ddim():
    # against a 1000-step DDIM solution of the same ODE, at about the same number of network evaluations
    abar = alphas_cumprod(linear_betas())
    x = torch.randn(
        100, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    ref = ddim_sample(_toy_model, x, list(range(T - 1, -1, -1)), abar)
    err = lambda y: (y - ref).norm(dim=1).max().item()
    e_ddim = err(ddim_sample(_toy_model, x, spaced_timesteps(T, 10, "trailing"), abar))
    e_dpm = err(
        dpm_solver_2m_sample(_toy_model, x, spaced_timesteps(T, 10, "trailing"), abar)
    )
    e_heun = err(
        heun_sample(_toy_model, x, spaced_timesteps(T, 5, "trailing"), abar)
    )  # 9 NFE
    assert e_dpm < e_ddim and e_heun < e_ddim, (e_ddim, e_dpm, e_heun)


def test_nfe_is_counted_honestly():
    abar = alphas_cumprod(linear_betas())
    calls = []
    model = lambda x, t: calls.append(int(t[0])) or _toy_model(x, t)
    for sampler, n, nfe in [
        (ddim_sample, 10, 10),
        (dpm_solver_2m_sample, 10, 10),
        (dpm_solver_2m_sde_sample, 10, 10),
        (heun_sample, 5, 9),
    ]:
        calls.clear()
        sampler(model, torch.randn(3, 2), spaced_timesteps(T, n), abar)
        assert len(calls) == nfe, (sampler.__name__, len(calls))


def test_spacings_shapes():
    abar = alphas_cumprod(linear_betas())
    for spacing in ("linspace", "leading", "trailing", "quadratic", "karras"):
        for n in (
            (1, 2, 10, 20, 50, 1000) if spacing != "karras" else (1, 2, 10, 20, 50, 200)
        ):
            ts = spaced_timesteps(T, n, spacing, alphas_cumprod=abar)
            assert (
                len(ts) == n
                and all(a > b for a, b in zip(ts, ts[1:]))
                and 0 <= ts[-1]
                and ts[0] <= T - 1
            )
    assert spaced_timesteps(T, 10, "quadratic")[-2:] == [12, 0]
    assert spaced_timesteps(T, 10, "karras", alphas_cumprod=abar)[0] == T - 1


def test_bad_input():
    abar = alphas_cumprod(linear_betas(T=10))
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="eta=-0.5 is out of range"):
        ddim_sample(_toy_model, x, [9, 0], abar, eta=-0.5)
    with pytest.raises(ValueError, match="timesteps contains 10.*T-1 = 9"):
        ddim_sample(_toy_model, x, [10, 3], abar)
    with pytest.raises(ValueError, match="strictly decreasing"):
        ddim_invert(_toy_model, x, [3, 5], abar)
    for solver in (heun_sample, dpm_solver_2m_sample, dpm_solver_2m_sde_sample):
        with pytest.raises(ValueError, match="needs at least 2 timesteps"):
            solver(_toy_model, x, [9], abar)
    with pytest.raises(ValueError, match="n_steps=11 is out of range"):
        spaced_timesteps(10, 11)
    with pytest.raises(ValueError, match="spacing='cosine' is not known"):
        spaced_timesteps(10, 5, "cosine")
    with pytest.raises(ValueError, match="karras.*needs alphas_cumprod"):
        spaced_timesteps(10, 5, "karras")
    with pytest.raises(
        ValueError, match="spacing='karras' cannot place 1000 distinct steps"
    ):
        spaced_timesteps(
            T, 1000, "karras", alphas_cumprod=alphas_cumprod(linear_betas())
        )
    with pytest.raises(ValueError, match=r"x has shape \(3,\)"):
        ddim_sample(_toy_model, torch.zeros(3), [9, 0], abar)


def test_ddim_invert_names_its_bad_x0():
    abar = alphas_cumprod(linear_betas(T=10))
    with pytest.raises(ValueError, match=r"x0 has shape \(3,\)"):
        ddim_invert(_toy_model, torch.zeros(3), [9, 0], abar)
