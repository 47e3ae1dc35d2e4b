import functools

import pytest
import torch

import difflab
from difflab.data import make_spiral
from difflab.models.mlp import MLPConfig, MLPDenoiser
from difflab.schedules import alphas_cumprod, linear_betas
from difflab.losses import ddpm_loss
from difflab.training import TrainConfig, train

ABAR = alphas_cumprod(linear_betas())
LOSS = functools.partial(ddpm_loss, alphas_cumprod=ABAR)


def test_training_lowers_the_loss_and_is_deterministic():
    data = make_spiral(500).x
    cfg = TrainConfig(steps=300, batch_size=128, lr=2e-3, seed=3)
    difflab.seed_everything(0)
    h1 = train(MLPDenoiser(MLPConfig(hidden=32, depth=1)), LOSS, data, cfg)
    difflab.seed_everything(0)
    h2 = train(MLPDenoiser(MLPConfig(hidden=32, depth=1)), LOSS, data, cfg)
    assert h1 == h2
    assert sum(h1[-50:]) / 50 < 0.8 * sum(h1[:50]) / 50


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


def test_bad_config_and_data():
    with pytest.raises(ValueError, match="steps=0"):
        train(
            MLPDenoiser(MLPConfig(hidden=4, depth=1)),
            LOSS,
            make_spiral(10).x,
            TrainConfig(steps=0),
        )
    with pytest.raises(ValueError, match="first dimensions"):
        train(
            MLPDenoiser(MLPConfig(hidden=4, depth=1)),
            LOSS,
            (torch.zeros(5, 2), torch.zeros(4)),
            TrainConfig(steps=1),
        )
    with pytest.raises(FloatingPointError, match="loss became nan"):
        train(
            MLPDenoiser(MLPConfig(hidden=4, depth=1)),
            lambda m, b, g: (
                m(b, torch.zeros(len(b), dtype=torch.long)).sum() * float("nan")
            ),
            make_spiral(10).x,
            TrainConfig(steps=2, batch_size=2),
        )


def test_gradient_noise_same_mean_more_variance_for_a_noisier_target():
    """The last-step loss has the total-noise loss's expected gradient, with a much noisier target."""
    import functools

    from difflab.losses import ddpm_loss, last_step_loss
    from difflab.training import gradient_noise

    torch.manual_seed(0)
    model = MLPDenoiser(MLPConfig(hidden=32, depth=1))
    data = make_spiral(2000).x
    abar = ABAR
    kw = dict(n_batches=32, batch_size=256)
    m_t, v_t = gradient_noise(
        model,
        functools.partial(ddpm_loss, alphas_cumprod=abar),
        data,
        generator=torch.Generator().manual_seed(0),
        **kw,
    )
    m_l, v_l = gradient_noise(
        model,
        functools.partial(last_step_loss, alphas_cumprod=abar),
        data,
        generator=torch.Generator().manual_seed(0),
        **kw,
    )
    assert torch.nn.functional.cosine_similarity(m_t, m_l, dim=0) > 0.9
    assert v_l > 10 * v_t
    assert all(p.grad is None for p in model.parameters())
