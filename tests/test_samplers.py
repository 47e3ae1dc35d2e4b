import pytest
import torch

from difflab.denoisers import ExactDenoiser
from difflab.samplers import ddpm_sample, ddpm_step
from difflab.schedules import alphas_cumprod, linear_betas


def _toy_model(x, t):
    # any smooth function of (x, t) serves for an equivalence test
    return torch.tanh(x * 0.7 + t[:, None].to(x.dtype) / 1000)


@pytest.mark.parametrize("n_steps", [1000, 50])
def test_ddpm_matches_diffusers_scheduler_in_float64(n_steps):
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="linear", clip_sample=False
    )
    sched.betas = linear_betas()
    sched.alphas = 1 - sched.betas
    sched.alphas_cumprod = alphas_cumprod(sched.betas)
    sched.set_timesteps(n_steps)
    x0 = torch.randn(
        16, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )

    ref = x0.clone()
    g = torch.Generator().manual_seed(1)
    for t in sched.timesteps:
        ref = sched.step(_toy_model(ref, t.repeat(16)), t, ref, generator=g).prev_sample
    ours = ddpm_sample(
        _toy_model,
        x0.clone(),
        sched.timesteps.tolist(),
        sched.alphas_cumprod,
        generator=torch.Generator().manual_seed(1),
    )
    assert torch.allclose(ours, ref, atol=1e-6, rtol=0), (ours - ref).abs().max()


def test_one_step_matches_algorithm_2():
    # Ho et al. 2020, Algorithm 2 with sigma_t^2 = beta_tilde_t
    abar = alphas_cumprod(linear_betas())
    betas = linear_betas()
    x, eps, z = (
        torch.randn(
            5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(k)
        )
        for k in range(3)
    )
    t = 500
    alpha = 1 - betas[t]
    sigma2 = (1 - abar[t - 1]) / (1 - abar[t]) * betas[t]
    expected = (
        x - betas[t] / (1 - abar[t]).sqrt() * eps
    ) / alpha.sqrt() + sigma2.sqrt() * z
    got, _ = ddpm_step(x, eps, abar[t], abar[t - 1], z)
    assert torch.allclose(got, expected, atol=1e-12)


def test_exact_denoiser_memorises_training_points():
    abar = alphas_cumprod(linear_betas())
    data = torch.randn(
        30, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    x = ddpm_sample(
        ExactDenoiser(data, abar),
        torch.randn(200, 2, dtype=torch.float64),
        range(999, -1, -1),
        abar,
        generator=torch.Generator().manual_seed(0),
    )
    nearest = torch.cdist(x, data).min(1).values
    assert (
        nearest.max() < 0.03
    )  # jitter of the last steps only; data points are ~0.3 apart


def test_callback_sees_every_step_and_no_noise_is_deterministic():
    abar = alphas_cumprod(linear_betas(T=10))
    seen = []
    x = torch.randn(4, 2)
    a = ddpm_sample(
        _toy_model,
        x,
        [9, 5, 2],
        abar,
        noise_scale=0.0,
        callback=lambda i, t, xt, x0: seen.append(t),
    )
    b = ddpm_sample(
        _toy_model,
        x,
        [9, 5, 2],
        abar,
        noise_scale=0.0,
        generator=torch.Generator().manual_seed(5),
    )
    assert seen == [9, 5, 2] and torch.equal(a, b)


@pytest.mark.parametrize(
    "timesteps,match",
    [
        ([5, 5, 1], r"strictly decreasing.*timesteps\[0\]=5.*timesteps\[1\]=5"),
        ([1, 5], "strictly decreasing"),
        ([10, 3], "timesteps contains 10.*T-1 = 9"),
        ([3, -1], "timesteps contains -1"),
        ([], "non-empty"),
        ([2.5, 1.0], "sequence of ints"),
    ],
)
def test_bad_timesteps(timesteps, match):
    abar = alphas_cumprod(linear_betas(T=10))
    with pytest.raises(ValueError, match=match):
        ddpm_sample(_toy_model, torch.zeros(3, 2), timesteps, abar)


def test_bad_models_and_x():
    abar = alphas_cumprod(linear_betas(T=10))
    with pytest.raises(ValueError, match=r"model returned \(3, 3\) at t=9.*\(3, 2\)"):
        ddpm_sample(lambda x, t: torch.zeros(3, 3), torch.zeros(3, 2), [9, 0], abar)
    with pytest.raises(FloatingPointError, match="NaN or inf at t=9"):
        ddpm_sample(lambda x, t: x * float("nan"), torch.zeros(3, 2), [9, 0], abar)
    with pytest.raises(ValueError, match=r"x has shape \(3,\)"):
        ddpm_sample(_toy_model, torch.zeros(3), [9, 0], abar)
    with pytest.raises(ValueError, match="noise_scale=-1.0"):
        ddpm_sample(_toy_model, torch.zeros(3, 2), [9, 0], abar, noise_scale=-1.0)


def test_sample_draws_its_start_from_the_seed():
    from difflab.samplers import sample
    from difflab.schedules import spaced_timesteps

    abar = alphas_cumprod(linear_betas())
    ts = spaced_timesteps(1000, 10, "leading")
    g = torch.Generator().manual_seed(3)
    ref = ddpm_sample(
        _toy_model, torch.randn(50, 2, generator=g), ts, abar, generator=g
    )
    assert torch.equal(sample(_toy_model, 3, 50, ts, abar), ref)


def test_leading_spacing_is_every_tenth_step_of_the_chapters():
    from difflab.schedules import spaced_timesteps

    assert spaced_timesteps(1000, 100, "leading") == list(range(990, -1, -10))
