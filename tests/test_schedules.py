"""difflab.schedules: betas, alphas_cumprod, q_sample, the noise levels derived from
abar, timestep spacings and the flow's sigmas, against the papers and diffusers."""

import math

import pytest
import torch
from conftest import F64

from difflab.schedules import (
    alphas_cumprod,
    betas_from_abar,
    cosine_betas,
    flow_sigmas,
    linear_betas,
    log_snr,
    q_sample,
    shift_sigmas,
    spaced_timesteps,
    ve_sigma_from_abar,
)

T = 1000


# --- betas and alphas_cumprod --------------------------------------------------------------


def test_linear_betas_follow_the_ddpm_paper():
    # Ho et al. 2020, Sec. 4: T = 1000, beta from 1e-4 to 0.02, here in float64
    b = linear_betas()
    assert b.shape == (1000,) and b.dtype == torch.float64
    assert b[0].item() == pytest.approx(1e-4) and b[-1].item() == pytest.approx(0.02)


def test_linear_betas_match_diffusers(ddpm_scheduler):
    ref = ddpm_scheduler("linear", book_schedule=False).betas.double()
    assert torch.allclose(linear_betas(), ref, atol=1e-9)


def test_cosine_betas_are_capped_float64():
    b = cosine_betas(1000)
    assert b.shape == (1000,) and b.dtype == torch.float64 and b.max() <= 0.999


def test_cosine_betas_match_diffusers(ddpm_scheduler):
    ref = ddpm_scheduler("squaredcos_cap_v2", book_schedule=False).betas.double()
    assert torch.allclose(cosine_betas(1000), ref, atol=1e-6)  # diffusers: float32


def test_cosine_betas_follow_eq17():
    # Nichol & Dhariwal 2021, eq. 17 directly, away from the cap
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
    ab = alphas_cumprod(cosine_betas(1000))
    assert ab[499].item() == pytest.approx(f(500) / f(0), rel=1e-12)


def test_alphas_cumprod_is_the_running_product():
    b = torch.tensor([0.1, 0.2, 0.5], dtype=torch.float64)
    assert torch.allclose(
        alphas_cumprod(b), torch.tensor([0.9, 0.72, 0.36], dtype=torch.float64)
    )


@pytest.mark.parametrize(
    "call,exc,match",
    [
        pytest.param(lambda: linear_betas(T=0), ValueError, "T=0", id="T"),
        pytest.param(lambda: linear_betas(T=2.5), TypeError, "T=2.5", id="T-float"),
        pytest.param(
            lambda: linear_betas(beta_start=0.0),
            ValueError,
            "beta_start=0.0",
            id="beta_start",
        ),
        pytest.param(
            lambda: linear_betas(beta_end=1.0),
            ValueError,
            "beta_end=1.0",
            id="beta_end",
        ),
        pytest.param(lambda: cosine_betas(T=-5), ValueError, "T=-5", id="T-cosine"),
        pytest.param(
            lambda: alphas_cumprod(torch.tensor([0.1, 1.2])),
            ValueError,
            r"betas\[1\]=1.2",
            id="betas-above-1",
        ),
        pytest.param(
            lambda: alphas_cumprod(torch.tensor([0.0, 0.1])),
            ValueError,
            r"betas\[0\]=0.0",
            id="betas-zero",
        ),
        pytest.param(
            lambda: alphas_cumprod(torch.zeros(2, 2) + 0.1),
            ValueError,
            "betas has shape.*expected a non-empty 1-D",
            id="betas-2d",
        ),
    ],
)
def test_bad_schedules_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("betas", [linear_betas(), cosine_betas()], ids=["lin", "cos"])
def test_betas_from_abar_inverts_the_schedule(betas):
    abar = alphas_cumprod(betas)
    assert torch.allclose(betas_from_abar(abar), betas, atol=1e-12, rtol=0)


def test_betas_from_abar_names_a_bad_table():
    with pytest.raises(ValueError, match=r"alphas_cumprod has shape \(2, 2\)"):
        betas_from_abar(torch.ones(2, 2))


# --- q_sample (Ho et al. 2020, eq. 4) -----------------------------------------------------


def _q_case():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 3, 8, 8, generator=g)
    return x0, torch.randn(x0.shape, generator=g)


def test_q_sample_is_the_closed_form_for_each_row(abar):
    x0, noise = _q_case()
    t = torch.tensor([0, 10, 500, 999])
    xt = q_sample(x0, t, abar, noise)
    assert xt.shape == x0.shape and xt.dtype == x0.dtype
    for i in range(4):
        a = abar[t[i]].float()
        assert torch.allclose(
            xt[i], a.sqrt() * x0[i] + (1 - a).sqrt() * noise[i], atol=1e-6
        )


def test_q_sample_broadcasts_an_int_step_over_the_batch(abar):
    x0, noise = _q_case()
    assert torch.allclose(
        q_sample(x0, 7, abar, noise), q_sample(x0, torch.full((4,), 7), abar, noise)
    )


@pytest.mark.parametrize(
    "t, noise_shape, error, match",
    [
        pytest.param(
            torch.tensor([0, 1, 10]),
            (3, 2),
            ValueError,
            "t contains 10.*T-1 = 9",
            id="t-above-T-1",
        ),
        pytest.param(-1, (3, 2), ValueError, "t contains -1", id="t-negative"),
        pytest.param(1, (3, 3), ValueError, r"noise has shape \(3, 3\)", id="noise"),
        pytest.param(
            torch.tensor([1, 2]),
            (3, 2),
            ValueError,
            r"t has shape \(2,\)",
            id="t-shape",
        ),
        pytest.param(
            torch.tensor([0.5, 1.0, 2.0]),
            (3, 2),
            TypeError,
            "t has dtype torch.float32",
            id="t-dtype",
        ),
    ],
)
def test_q_sample_names_a_bad_argument(t, noise_shape, error, match, abar10):
    with pytest.raises(error, match=match):
        q_sample(torch.zeros(3, 2), t, abar10, torch.zeros(noise_shape))


# --- the noise levels read off abar ----------------------------------------------------------


@pytest.mark.parametrize("betas", [linear_betas(), cosine_betas()], ids=["lin", "cos"])
def test_ve_sigma_squared_is_the_noise_to_signal_ratio(betas):
    # sigma^2 = (1 - abar) / abar (DDIM Sec. 4.3)
    abar = alphas_cumprod(betas)
    assert torch.allclose(
        ve_sigma_from_abar(abar) ** 2 * abar, 1 - abar, atol=1e-12, rtol=0
    )
    assert torch.allclose(
        ve_sigma_from_abar(abar) ** 2 * abar, 1 - abar, rtol=1e-12, atol=0
    )


def test_clean_data_has_ve_sigma_0():
    one = torch.ones((), dtype=torch.float64)
    assert ve_sigma_from_abar(one) == 0


def test_clean_data_has_infinite_log_snr():
    one = torch.ones((), dtype=torch.float64)
    assert log_snr(one) == float("inf")


def test_log_snr_is_the_closed_form(abar):
    # lambda = log(sqrt(abar) / sqrt(1 - abar)) (DPM-Solver++, Algorithm 2)
    closed = abar.sqrt().log() - (1 - abar).sqrt().log()
    assert torch.allclose(log_snr(abar), closed, rtol=0, atol=1e-12)


def test_log_snr_is_minus_log_ve_sigma(abar):
    assert torch.allclose(
        log_snr(abar), -ve_sigma_from_abar(abar).log(), rtol=0, atol=1e-12
    )


def test_noise_grows_with_t(abar):
    sig, lam = ve_sigma_from_abar(abar), log_snr(abar)
    assert (sig[1:] > sig[:-1]).all() and (lam[1:] < lam[:-1]).all()


# --- timestep spacings ------------------------------------------------------------------------


@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
@pytest.mark.parametrize("n_steps", [1, 7, 10, 20, 50, 333])
def test_spacings_match_diffusers(spacing, n_steps, ddim_scheduler):
    sched = ddim_scheduler(spacing)
    sched.set_timesteps(n_steps)
    assert spaced_timesteps(T, n_steps, spacing) == sched.timesteps.tolist()


@pytest.mark.parametrize(
    "spacing, counts",
    [
        ("linspace", (1, 2, 10, 20, 50, 1000)),
        ("leading", (1, 2, 10, 20, 50, 1000)),
        ("trailing", (1, 2, 10, 20, 50, 1000)),
        ("quadratic", (1, 2, 10, 20, 50, 1000)),
        ("karras", (1, 2, 10, 20, 50, 200)),
    ],
)
def test_every_spacing_gives_n_decreasing_steps_in_range(spacing, counts, abar):
    for n in counts:
        ts = spaced_timesteps(T, n, spacing, alphas_cumprod=abar)
        assert (
            len(ts) == n
            and all(a > b for a, b in zip(ts, ts[1:]))
            and 0 <= ts[-1]
            and ts[0] <= T - 1
        ), (spacing, n)


def test_quadratic_spacing_ends_with_small_steps():
    assert spaced_timesteps(T, 10, "quadratic")[-2:] == [12, 0]


def test_karras_spacing_starts_at_the_last_step(abar):
    assert spaced_timesteps(T, 10, "karras", alphas_cumprod=abar)[0] == T - 1


def test_leading_spacing_is_every_tenth_step_of_the_chapters():
    assert spaced_timesteps(1000, 100, "leading") == list(range(990, -1, -10))


@pytest.mark.parametrize(
    "args, options, match",
    [
        pytest.param((10, 11), {}, "n_steps=11 is out of range", id="n_steps"),
        pytest.param(
            (10, 5, "cosine"), {}, "spacing='cosine' is not known", id="spacing"
        ),
        pytest.param(
            (10, 5, "karras"),
            {},
            "karras.*needs alphas_cumprod",
            id="alphas_cumprod",
        ),
        pytest.param(
            (T, 1000, "karras"),
            {"alphas_cumprod": alphas_cumprod(linear_betas())},
            "spacing='karras' cannot place 1000 distinct steps",
            id="n_steps-karras",
        ),
    ],
)
def test_spaced_timesteps_names_a_bad_argument(args, options, match):
    with pytest.raises(ValueError, match=match):
        spaced_timesteps(*args, **options)


# --- the flow's noise levels (Esser et al. 2024) -------------------------------------------


def test_flow_sigmas_are_evenly_spaced():
    s = flow_sigmas(4)
    assert torch.equal(s, torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0], dtype=F64))


@pytest.mark.parametrize("n_steps,shift", [(10, 1.0), (50, 1.0), (10, 3.0), (25, 0.5)])
def test_shifted_flow_sigmas_match_diffusers(n_steps, shift, flow_match_scheduler):
    sched = flow_match_scheduler(shift)
    sched.set_timesteps(sigmas=flow_sigmas(n_steps)[:-1].tolist())  # it shifts them
    ours = flow_sigmas(n_steps, shift=shift)
    assert torch.allclose(
        sched.sigmas.double(), ours, atol=1e-6, rtol=0
    )  # float32 inside


def test_a_shift_keeps_the_ends():
    shifted = flow_sigmas(4, shift=3.0)
    assert shifted[0] == 1 and shifted[-1] == 0


def test_a_shift_is_sd3s_formula():
    s, shifted = flow_sigmas(4), flow_sigmas(4, shift=3.0)
    assert torch.allclose(shifted, 3 * s / (1 + 2 * s), atol=1e-15)


def test_a_shift_moves_the_sigmas_towards_noise():
    s, shifted = flow_sigmas(4), flow_sigmas(4, shift=3.0)
    assert (shifted[1:-1] > s[1:-1]).all()  # shift > 1: more of the steps at high noise


def test_a_shift_by_one_over_s_undoes_a_shift_by_s():
    s = flow_sigmas(4)
    assert torch.allclose(shift_sigmas(shift_sigmas(s, 3.0), 1 / 3), s, atol=1e-15)


def test_a_shift_offsets_half_the_log_snr_by_minus_log_shift():
    # a constant offset in lambda = log((1 - sigma) / sigma), half the log-SNR
    s, shifted = flow_sigmas(4), flow_sigmas(4, shift=3.0)
    lam = lambda x: ((1 - x) / x).log()
    assert torch.allclose(
        lam(shifted[1:-1]) - lam(s[1:-1]), -torch.tensor(3.0, dtype=F64).log()
    )


@pytest.mark.parametrize(
    "n, shift, match",
    [
        pytest.param(10, 0.0, "shift=0.0 is out of range", id="shift"),
        pytest.param(0, 1.0, "n=0 is out of range", id="n"),
    ],
)
def test_flow_sigmas_names_a_bad_argument(n, shift, match):
    with pytest.raises(ValueError, match=match):
        flow_sigmas(n, shift=shift)
