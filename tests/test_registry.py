"""The book's models by name: one table, one shape for every family, one seed rule, and shipped
files that match their recipes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from difflab import recipes, registry
from difflab.data.scenes import make_scenes
from difflab.data.shapes import is_pair, make_shapes
from difflab.metrics import region_shares, w2_ratio
from difflab.models.clip import CLIP
from difflab.models.latent_unet import LatentUNet
from difflab.models.mlp import MLPConfig, MLPDenoiser, VelocityMLP
from difflab.models.unet import EpsFromV
from difflab.models.vae import VAE
from difflab.samplers import ddpm_sample
from difflab.saving import load_model, read_recipe, read_training_log, save_model
from difflab.schedules import spaced_timesteps
from difflab.training import train
from difflab.utils import seed_everything

ROOT = Path(__file__).resolve().parents[1]
NAMES = list(registry.MODELS)


def test_every_recipe_names_a_known_family():
    assert {r["family"] for r in registry.MODELS.values()} <= set(registry.FAMILIES)


@pytest.mark.parametrize("name", NAMES)
def test_shipped_file_records_the_current_recipe(name):
    path = registry.CHECKPOINTS / f"{name}.safetensors"
    assert read_recipe(path) == json.loads(json.dumps(registry.MODELS[name]))


@pytest.mark.parametrize("name", NAMES)
def test_shipped_file_is_small(name):
    assert (registry.CHECKPOINTS / f"{name}.safetensors").stat().st_size < 6_000_000


@pytest.mark.parametrize("name", NAMES)
def test_load_gives_the_model_in_eval_mode(name):
    assert not registry.load(name).training


@pytest.mark.parametrize("name", [n for n in NAMES if n != "spiral_flow_reflow"])
def test_build_gives_the_architecture_load_fills(name):
    built, loaded = registry.build(name), registry.load(name)
    wrapped = registry.recipe_of(name)["family"] in ("t2i", "unclip_decoder", "latent")
    net = loaded.net if wrapped else loaded  # the wrapper holds its U-Net
    assert {k: v.shape for k, v in built.state_dict().items()} == {
        k: v.shape for k, v in net.state_dict().items()
    }


def test_build_leaves_the_process_random_state_alone():
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    registry.build("spiral_ddpm")
    assert torch.equal(torch.random.get_rng_state(), before)


def test_build_draws_the_initial_weights_from_the_recipe_init_seed():
    built = registry.build("spiral_ddpm")
    seed_everything(recipes.SPIRAL_DDPM["init_seed"])
    ref = MLPDenoiser(MLPConfig(**recipes.SPIRAL_DDPM["model"]))
    for (k, v), r in zip(built.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(v, r), k


def test_reflow_starts_from_its_base_model_weights():
    base, start = registry.load("spiral_flow"), registry.build("spiral_flow_reflow")
    for k, v in base.state_dict().items():
        assert torch.equal(v, start.state_dict()[k]), k


def test_an_unknown_name_is_refused_with_the_names():
    with pytest.raises(ValueError, match="the names are clip, spiral_ddpm"):
        registry.load("spiral")


def test_a_recipe_without_a_known_family_is_refused():
    with pytest.raises(ValueError, match="known families are denoiser"):
        registry.build({**recipes.SPIRAL_DDPM, "family": "gan"})


def test_a_checkpoint_of_another_recipe_is_refused(tmp_path, small_t2i):
    path = tmp_path / "other.safetensors"
    recipe = recipes.changed(
        recipes.T2I_RECIPE, model={"channels": [8, 16, 16], "emb_dim": 16}
    )
    save_model(small_t2i.net, path, recipe)
    with pytest.raises(ValueError, match="was made with recipe"):
        registry.load("t2i", path=path)  # the shipped recipe differs


@pytest.mark.parametrize("name", ["spiral_ddpm", "clip"])
def test_a_missing_file_says_how_to_make_it(name, tmp_path):
    with pytest.raises(FileNotFoundError, match=f"scripts/train.py --model {name}"):
        registry.load(name, path=tmp_path / "missing.safetensors")


def test_train_with_fewer_steps_returns_one_loss_per_step():
    model, history = registry.train("spiral_ddpm", steps=5, progress=False)
    assert len(history) == 5 and not model.training


def test_parts_are_what_the_one_loop_trains():
    model, loss, data, config = registry.parts(
        recipes.changed(recipes.SPIRAL_DDPM, train={"steps": 5})
    )
    looped = train(model, loss, data, config, progress=False)
    _, history = registry.train("spiral_ddpm", steps=5, progress=False)
    assert looped == history


def test_clip_file_log_is_reproduced_by_its_recipe():
    # The recipe, rerun for its first 20 steps, gives the losses the checkpoint recorded.
    log = read_training_log(registry.CHECKPOINTS / "clip.safetensors")
    model, loss, data, config = registry.parts("clip")
    losses = train(model, loss, data, config, stop_at=20, progress=False)
    assert losses == pytest.approx(log["first_losses"][:20], rel=2e-3)


def test_shipped_denoiser_samples_the_spiral():
    g = torch.Generator().manual_seed(0)
    x = ddpm_sample(
        registry.load("spiral_ddpm"),
        torch.randn(2000, 2, generator=g),
        range(999, -1, -1),
        registry.schedule("spiral_ddpm"),
        generator=g,
    )
    assert w2_ratio(x, 0) < 2.0


@pytest.mark.parametrize("scale,low,high", [(1.0, 0.6, 0.9), (3.0, 0.95, 1.0)])
def test_shipped_conditional_model_follows_its_class_as_the_chapters_say(
    scale, low, high
):
    """Conditioning alone leaks (overlapping labels, share 0.6-0.9); s = 3 repairs it."""
    from difflab.guidance import cfg

    model, abar = registry.load("spiral_cond"), registry.schedule("spiral_cond")
    for part in range(3):
        g = torch.Generator().manual_seed(part)
        x = ddpm_sample(
            cfg(model, part, scale),
            torch.randn(500, 2, generator=g),
            spaced_timesteps(1000, 100),
            abar,
            generator=g,
        )
        assert low <= region_shares(x)[part].item() <= high, (part, scale)


def test_scripts_hold_one_training_script():
    assert sorted(p.name for p in (ROOT / "scripts").glob("train*.py")) == ["train.py"]


def test_the_training_script_writes_a_file_the_registry_loads(tmp_path):
    out = tmp_path / "m.safetensors"
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), "--model", "spiral_ddpm"]
    run = subprocess.run(
        [*cmd, "--steps", "3", "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        env={**os.environ, "DIFFLAB_DEVICE": "cpu"},
    )
    assert run.returncode == 0, run.stderr
    assert read_training_log(out)["steps"] == 3
    assert isinstance(load_model(out), MLPDenoiser)  # any recipe: no check


def test_the_training_script_resumes_where_it_stopped(tmp_path):
    out = tmp_path / "m.safetensors"
    cmd = [sys.executable, str(ROOT / "scripts" / "train.py"), "--model", "spiral_ddpm"]
    cmd += ["--steps", "6", "--save-every", "1", "--out", str(out), "--no-progress"]
    env = {**os.environ, "DIFFLAB_DEVICE": "cpu"}
    subprocess.run([*cmd, "--stop-at", "3"], check=True, capture_output=True, env=env)
    again = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert again.returncode != 0 and "--resume" in again.stderr
    subprocess.run([*cmd, "--resume"], check=True, capture_output=True, env=env)
    straight = tmp_path / "straight.safetensors"
    cmd[cmd.index(str(out))] = str(straight)
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    assert (
        read_training_log(out)["final_loss"]
        == read_training_log(straight)["final_loss"]
    )


def test_building_a_model_leaves_the_process_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    registry.build("spiral_ddpm"), registry.build("spiral_ddpm")
    registry.build("clip"), registry.build("clip")
    assert torch.equal(torch.rand(3), expected)  # nothing reseeded or consumed


@pytest.mark.parametrize("name", ["spiral_ddpm", "clip"])
def test_build_gives_the_same_weights_each_time(name):
    a, b = registry.build(name), registry.build(name)
    assert all(
        torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict()
    )


def test_the_flow_recipe_starts_from_the_ddpm_recipes_weights():
    # the velocity network is the denoiser network fed sigma * 1000: the recipes'
    # networks start alike
    a, b = registry.build("spiral_flow"), registry.build("spiral_ddpm")
    assert all(torch.equal(v, b.state_dict()[k[4:]]) for k, v in a.state_dict().items())


# --- the shipped flow models (Chapter 4b) ------------------------------------------------

FLOW_MODELS = ["spiral_flow", "spiral_flow_logit_normal", "spiral_flow_reflow"]


@pytest.mark.parametrize("name", FLOW_MODELS)
def test_shipped_flow_files_record_their_recipes(name):
    path = registry.CHECKPOINTS / f"{name}.safetensors"
    assert read_recipe(path) == registry.MODELS[name]


@pytest.mark.parametrize("name", FLOW_MODELS)
def test_shipped_flow_files_are_under_2_mb(name):
    path = registry.CHECKPOINTS / f"{name}.safetensors"
    assert path.stat().st_size < 2_000_000


@pytest.mark.parametrize("name", FLOW_MODELS)
def test_shipped_flow_files_load_as_velocity_networks(name):
    assert isinstance(registry.load(name), VelocityMLP)


# --- the latent-space chapter's models ------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls",
    [
        pytest.param("scene_clip", CLIP, id="scene_clip"),
        pytest.param("vae", VAE, id="vae"),
        pytest.param("latent", LatentUNet, id="latent"),
        pytest.param("latent_pooled", LatentUNet, id="latent_pooled"),
    ],
)
def test_build_gives_the_latent_chapters_networks(name, cls):
    assert isinstance(registry.build(name), cls)


@pytest.mark.parametrize(
    "name, conditioning",
    [("latent", "cross_attention"), ("latent_pooled", "pooled")],
)
def test_the_latent_recipes_differ_in_their_conditioning(name, conditioning):
    assert registry.build(name).config.conditioning == conditioning


def test_the_latent_denoiser_reads_token_states_as_wide_as_the_scene_clips():
    width = registry.build("scene_clip").config.text_width
    assert registry.build("latent").config.cond_dim == width


def test_the_pooled_control_reads_embeddings_as_wide_as_the_scene_clips():
    dim = registry.build("scene_clip").config.embed_dim
    assert registry.build("latent_pooled").config.cond_dim == dim


def test_a_ready_latent_denoiser_predicts_epsilon_on_the_recipes_schedule():
    model = registry.FAMILIES["latent"].ready(
        registry.build("latent"), registry.recipe_of("latent")
    )
    assert isinstance(model, EpsFromV) and torch.equal(
        model.alphas_cumprod, registry.schedule("latent").float()
    )


def test_the_scene_clip_knows_the_scenes_words():
    clip = registry.build("scene_clip")
    assert (
        clip.tokenizer.unknown_words("a red circle to the left of a blue square") == []
    )


# --- what the latent denoisers read of a caption

CAPTIONS = ["a red circle", "a small blue square to the left of a green cross"]


@pytest.fixture(scope="module")
def scene_clip():
    return registry.build("scene_clip").eval()


@pytest.fixture(scope="module")
def token_states(scene_clip):
    """The cross-attention condition of CAPTIONS, and where the tokenizer pads them."""
    states = registry.text_condition(scene_clip, CAPTIONS, "cross_attention")
    ids = scene_clip.tokenizer.encode(CAPTIONS)[:, : states.shape[1]]
    return states, ids == scene_clip.tokenizer.pad_id


def test_text_condition_gives_a_state_per_token(token_states):
    states, _ = token_states
    assert states.shape == (2, 13, 64)  # <bos>, 11 words, <eos>


def test_text_condition_is_zero_at_the_padding(token_states):
    states, pad = token_states
    assert pad.any() and (states[pad] == 0).all()


def test_text_condition_is_nonzero_at_every_token(token_states):
    states, pad = token_states
    assert (states[~pad].abs().sum(-1) > 0).all()


def test_text_condition_pooled_gives_unit_vectors_of_512(scene_clip):
    emb = registry.text_condition(scene_clip, CAPTIONS, "pooled")
    assert emb.shape == (2, 512) and torch.allclose(emb.norm(dim=1), torch.ones(2))


def test_text_condition_pooled_is_the_clip_text_embedding(scene_clip):
    with torch.no_grad():
        expected = scene_clip.encode_text(CAPTIONS)
    assert torch.equal(
        registry.text_condition(scene_clip, CAPTIONS, "pooled"), expected
    )


# --- the latent-space chapter's images

SMALL_DATA = {"n_single": 300, "n_scenes": 10, "seed": 0, "p_omit": 0.3}


@pytest.fixture(scope="module")
def latent_data():
    """latent_images of SMALL_DATA, the single shapes it draws from, and which of those
    are Chapter 8's unseen pairs."""
    single = make_shapes(300, 0, split="train", p_omit=0.3)
    unseen = is_pair(single.attributes, recipes.T2I_RECIPE["data"]["unseen_pairs"])
    return registry.latent_images(SMALL_DATA), single, unseen


def test_latent_images_leave_out_chapter_8s_unseen_pairs(latent_data):
    (images, _), single, unseen = latent_data
    kept = 300 - int(unseen.sum())
    assert kept < 300 and torch.equal(images[:kept], single.images[~unseen])


def test_latent_images_end_with_the_training_scenes(latent_data):
    (images, _), _, _ = latent_data
    assert torch.equal(images[-10:], make_scenes(10, 0, split="train").images)


def test_latent_images_hold_nothing_else(latent_data):
    (images, _), _, unseen = latent_data
    assert len(images) == 300 - int(unseen.sum()) + 10


def test_latent_images_give_each_image_its_caption(latent_data):
    (_, captions), single, unseen = latent_data
    kept = [c for c, u in zip(single.captions, unseen.tolist()) if not u]
    assert captions == kept + make_scenes(10, 0, split="train").captions


# --- the autoencoder's scale

SMALL_VAE = recipes.changed(recipes.VAE_RECIPE, data={"n_single": 200, "n_scenes": 200})


def _posterior_mean_std(vae, recipe):
    with torch.no_grad():
        return vae.encode(registry.latent_images(recipe["data"])[0])[0].std().item()


def test_finishing_the_vae_sets_its_scaling_factor_to_one_over_the_latents_std():
    vae = registry.build(SMALL_VAE)
    registry.FAMILIES["vae"].finish(vae, SMALL_VAE)
    expected = 1 / _posterior_mean_std(vae, SMALL_VAE)
    assert vae.scaling_factor.item() == pytest.approx(expected, rel=1e-5)
    assert vae.scaling_factor.item() != pytest.approx(1.0, rel=1e-2)


def test_training_the_vae_to_its_last_step_measures_its_scale():
    recipe = recipes.changed(SMALL_VAE, train={"steps": 2, "batch_size": 8})
    model, _ = registry.train(recipe, progress=False)
    assert model.scaling_factor.item() == pytest.approx(
        1 / _posterior_mean_std(model, recipe), rel=1e-5
    )


def test_a_loaded_vae_keeps_its_scaling_factor(tmp_path):
    vae = registry.build("vae")
    vae.scaling_factor.fill_(0.3)
    save_model(vae, tmp_path / "vae.safetensors", registry.MODELS["vae"])
    loaded = registry.load("vae", path=tmp_path / "vae.safetensors")
    assert loaded.scaling_factor.item() == pytest.approx(0.3)


def test_a_latent_file_loads_as_the_ready_denoiser(tmp_path):
    save_model(
        registry.build("latent"), tmp_path / "l.safetensors", registry.MODELS["latent"]
    )
    assert isinstance(
        registry.load("latent", path=tmp_path / "l.safetensors"), EpsFromV
    )


def _few(recipe: dict) -> dict:
    return recipes.changed(recipe, data={"n_images": 40})


@pytest.mark.parametrize(
    "family, reads", [("t2i", "text"), ("unclip_decoder", "image")]
)
def test_a_pixel_model_reads_clip_embeddings_of_chapter_8s_pictures(
    family, reads, shipped_clip
):
    # Chapter 8 reads its captions' text embeddings, unCLIP's decoder the pictures' own
    recipe = _few(registry.MODELS[family])
    images, cond = registry.FAMILIES[family].data(recipe)
    pictures, captions = registry.t2i_images(recipe["data"])
    want = (
        shipped_clip.encode_text(captions)
        if reads == "text"
        else shipped_clip.encode_image(pictures)
    )
    assert torch.equal(images, pictures * 2 - 1)
    assert torch.allclose(cond, want, atol=1e-5)


def test_the_priors_read_the_embeddings_of_matching_captions_with_pictures(
    shipped_clip,
):
    recipe = _few(recipes.PRIOR_DIFFUSION_RECIPE)
    text, image = registry.FAMILIES["prior"].data(recipe)
    pictures, captions = registry.t2i_images(recipe["data"])
    assert torch.allclose(text, shipped_clip.encode_text(captions), atol=1e-5)
    assert torch.allclose(image, shipped_clip.encode_image(pictures), atol=1e-5)


def test_the_two_priors_differ_only_in_their_kind():
    a, b = recipes.PRIOR_DIFFUSION_RECIPE, recipes.PRIOR_REGRESSION_RECIPE
    assert recipes.changed(a, model={"kind": "regression"}) == b


def test_video_latents_are_every_frame_through_the_autoencoder_scaled():
    from difflab.data.clips import make_clips

    vae = registry.load("vae")
    clips = make_clips(3, seed=0).clips
    z = registry.video_latents(vae, clips)
    with torch.no_grad():
        one = vae.encode(clips[1, 4:5])[0] * vae.scaling_factor
    assert z.shape == (3, 8, 4, 8, 8)
    assert torch.allclose(z[1, 4:5], one, atol=1e-5)


def test_the_video_model_reads_the_clip_clips_token_states():
    recipe = registry.MODELS["video"]
    assert recipe["text"] == registry.MODELS["video_clip"]
    assert recipe["model"]["cond_dim"] == recipe["text"]["model"]["text_width"]
