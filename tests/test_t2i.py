"""Chapter 8: the text-conditioned U-Net, its v <-> epsilon wrapper, guidance on embeddings,
the attribute checkers and the prompt-to-image entry point."""

import math

import pytest
import torch

from difflab import registry
from difflab.conversions import eps_from_v, v_target
from difflab.data.shapes import make_shapes
from difflab.guidance import cfg
from difflab.metrics import clip_score, read_attributes
from difflab.models.unet import TextUNet, UNetConfig
from difflab.recipes import T2I_RECIPE, changed
from difflab.saving import load_model, read_training_log, save_model
from difflab.t2i import text_to_image

T2I_CHECKPOINT = registry.CHECKPOINTS / "t2i.safetensors"


@pytest.fixture(scope="module")
def clip():
    return registry.load("clip")


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    recipe = changed(T2I_RECIPE, model={"channels": [8, 16, 16], "emb_dim": 16})
    return registry.FAMILIES["t2i"].ready(registry.build(recipe), recipe).eval()


def test_unet_shapes_and_null_condition():
    net = TextUNet(UNetConfig((8, 16, 16), 512, 16))
    x, t = torch.randn(3, 3, 32, 32), torch.tensor([0, 500, 999])
    assert net(x, t, torch.randn(3, 512)).shape == x.shape
    assert torch.equal(
        net(x, t), net(x, t, torch.zeros(3, 512))
    )  # None means the zero embedding
    with pytest.raises(ValueError, match=r"cond has shape \(3, 7\)"):
        net(x, t, torch.randn(3, 7))
    with pytest.raises(ValueError, match=r"x has shape"):
        net(torch.randn(3, 32, 32), t)


def test_eps_from_v_inverts_v_target():
    x0, eps, abar = (
        torch.randn(4, 3, 8, 8),
        torch.randn(4, 3, 8, 8),
        torch.rand(4, 1, 1, 1),
    )
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    assert torch.allclose(
        eps_from_v(x_t, v_target(x0, eps, abar), abar), eps, atol=1e-5
    )


def test_cfg_accepts_embeddings_and_agrees_in_v_space(small):
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([300, 300])
    c, n = torch.randn(512), torch.randn(2, 512)
    with torch.no_grad():
        assert torch.equal(cfg(small, c, 1.0)(x, t), small(x, t, c.expand(2, 512)))
        got = cfg(small, c, 3.0, negative=n)(x, t)
        f_c, f_n = small(x, t, c.expand(2, 512)), small(x, t, n)
        assert torch.allclose(got, f_n + 3.0 * (f_c - f_n), atol=1e-5)
        # combining v instead of epsilon gives the same epsilon (eps is affine in v, same coefficients)
        abar = small.alphas_cumprod[t][:, None, None, None]
        v_c, v_n = small.net(x, t, c.expand(2, 512)), small.net(x, t, n)
        assert torch.allclose(
            eps_from_v(x, v_n + 3.0 * (v_c - v_n), abar), got, atol=1e-4
        )
    with pytest.raises(
        ValueError,
        match=r"cond of shape \(7,\) must be None or a finite float tensor \(512,\)",
    ):
        cfg(small, torch.randn(7), 2.0)
    with pytest.raises(
        ValueError, match=r"negative .* must be None or a finite float tensor"
    ):
        cfg(small, c, 2.0, negative=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"cond has 3 embeddings but x has 2 points"):
        cfg(small, torch.randn(3, 512), 2.0)(x, t)


def test_read_attributes_on_generator_images():
    data = make_shapes(400, seed=11, split="all")
    got = read_attributes(data.images)
    acc = {
        k: (getattr(got, k) == getattr(data.attributes, k)).float().mean().item()
        for k in got._fields
    }
    assert acc["colour"] == 1.0 and acc["position"] == 1.0, acc
    assert acc["shape"] >= 0.95 and acc["size"] >= 0.95, acc
    empty = read_attributes(torch.zeros(2, 3, 32, 32))
    assert all((a == -1).all() for a in empty), empty
    with pytest.raises(ValueError, match=r"images must be a tensor \(N, 3, 32, 32\)"):
        read_attributes(torch.zeros(2, 32, 32))


def test_clip_score_prefers_the_true_caption(clip):
    data = make_shapes(64, seed=3, split="train")
    right = clip_score(clip, data.images, data.captions)
    wrong = clip_score(clip, data.images, data.captions[1:] + data.captions[:1])
    assert right.mean() > wrong.mean() + 0.1, (right.mean(), wrong.mean())
    with pytest.raises(ValueError, match="64 images but 3 captions"):
        clip_score(clip, data.images, data.captions[:3])


def test_text_to_image_gives_seeded_images_in_the_unit_range(small, clip):
    out = text_to_image(
        ["a red circle", "a blue square"],
        "green",
        scale=2.0,
        steps=2,
        n=2,
        model=small,
        clip=clip,
    )
    assert out.shape == (4, 3, 32, 32) and out.min() >= 0 and out.max() <= 1
    again = text_to_image(
        ["a red circle", "a blue square"],
        "green",
        scale=2.0,
        steps=2,
        n=2,
        model=small,
        clip=clip,
    )
    assert torch.equal(out, again)  # seeded
    # a word the tokenizer never saw is not an error: it becomes the unknown-word token
    assert text_to_image("a zzyzx circle", steps=1, model=small, clip=clip).shape == (
        1,
        3,
        32,
        32,
    )


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        (dict(prompt=""), "prompt='' must be a non-empty string"),
        (dict(prompt=[]), "must be a non-empty string"),
        (dict(prompt="a", negative=" "), "negative=' ' must be a non-empty string"),
        (dict(prompt="a", scale=math.nan), "scale=nan must be a finite real number"),
        (dict(prompt="a", scale=math.inf), "scale=inf must be a finite real number"),
        (dict(prompt="a", steps=0), "steps=0 is out of range: allowed is 1 <= steps"),
        (dict(prompt="a", n=0), "n=0 is out of range: allowed is 1 <= n"),
    ],
    ids=[
        "empty",
        "no prompts",
        "blank negative",
        "nan scale",
        "inf scale",
        "0 steps",
        "n=0",
    ],
)
def test_text_to_image_names_a_bad_argument(small, clip, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        text_to_image(model=small, clip=clip, **kwargs)


def test_checkpoint_of_another_recipe_is_refused(tmp_path, small):
    path = tmp_path / "other.safetensors"
    recipe = changed(T2I_RECIPE, model={"channels": [8, 16, 16], "emb_dim": 16})
    save_model(small.net, path, recipe)
    with pytest.raises(ValueError, match="was made with recipe"):
        registry.load("t2i", path=path)  # the shipped recipe differs


def test_training_loss_falls():
    recipe = changed(
        T2I_RECIPE,
        data={"n_images": 64},
        model={"channels": [8, 16, 16], "emb_dim": 16},
        train={"steps": 30, "batch_size": 16, "ema_decay": 0.0, "warmup_steps": 30},
    )
    _, h = registry.train(recipe, progress=False)
    assert sum(h[-5:]) / 5 < sum(h[:5]) / 5, (h[:5], h[-5:])


def test_shipped_checkpoint_has_under_5_million_parameters():
    model = registry.load("t2i")
    assert sum(p.numel() for p in model.parameters()) < 5_000_000


def test_training_script_runs_under_torchrun_with_two_processes(tmp_path):
    # DistributedDataParallel with the gloo backend: 2 CPU processes, a few steps
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "scripts" / "train.py"
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


def test_unseen_pairs_are_kept_out_of_training_and_in_the_test_prompts(clip):
    from difflab.data.shapes import is_heldout
    from difflab.t2i import is_unseen_pair, unseen_prompts

    recipe = changed(T2I_RECIPE, data={"n_images": 300})
    images, emb = registry.FAMILIES["t2i"].data(recipe)
    made = make_shapes(
        300, recipe["data"]["seed"], split="train", p_omit=recipe["data"]["p_omit"]
    )
    unseen = is_unseen_pair(made.attributes, recipe)
    assert 0 < int(unseen.sum()) < 300 and images.shape[0] == emb.shape[0] == 300 - int(
        unseen.sum()
    )
    assert torch.equal(images, made.images[~unseen] * 2 - 1)
    attrs, prompts = unseen_prompts(recipe)
    assert (
        len(prompts) == 96 and int(is_unseen_pair(attrs, recipe).sum()) == 30
    )  # 72 held out + 24 more of the pairs
    assert bool((is_heldout(attrs) | is_unseen_pair(attrs, recipe)).all())


def test_text_to_image_shows_every_step_to_a_callback(small, clip):
    seen = []
    out = text_to_image(
        "a red circle",
        steps=3,
        model=small,
        clip=clip,
        callback=lambda i, t, x, x0_hat: seen.append((i, x.shape, x0_hat.shape)),
    )
    assert [s[0] for s in seen] == [0, 1, 2] and all(
        s[1] == s[2] == (1, 3, 32, 32) for s in seen
    )
    assert out.shape == (1, 3, 32, 32)


def test_shipped_checkpoint_carries_its_training_log():
    log = read_training_log(T2I_CHECKPOINT)
    assert log["step"] == [1000, 2000, 3000, 4000] and log["scale"] == 2.0
    assert all(
        len(log[k]) == 4
        for k in ("colour", "shape", "size", "position", "colour+shape", "clip")
    )
    assert len(log["loss_per_100_steps"]) == 40
