"""difflab.training: the one training loop (seeded, resumable, on a tensor or a batch
function, under autocast or DistributedDataParallel), its learning-rate schedule, and the
gradient-noise measurement."""

import functools
import math
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

import difflab
from difflab import registry
from difflab.data import make_spiral
from difflab.losses import ddpm_loss, last_step_loss
from difflab.models.mlp import MLPConfig, MLPDenoiser
from difflab.recipes import SPIRAL_DDPM, changed
from difflab.saving import load_model, read_training_log
from difflab.schedules import alphas_cumprod, linear_betas
from difflab.training import TrainConfig, gradient_noise, lr_factor, train

# the loss's schedule: fixtures cannot reach a module-level constant
LOSS = functools.partial(ddpm_loss, alphas_cumprod=alphas_cumprod(linear_betas()))


def _run():
    data = make_spiral(500).x
    cfg = TrainConfig(steps=300, batch_size=128, lr=2e-3, seed=3)
    difflab.seed_everything(0)
    return train(MLPDenoiser(MLPConfig(hidden=32, depth=1)), LOSS, data, cfg)


def test_training_lowers_the_loss():
    h = _run()
    assert sum(h[-50:]) / 50 < 0.8 * sum(h[:50]) / 50


def test_training_is_deterministic():
    assert _run() == _run()


def test_resume_after_interruption_gives_the_same_run(tmp_path):
    data = make_spiral(300).x
    ckpt = tmp_path / "run.pt"
    full_cfg = TrainConfig(steps=60, batch_size=32, seed=1)
    difflab.seed_everything(0)
    m_full = MLPDenoiser(MLPConfig(hidden=16, depth=1))
    h_full = train(m_full, LOSS, data, full_cfg)

    difflab.seed_everything(0)
    m = MLPDenoiser(MLPConfig(hidden=16, depth=1))

    class Stop(Exception):
        pass

    def interrupted_loss(model, batch, gen, calls=[0]):
        calls[0] += 1
        if calls[0] == 41:
            raise Stop
        return LOSS(model, batch, gen)

    with pytest.raises(Stop):
        train(m, interrupted_loss, data, full_cfg, state=ckpt, save_every=20)
    m2 = MLPDenoiser(
        MLPConfig(hidden=16, depth=1)
    )  # a fresh process would start from new weights
    h_resumed = train(m2, LOSS, data, full_cfg, state=ckpt, save_every=20)
    assert len(h_resumed) == 60
    assert torch.allclose(torch.tensor(h_resumed), torch.tensor(h_full), rtol=1e-5)
    for a, b in zip(m2.parameters(), m_full.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def _nan_loss(m, b, g):
    return m(b, torch.zeros(len(b), dtype=torch.long)).sum() * float("nan")


@pytest.mark.parametrize(
    "loss, data, config, error, match",
    [
        (LOSS, lambda: make_spiral(10).x, TrainConfig(steps=0), ValueError, "steps=0"),
        (
            LOSS,
            lambda: (torch.zeros(5, 2), torch.zeros(4)),
            TrainConfig(steps=1),
            ValueError,
            "data tensors have first dimensions",
        ),
        (
            _nan_loss,
            lambda: make_spiral(10).x,
            TrainConfig(steps=2, batch_size=2),
            FloatingPointError,
            "loss became nan",
        ),
    ],
    ids=["steps", "data", "loss"],
)
def test_train_names_what_is_wrong(loss, data, config, error, match):
    with pytest.raises(error, match=match):
        train(MLPDenoiser(MLPConfig(hidden=4, depth=1)), loss, data(), config)


@pytest.fixture(scope="module")
def gradient_noises():
    """The last-step loss and the total-noise loss: (mean, variance) of their gradients."""
    with difflab.local_seed(0):
        model = MLPDenoiser(MLPConfig(hidden=32, depth=1))
    data = make_spiral(2000).x
    abar = alphas_cumprod(linear_betas())
    kw = {"n_batches": 32, "batch_size": 256}
    measured = {
        name: gradient_noise(
            model,
            functools.partial(loss, alphas_cumprod=abar),
            data,
            generator=torch.Generator().manual_seed(0),
            **kw,
        )
        for name, loss in (("total", ddpm_loss), ("last", last_step_loss))
    }
    return model, measured


def test_the_last_step_loss_has_the_same_mean_gradient(gradient_noises):
    """The last-step loss has the total-noise loss's expected gradient..."""
    _, g = gradient_noises
    (m_t, _), (m_l, _) = g["total"], g["last"]
    assert torch.nn.functional.cosine_similarity(m_t, m_l, dim=0) > 0.9


def test_the_last_step_loss_has_a_much_noisier_gradient(gradient_noises):
    """...with a much noisier target."""
    _, g = gradient_noises
    (_, v_t), (_, v_l) = g["total"], g["last"]
    assert v_l > 10 * v_t


def test_gradient_noise_leaves_no_gradient_behind(gradient_noises):
    model, _ = gradient_noises
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", list(registry.MODELS))
def test_one_step_under_bf16_autocast_gives_float32s_loss_closely(name):
    # the mixed-precision path of scripts/train.py on CUDA, exercised here on the CPU
    recipe = changed(registry.recipe_of(name), train={"steps": 1, "batch_size": 32})
    losses = {}
    for dtype in (None, torch.bfloat16):
        model, loss, data, config = registry.parts(recipe)
        losses[dtype] = train(model, loss, data, config, progress=False, autocast=dtype)
    (full,), (mixed,) = losses[None], losses[torch.bfloat16]
    assert math.isfinite(mixed)
    assert abs(mixed - full) <= 1e-2 * abs(full)


def test_autocast_runs_the_network_in_bf16():
    model, loss, data, config = registry.parts(
        changed(SPIRAL_DDPM, train={"steps": 1, "batch_size": 8})
    )
    seen = []
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    first.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    train(model, loss, data, config, progress=False, autocast=torch.bfloat16)
    assert seen == [torch.bfloat16]


def _model():
    with difflab.local_seed(0):
        return MLPDenoiser(MLPConfig(hidden=16, depth=1)).eval()


def _batches():
    data = torch.randn(256, 2, generator=torch.Generator().manual_seed(0))
    return lambda step, g: data[torch.randint(0, 256, (32,), generator=g)]


CFG = TrainConfig(
    steps=8, batch_size=32, warmup_steps=2, min_lr_share=0.0, adam_betas=(0.9, 0.98)
)


def test_stop_at_stops_the_loop_after_that_many_steps(tmp_path):
    state = tmp_path / "s.state.pt"
    losses = train(
        _model(), LOSS, _batches(), CFG, state=state, stop_at=3, progress=False
    )
    assert len(losses) == 3


def test_the_loop_resumes_a_run_on_a_batch_function(tmp_path):
    h1 = train(_model(), LOSS, _batches(), CFG, progress=False)
    state = tmp_path / "s.state.pt"
    train(_model(), LOSS, _batches(), CFG, state=state, stop_at=3, progress=False)
    h2 = train(_model(), LOSS, _batches(), CFG, state=state, progress=False)
    assert h1 == h2  # the same batches and steps after a resume


def test_the_learning_rate_warms_up_from_half():
    assert lr_factor(0, CFG) == 0.5


def test_clips_cosine_ends_at_0():
    assert lr_factor(CFG.steps, CFG) == 0.0


def test_the_spirals_cosine_ends_at_a_tenth_of_the_rate():
    assert abs(lr_factor(CFG.steps, TrainConfig(steps=8, warmup_steps=2)) - 0.1) < 1e-12


def test_difflab_device_cpu_gives_the_same_training_step(monkeypatch):
    def run():
        dev = difflab.device()
        model = _model().to(dev).train()
        history = train(
            model,
            LOSS,
            torch.randn(64, 2, generator=torch.Generator().manual_seed(3)).to(dev),
            TrainConfig(steps=2, batch_size=16, warmup_steps=1),
        )
        weights = {k: v.cpu() for k, v in model.state_dict().items()}
        return history, weights, dev.type

    monkeypatch.delenv("DIFFLAB_DEVICE", raising=False)
    default = run()
    monkeypatch.setenv("DIFFLAB_DEVICE", "cpu")
    cpu = run()
    assert cpu[2] == "cpu"  # DIFFLAB_DEVICE=cpu is obeyed
    if default[2] == "cpu":  # no accelerator: the very same computation, bit for bit
        assert default[0] == cpu[0]
        assert all(torch.equal(default[1][k], cpu[1][k]) for k in cpu[1])


def test_training_script_runs_under_torchrun_with_two_processes(tmp_path):
    # DistributedDataParallel with the gloo backend: 2 CPU processes, a few steps
    script = ROOT / "scripts" / "train.py"
    out = tmp_path / "ddp.safetensors"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += ["--nproc_per_node", "2", str(script), "--model", "spiral_ddpm"]
    cmd += ["--steps", "4", "--batch-size", "8", "--out", str(out), "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1", DIFFLAB_DEVICE="cpu")
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    log = read_training_log(out)
    assert "2 x cpu" in log["trained_with"] and log["steps"] == 4
    assert math.isfinite(log["final_loss"])
    assert load_model(out).config.hidden == 128
