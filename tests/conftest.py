import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # tests draw figures without a screen
os.environ.setdefault("DIFFLAB_FAST", "1")
# the Japanese notebooks (book_ja) fail on a figure label or check line with no translation
os.environ.setdefault("DIFFLAB_I18N_STRICT", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


# --- what several test files share: the schedule, toy models, diffusers set-ups -----------
import pytest  # noqa: E402
import torch  # noqa: E402

from difflab.models.mlp import MLPConfig, MLPDenoiser, VelocityMLP  # noqa: E402
from difflab.schedules import alphas_cumprod, linear_betas  # noqa: E402
from difflab.utils import local_seed  # noqa: E402

F64 = torch.float64


def randn64(*shape, seed=0) -> torch.Tensor:
    """A seeded float64 draw of N(0, I)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.fixture
def abar() -> torch.Tensor:
    """Ho et al. 2020's linear schedule, T = 1000: alphas_cumprod in float64."""
    return alphas_cumprod(linear_betas())


@pytest.fixture
def abar10() -> torch.Tensor:
    """A 10-step linear schedule: enough for the tests of argument checks."""
    return alphas_cumprod(linear_betas(T=10))


def _toy_eps(x, t):
    return torch.tanh(x * 0.7 + t[:, None].to(x.dtype) / 1000)


def _toy_velocity(x, sigma):
    return torch.tanh(0.7 * x + sigma[:, None]) - 0.3 * x


@pytest.fixture(scope="session")
def toy_eps():
    """A smooth epsilon model of (x, t): any serves for an equivalence test."""
    return _toy_eps


@pytest.fixture(scope="session")
def toy_velocity():
    """A smooth velocity field of (x, sigma): any serves for an equivalence test."""
    return _toy_velocity


@pytest.fixture(scope="session")
def small_denoiser():
    """Makes a seeded 16-wide epsilon MLP, untrained, in eval mode:
    ``small_denoiser(n_classes=3, seed=1)``."""

    def make(n_classes=0, seed=0) -> MLPDenoiser:
        with local_seed(seed):
            return MLPDenoiser(
                MLPConfig(hidden=16, depth=1, n_classes=n_classes)
            ).eval()

    return make


@pytest.fixture(scope="session")
def small_velocity_model():
    """Makes a seeded 32-wide velocity MLP, untrained: ``small_velocity_model(seed=0)``."""

    def make(seed=0) -> VelocityMLP:
        with local_seed(seed):
            return VelocityMLP(MLPConfig(hidden=32, depth=1, time_dim=16))

    return make


def _book_schedule(sched):
    """A diffusers scheduler on the book's float64 linear schedule (its own is float32)."""
    sched.betas = linear_betas()
    sched.alphas = 1 - sched.betas
    sched.alphas_cumprod = alphas_cumprod(sched.betas)
    sched.final_alpha_cumprod = torch.tensor(1.0, dtype=F64)
    return sched


@pytest.fixture
def ddpm_scheduler():
    """Makes diffusers' DDPMScheduler as the book's DDPM: linear betas, no clipping, in
    float64; ``ddpm_scheduler(book_schedule=False)`` keeps diffusers' own float32 tables,
    ``beta_schedule`` picks diffusers' schedule."""
    from diffusers import DDPMScheduler

    def make(beta_schedule="linear", *, book_schedule=True, T=1000):
        sched = DDPMScheduler(
            num_train_timesteps=T, beta_schedule=beta_schedule, clip_sample=False
        )
        return _book_schedule(sched) if book_schedule else sched

    return make


@pytest.fixture
def ddim_scheduler():
    """Makes diffusers' DDIMScheduler as the book's DDIM: linear betas, no clipping, the
    last step to abar = 1, in float64: ``ddim_scheduler("trailing")``."""
    from diffusers import DDIMScheduler

    def make(spacing="leading", T=1000):
        return _book_schedule(
            DDIMScheduler(
                num_train_timesteps=T,
                beta_schedule="linear",
                clip_sample=False,
                set_alpha_to_one=True,
                timestep_spacing=spacing,
            )
        )

    return make


@pytest.fixture
def dpm_solver_scheduler():
    """Makes diffusers' DPMSolverMultistepScheduler as the book's DPM-Solver++(2M):
    second order to the end, the last step to sigma = 0, "trailing" spacing;
    ``dpm_solver_scheduler("sde-dpmsolver++")`` for the SDE variant."""
    from diffusers import DPMSolverMultistepScheduler

    def make(algorithm_type="dpmsolver++", T=1000):
        return DPMSolverMultistepScheduler(
            num_train_timesteps=T,
            beta_schedule="linear",
            algorithm_type=algorithm_type,
            solver_order=2,
            lower_order_final=False,
            final_sigmas_type="zero",
            timestep_spacing="trailing",
        )

    return make


@pytest.fixture
def flow_match_scheduler():
    """Makes diffusers' FlowMatchEulerDiscreteScheduler (SD3's sampler) with a shift:
    ``flow_match_scheduler(shift=3.0)``."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    def make(shift=1.0, T=1000):
        return FlowMatchEulerDiscreteScheduler(num_train_timesteps=T, shift=shift)

    return make


# --- Chapter 8's models: the shipped CLIP, a small text-to-image model ----------------------


@pytest.fixture(scope="session")
def shipped_clip():
    """The CLIP the package ships (registry.load("clip")), loaded once."""
    from difflab import registry

    return registry.load("clip")


@pytest.fixture(scope="session")
def small_t2i():
    """A small untrained text-to-image model (the t2i recipe with a narrow U-Net), wrapped
    as the registry wraps the shipped one: an epsilon model of (x, t, text embeddings)."""
    from difflab import registry
    from difflab.recipes import T2I_RECIPE, changed

    recipe = changed(T2I_RECIPE, model={"channels": [8, 16, 16], "emb_dim": 16})
    return registry.FAMILIES["t2i"].ready(registry.build(recipe), recipe).eval()
