"""difflab.latent: the latent-space chapter's prompt-to-image path (scene CLIP, latent
denoiser, DDIM on latents, VAE decoder), its held-out two-object prompts and how pictures
of them are read. The models here are untrained builds of the shipped recipes."""

import copy
import re
import warnings

import pytest
import torch
from conftest import F64, randn64

from difflab import registry
from difflab.data.scenes import (
    HELDOUT_TEMPLATES,
    Scene,
    is_heldout_pair,
    render_scenes,
    swap_colours,
)
from difflab.data.shapes import COLOURS, WORDS
from difflab.guidance import cfg
from difflab.latent import (
    binding_shares,
    painted_share,
    scaling_factor,
    scene_prompts,
    text_to_image,
    word_attention,
)
from difflab.metrics import read_scene
from difflab.models.unet import EpsFromV
from difflab.recipes import LATENT_POOLED_RECIPE, LATENT_RECIPE, changed
from difflab.samplers import ddim_sample
from difflab.schedules import cosine_betas, spaced_timesteps
from difflab.utils import local_seed

SMALL = {"channels": [16, 32], "emb_dim": 16}


def randomised(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``module`` with every parameter that starts at zero (cross-attention's output
    layers) drawn at random, so that the prompt shows in what it computes."""
    with local_seed(seed), torch.no_grad():
        for p in module.parameters():
            if not p.any():
                p.normal_(0, 0.2)
    return module


def _denoiser(recipe):
    recipe = changed(recipe, model=SMALL)
    net = randomised(registry.build(recipe))
    return registry.FAMILIES["latent"].ready(net, recipe).eval()


@pytest.fixture(scope="module")
def models():
    """(a small latent denoiser that attends to words, the VAE, the scene CLIP), untrained."""
    return (
        _denoiser(LATENT_RECIPE),
        registry.build("vae").eval(),
        registry.build("scene_clip").eval(),
    )


def _draw(
    models, prompt=("a red circle", "a blue square to the left of a green cross"), **kw
):
    model, vae, clip = models
    kw.setdefault("steps", 2)
    return text_to_image(list(prompt), model=model, vae=vae, clip=clip, **kw)


# --- text_to_image --------------------------------------------------------------------------


def test_text_to_image_gives_an_image_per_prompt(models):
    assert _draw(models).shape == (2, 3, 32, 32)


def test_text_to_image_gives_images_in_the_unit_range(models):
    out = _draw(models)
    assert out.min() >= 0 and out.max() <= 1


def test_text_to_image_is_seeded(models):
    assert torch.equal(_draw(models, seed=3), _draw(models, seed=3))


def test_another_seed_draws_other_images(models):
    assert not torch.equal(_draw(models, seed=3), _draw(models, seed=4))


def test_the_prompt_changes_the_image(models):
    a = _draw(models, prompt=["a red circle"], seed=1)
    b = _draw(models, prompt=["a blue square"], seed=1)
    assert not torch.equal(a, b)


def test_a_negative_prompt_changes_the_image(models):
    assert not torch.equal(_draw(models), _draw(models, negative="green"))


def test_text_to_image_shows_every_step_to_a_callback(models):
    seen = []
    _draw(
        models,
        steps=3,
        callback=lambda i, t, z, z0: seen.append((i, z.shape, z0.shape)),
    )
    assert seen == [(i, (2, 4, 8, 8), (2, 4, 8, 8)) for i in range(3)]


def test_text_to_image_decodes_the_latent_divided_by_the_scaling_factor(models):
    # a VAE whose scaling factor is 2 and whose first decoder layer is twice as strong
    # decodes z / 2 as the other decodes z / 1: the same images
    model, vae, clip = models
    doubled = copy.deepcopy(vae)
    with torch.no_grad():
        doubled.scaling_factor.fill_(2.0)
        doubled.decoder[0].weight.mul_(2.0)
    assert torch.allclose(_draw(models), _draw((model, doubled, clip)), atol=1e-6)


def test_the_pooled_control_draws_from_one_embedding(models):
    _, vae, clip = models
    model = _denoiser(LATENT_POOLED_RECIPE)
    out = _draw((model, vae, clip), conditioning="pooled")
    assert out.shape == (2, 3, 32, 32)


def test_an_unknown_word_is_named_in_a_warning(models):
    with pytest.warns(UserWarning, match=r"does not know the words \['zzyzx'\]"):
        _draw(models, prompt=["a zzyzx circle"], steps=1)


def test_an_unknown_word_of_the_negative_prompt_is_named_in_a_warning(models):
    with pytest.warns(UserWarning, match="zzyzx"):
        _draw(models, prompt=["a red circle"], negative="zzyzx", steps=1)


def test_a_prompt_of_known_words_gives_no_warning(models):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _draw(models, steps=1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param(
            {"prompt": ""}, "prompt='' must be a non-empty string", id="prompt"
        ),
        pytest.param(
            {"prompt": []}, r"prompt=\[\] must be a non-empty string", id="prompt-list"
        ),
        pytest.param(
            {"negative": ""}, "negative='' must be a non-empty string", id="negative"
        ),
        pytest.param(
            {"scale": float("nan")},
            "scale=nan must be a finite real number",
            id="scale",
        ),
        pytest.param(
            {"steps": 0}, "steps=0 is out of range: allowed is 1 <= steps", id="steps"
        ),
        pytest.param(
            {"conditioning": "bag"},
            "conditioning='bag' is not allowed; use 'cross_attention' or 'pooled'",
            id="conditioning",
        ),
    ],
)
def test_text_to_image_names_a_bad_argument(models, kwargs, match):
    model, vae, clip = models
    kwargs = {"prompt": "a red circle", "steps": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        text_to_image(model=model, vae=vae, clip=clip, **kwargs)


# --- DDIM on the latents, against diffusers -------------------------------------------------


@pytest.fixture
def float64_latent_model():
    """(the small latent denoiser's network, it wrapped as an epsilon model) in float64, on
    the cosine schedule in float64."""
    recipe = changed(LATENT_RECIPE, model=SMALL)
    net = randomised(registry.build(recipe)).double().eval()
    model = EpsFromV(net, registry.schedule(recipe)).double()
    model.alphas_cumprod.copy_(registry.schedule(recipe))  # not rounded to float32
    return net, model


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_ddim_on_the_latent_model_matches_diffusers_in_float64(
    float64_latent_model, prediction
):
    from diffusers import DDIMScheduler

    net, model = float64_latent_model
    abar = registry.schedule(LATENT_RECIPE)
    sched = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        clip_sample=False,
        set_alpha_to_one=True,
        timestep_spacing="trailing",
        prediction_type=prediction,
    )
    sched.betas = cosine_betas()
    sched.alphas = 1 - sched.betas
    sched.alphas_cumprod = abar
    sched.final_alpha_cumprod = torch.tensor(1.0, dtype=F64)
    sched.set_timesteps(10)
    assert sched.timesteps.tolist() == spaced_timesteps(1000, 10)
    cond, z = randn64(2, 5, 64, seed=1), randn64(2, 4, 8, 8, seed=2)
    guided = cfg(model, cond, 3.0)
    ref = z.clone()
    with torch.no_grad():
        for t in sched.timesteps:
            tt = t.repeat(2)
            if prediction == "epsilon":
                out = guided(ref, tt)
            else:  # guidance combined in v gives the same update (Chapter 8)
                v_c, v_n = net(ref, tt, cond), net(ref, tt)
                out = v_n + 3.0 * (v_c - v_n)
            ref = sched.step(out, t, ref, eta=0.0).prev_sample
        ours = ddim_sample(guided, z.clone(), spaced_timesteps(1000, 10), abar)
    err = (ours - ref).abs().max().item()
    assert ref.abs().max() > 0.1 and err < 1e-6, f"max |ours - diffusers| = {err:.2e}"


# --- the held-out two-object prompts --------------------------------------------------------


def _parse(prompt: str) -> dict | None:
    """The noun phrases L and R of a prompt in a held-out template, or None."""
    fill = {
        "{art_l}": "(?:a|an)",
        "{art_r}": "(?:a|an)",
        "{L}": "(?P<L>.+?)",
        "{R}": "(?P<R>.+?)",
    }
    for template in HELDOUT_TEMPLATES:
        parts = re.split(r"(\{\w+\})", template)
        m = re.fullmatch("".join(fill.get(p, re.escape(p)) for p in parts), prompt)
        if m:
            return m.groupdict()
    return None


def _names(noun_phrase: str, shape: int, colour: int) -> bool:
    return any(
        noun_phrase == f"{c} {s}"
        for c in WORDS["colour"][colour]
        for s in WORDS["shape"][shape]
    )


def test_scene_prompts_give_every_held_out_pair_twice():
    scene, prompts = scene_prompts(repeats=2)
    assert len(prompts) == scene.shape.shape[1] == 136


def test_scene_prompts_hold_only_held_out_pairs():
    scene, _ = scene_prompts()
    assert is_heldout_pair(scene).all()


def test_scene_prompts_use_the_held_out_templates():
    _, prompts = scene_prompts()
    assert all(_parse(p) for p in prompts)


def test_scene_prompts_name_each_object_on_its_side():
    scene, prompts = scene_prompts()
    for i, p in enumerate(prompts):
        m = _parse(p)
        assert _names(m["L"], scene.shape[0, i], scene.colour[0, i]), p
        assert _names(m["R"], scene.shape[1, i], scene.colour[1, i]), p


def test_scene_prompts_are_seeded():
    assert scene_prompts(seed=1)[1] == scene_prompts(seed=1)[1]


def test_another_seed_words_the_prompts_otherwise():
    assert scene_prompts(seed=1)[1] != scene_prompts(seed=2)[1]


# --- reading pictures of two objects --------------------------------------------------------


@pytest.fixture(scope="module")
def held_out_renders():
    """The held-out scenes, pictures of them, and pictures of them with colours swapped."""
    scene, _ = scene_prompts(repeats=1)
    right = render_scenes(scene, torch.Generator().manual_seed(0))
    swapped = render_scenes(swap_colours(scene), torch.Generator().manual_seed(0))
    return scene, right, swapped


def test_binding_shares_of_pictures_of_the_scenes_are_nearly_all_both_right(
    held_out_renders,
):
    scene, right, _ = held_out_renders
    assert binding_shares(right, scene)["both"] >= 0.95


def test_binding_shares_of_colour_swapped_pictures_are_nearly_all_swapped(
    held_out_renders,
):
    scene, _, swapped = held_out_renders
    assert binding_shares(swapped, scene)["swapped"] >= 0.95


def test_colour_swapped_pictures_never_have_both_objects_right(held_out_renders):
    scene, _, swapped = held_out_renders
    assert binding_shares(swapped, scene)["both"] == 0.0


def test_binding_shares_of_what_read_scene_reads_are_exact(held_out_renders):
    _, right, _ = held_out_renders
    read = read_scene(right)
    assert binding_shares(right, read) == {
        "both": 1.0,
        "swapped": 0.0,
        "wrong colour": 0.0,
        "colours": 1.0,
        "sides": 1.0,
    }


def test_sides_are_none_right_when_every_picture_swaps_its_colours(held_out_renders):
    _, right, _ = held_out_renders
    read = read_scene(right)
    swapped = Scene(read.shape, read.colour.flip(0), read.size)
    shares = binding_shares(right, swapped)
    assert (shares["colours"], shares["sides"]) == (1.0, 0.0)


def test_a_colour_in_neither_object_is_a_wrong_colour():
    # red circle | blue square asked for, yellow circle | green square drawn
    asked = Scene(
        torch.tensor([[0] * 4, [1] * 4]), torch.tensor([[0] * 4, [4] * 4]), None
    )
    drawn = Scene(
        asked.shape, torch.tensor([[2] * 4, [3] * 4]), torch.zeros(2, 4).long()
    )
    images = render_scenes(drawn, torch.Generator().manual_seed(0))
    assert binding_shares(images, asked)["wrong colour"] == 1.0


# --- where each word looks ------------------------------------------------------------------

PROMPT = "a red circle to the left of a blue square"


@pytest.fixture(scope="module")
def attention(models):
    model, _, clip = models
    z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    return word_attention(model, PROMPT, 500, z, clip)


def test_word_attention_gives_a_map_per_word_over_the_latent_grid(attention):
    maps, words = attention
    assert maps.shape == (2, len(words), 8, 8)


def test_word_attention_maps_sum_to_one_over_the_grid(attention):
    maps, _ = attention
    assert torch.allclose(maps.sum((2, 3)), torch.ones(maps.shape[:2]), atol=1e-5)


def test_word_attention_names_the_prompts_tokens(attention):
    _, words = attention
    assert words == ["<bos>", *PROMPT.split(), "<eos>"]


def test_word_attention_leaves_the_model_keeping_no_weights(models, attention):
    model, _, _ = models
    assert all(not a.keep and a.weights is None for a in model.net.attend)


def _maps_on(sides: dict[str, int]) -> tuple[torch.Tensor, list[str]]:
    """Maps (1, words, 8, 8) of PROMPT in which each word of ``sides`` looks only at its
    half (0: columns 0-3, 1: columns 4-7), the other words everywhere."""
    words = ["<bos>", *PROMPT.split(), "<eos>"]
    maps = torch.full((1, len(words), 8, 8), 1 / 64)
    for word, side in sides.items():
        i = words.index(word)
        maps[0, i] = 0
        maps[0, i, :, 4 * side : 4 * side + 4] = 1 / 32
    return maps, words


def _red_left_blue_right() -> torch.Tensor:
    """One picture: a red circle on the left, a blue square on the right."""
    scene = Scene(
        torch.tensor([[0], [1]]), torch.tensor([[0], [4]]), torch.ones(2, 1).long()
    )
    return render_scenes(scene, torch.Generator().manual_seed(0))


RED_BLUE = (COLOURS.index("red"), COLOURS.index("blue"))


def test_painted_share_is_one_when_each_colour_looks_at_its_object():
    maps, words = _maps_on({"red": 0, "blue": 1})
    assert painted_share(maps, words, _red_left_blue_right(), RED_BLUE) == 1.0


def test_painted_share_is_zero_when_the_colours_look_at_the_other_object():
    maps, words = _maps_on({"red": 1, "blue": 0})
    assert painted_share(maps, words, _red_left_blue_right(), RED_BLUE) == 0.0


def test_painted_share_follows_the_paint_not_the_side():
    # the same maps on a picture painted the other way round: the words look at the
    # wrong colours now
    maps, words = _maps_on({"red": 0, "blue": 1})
    flipped = _red_left_blue_right().flip(-1)
    assert painted_share(maps, words, flipped, RED_BLUE) == 0.0


# --- the latents' scale ---------------------------------------------------------------------


def test_scaling_factor_is_one_over_the_std_of_the_posterior_means(models):
    _, vae, _ = models
    images = render_scenes(
        scene_prompts(repeats=1)[0], torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        expected = 1 / vae.encode(images)[0].std().item()
    assert scaling_factor(vae, images) == pytest.approx(expected, rel=1e-5)
