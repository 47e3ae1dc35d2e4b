import math

import pytest
import torch

from difflab.schedules import alphas_cumprod, cosine_betas, linear_betas, q_sample


def test_linear_betas_match_ddpm_paper_and_diffusers():
    from diffusers import DDPMScheduler

    b = linear_betas()
    assert b.shape == (1000,) and b.dtype == torch.float64
    assert b[0].item() == pytest.approx(1e-4) and b[-1].item() == pytest.approx(0.02)
    ref = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear").betas.double()
    assert torch.allclose(b, ref, atol=1e-9)


def test_cosine_betas_match_eq17_and_diffusers():
    from diffusers import DDPMScheduler

    b = cosine_betas(1000)
    assert b.shape == (1000,) and b.dtype == torch.float64 and b.max() <= 0.999
    ref = DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2"
    ).betas.double()
    assert torch.allclose(b, ref, atol=1e-6)  # diffusers computes in float32
    # eq. 17 directly, away from the cap
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
    ab = alphas_cumprod(b)
    assert ab[499].item() == pytest.approx(f(500) / f(0), rel=1e-12)


def test_alphas_cumprod_is_the_running_product():
    b = torch.tensor([0.1, 0.2, 0.5], dtype=torch.float64)
    assert torch.allclose(
        alphas_cumprod(b), torch.tensor([0.9, 0.72, 0.36], dtype=torch.float64)
    )


def test_q_sample_closed_form_and_broadcast_over_images():
    abar = alphas_cumprod(linear_betas())
    x0 = torch.randn(4, 3, 8, 8)
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 10, 500, 999])
    xt = q_sample(x0, t, abar, noise)
    assert xt.shape == x0.shape and xt.dtype == x0.dtype
    for i in range(4):
        a = abar[t[i]].float()
        assert torch.allclose(
            xt[i], a.sqrt() * x0[i] + (1 - a).sqrt() * noise[i], atol=1e-6
        )
    assert torch.allclose(
        q_sample(x0, 7, abar, noise), q_sample(x0, torch.full((4,), 7), abar, noise)
    )


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: linear_betas(T=0), ValueError, "T=0"),
        (lambda: linear_betas(T=2.5), TypeError, "T=2.5"),
        (lambda: linear_betas(beta_start=0.0), ValueError, "beta_start=0.0"),
        (lambda: linear_betas(beta_end=1.0), ValueError, "beta_end=1.0"),
        (lambda: cosine_betas(T=-5), ValueError, "T=-5"),
        (
            lambda: alphas_cumprod(torch.tensor([0.1, 1.2])),
            ValueError,
            r"betas\[1\]=1.2",
        ),
        (
            lambda: alphas_cumprod(torch.tensor([0.0, 0.1])),
            ValueError,
            r"betas\[0\]=0.0",
        ),
        (
            lambda: alphas_cumprod(torch.zeros(2, 2) + 0.1),
            ValueError,
            "expected a non-empty 1-D",
        ),
    ],
)
def test_bad_schedules_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_q_sample_bad_inputs_are_named():
    abar = alphas_cumprod(linear_betas(T=10))
    x0 = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="t contains 10.*T-1 = 9"):
        q_sample(x0, torch.tensor([0, 1, 10]), abar, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="t contains -1"):
        q_sample(x0, -1, abar, torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"noise has shape \(3, 3\)"):
        q_sample(x0, 1, abar, torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"t has shape \(2,\)"):
        q_sample(x0, torch.tensor([1, 2]), abar, torch.zeros(3, 2))
    with pytest.raises(TypeError, match="t has dtype torch.float32"):
        q_sample(x0, torch.tensor([0.5, 1.0, 2.0]), abar, torch.zeros(3, 2))
