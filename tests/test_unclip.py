"""difflab.unclip (Chapter 8b): unCLIP's decoder of CLIP image embeddings, its priors, and the
operations on the shared space (slerp, text diffs). The models here are untrained builds of the
shipped recipes, made small; Chapter 8b measures the shipped ones."""

import pytest
import torch
import torch.nn.functional as F

from difflab import registry, unclip
from difflab.data.shapes import make_shapes
from difflab.recipes import (
    PRIOR_DIFFUSION_RECIPE,
    PRIOR_REGRESSION_RECIPE,
    UNCLIP_DECODER_RECIPE,
    changed,
)

FAST = {"steps": 2}


@pytest.fixture(scope="module")
def decoder():
    recipe = changed(
        UNCLIP_DECODER_RECIPE, model={"channels": [8, 16, 16], "emb_dim": 16}
    )
    return (
        registry.FAMILIES["unclip_decoder"].ready(registry.build(recipe), recipe).eval()
    )


@pytest.fixture(scope="module")
def priors():
    small = {"width": 16, "depth": 1, "time_dim": 8}
    return {
        "diffusion": registry.build(
            changed(PRIOR_DIFFUSION_RECIPE, model=small)
        ).eval(),
        "regression": registry.build(
            changed(PRIOR_REGRESSION_RECIPE, model=small)
        ).eval(),
    }


def unit(*shape, seed=0):
    return F.normalize(
        torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1
    )


def test_slerp_goes_from_a_at_zero_to_b_at_one():
    a, b = unit(3, 512, seed=1), unit(3, 512, seed=2)
    ends = unclip.slerp(a, b, 0.0), unclip.slerp(a, b, 1.0)
    assert torch.allclose(torch.cat(ends), torch.cat([a, b]), atol=1e-5)


def test_slerp_stays_on_the_unit_sphere_halfway():
    mid = unclip.slerp(unit(4, 512, seed=1), unit(4, 512, seed=2), 0.5)
    assert torch.allclose(mid.norm(dim=-1), torch.ones(4), atol=1e-5)


def test_slerp_halfway_is_as_close_to_both_ends():
    a, b = unit(4, 512, seed=1), unit(4, 512, seed=2)
    mid = unclip.slerp(a, b, 0.5)
    assert torch.allclose((mid * a).sum(-1), (mid * b).sum(-1), atol=1e-5)


def test_a_text_diff_of_angle_zero_leaves_the_embedding(shipped_clip):
    z = unit(2, 512)
    out = unclip.text_diff(z, "a red circle", "a blue circle", 0.0, shipped_clip)
    assert torch.allclose(out, z, atol=1e-5)


def test_a_text_diff_of_angle_one_is_the_normalised_difference(shipped_clip):
    t = shipped_clip.encode_text(["a red circle", "a blue circle"]).float()
    out = unclip.text_diff(
        unit(1, 512), "a red circle", "a blue circle", 1.0, shipped_clip
    )
    assert torch.allclose(out[0], F.normalize(t[1] - t[0], dim=-1), atol=1e-5)


def test_variations_give_n_per_image_pictures_in_the_unit_range(decoder, shipped_clip):
    images = make_shapes(3, seed=0).images
    out = unclip.variations(images, 2, decoder=decoder, clip=shipped_clip, **FAST)
    assert out.shape == (6, 3, 32, 32) and out.min() >= 0 and out.max() <= 1


def test_variations_of_one_picture_differ_by_their_noise(decoder, shipped_clip):
    images = make_shapes(1, seed=0).images
    out = unclip.variations(images, 2, decoder=decoder, clip=shipped_clip, **FAST)
    assert not torch.equal(out[0], out[1])


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.rand(2, 1, 32, 32), r"images must be a tensor \(N, 3, 32, 32\)"),
        (torch.rand(2, 3, 16, 16), r"images must be a tensor \(N, 3, 32, 32\)"),
        (torch.rand(2, 3, 32, 32) * 255, r"images must hold finite values in \[0, 1\]"),
        (torch.full((1, 3, 32, 32), float("nan")), r"finite values in \[0, 1\]"),
    ],
)
def test_variations_refuse_pictures_that_are_not_32_by_32_in_the_unit_range(
    bad, match, decoder, shipped_clip
):
    with pytest.raises(ValueError, match=match):
        unclip.variations(bad, decoder=decoder, clip=shipped_clip, **FAST)


@pytest.mark.parametrize(
    "option, match",
    [
        ({"n_per_image": 0}, "n_per_image"),
        ({"scale": float("inf")}, "scale"),
        ({"steps": 0}, "steps"),
    ],
)
def test_variations_refuse_bad_options_by_name(option, match, decoder, shipped_clip):
    images = make_shapes(1, seed=0).images
    with pytest.raises(ValueError, match=match):
        unclip.variations(
            images, decoder=decoder, clip=shipped_clip, **{**FAST, **option}
        )


@pytest.mark.parametrize("prior", unclip.PRIORS)
def test_text_to_image_gives_one_picture_per_prompt(
    prior, decoder, priors, shipped_clip
):
    out = unclip.text_to_image(
        ["a red circle", "a blue square", "a cross"],
        prior=prior,
        decoder=decoder,
        priors=priors,
        clip=shipped_clip,
        **FAST,
    )
    assert out.shape == (3, 3, 32, 32) and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize(
    "prompt, option, match",
    [
        ("a red circle", {"prior": "mean"}, r"prior.*'diffusion', 'regression'"),
        ("", {}, "prompt"),
        ([], {}, "prompt"),
        ("a red circle", {"scale": float("nan")}, "scale"),
    ],
)
def test_text_to_image_refuses_bad_input_by_name(
    prompt, option, match, decoder, priors, shipped_clip
):
    with pytest.raises(ValueError, match=match):
        unclip.text_to_image(
            prompt,
            decoder=decoder,
            priors=priors,
            clip=shipped_clip,
            **{**FAST, **option},
        )


@pytest.mark.parametrize("prior", unclip.PRIORS)
def test_a_prior_answers_unit_image_embeddings(prior, priors):
    z = unclip.sample_prior(priors[prior], unit(5, 512), **FAST)
    assert z.shape == (5, 512)
    assert torch.allclose(z.norm(dim=-1), torch.ones(5), atol=1e-5)


def test_the_diffusion_prior_answers_one_caption_differently_for_each_noise(priors):
    text = unit(1, 512).expand(2, 512)
    z = unclip.sample_prior(priors["diffusion"], text, **FAST)
    assert not torch.allclose(z[0], z[1])


def test_the_regression_prior_answers_one_caption_the_same_every_time(priors):
    text = unit(1, 512).expand(2, 512)
    z = unclip.sample_prior(priors["regression"], text, **FAST)
    assert torch.equal(z[0], z[1])


def test_decoding_the_zero_embedding_is_the_unconditional_model(decoder):
    zero = unclip.decode(torch.zeros(2, 512), scale=3.0, decoder=decoder, **FAST)
    plain = unclip.decode(torch.zeros(2, 512), scale=1.0, decoder=decoder, **FAST)
    assert torch.allclose(zero, plain, atol=1e-6)


def test_kept_counts_the_generators_own_pictures_as_keeping_every_attribute():
    data = make_shapes(40, seed=3)
    shares = unclip.kept(data.attributes, data.images.repeat_interleave(2, 0), 2)
    assert shares["colour"] == 1.0 and shares["position"] == 1.0
    assert shares["shape"] >= 0.95 and shares["size"] >= 0.95


def test_kept_finds_a_changed_colour():
    data = make_shapes(20, seed=3)
    shares = unclip.kept(data.attributes, data.images.flip(1), 1)  # RGB -> BGR
    assert shares["colour"] < 0.5


def test_the_candidate_kept_is_the_one_nearest_its_text():
    text = torch.eye(3)[:2]  # two texts: the first two axes
    candidates = torch.stack(
        [torch.eye(3)[[1, 1]], torch.eye(3)[[0, 2]]]
    )  # (2 candidates, 2 texts, 3)
    kept = unclip.best_candidate(candidates, text)
    assert torch.equal(kept, torch.eye(3)[[0, 1]])


def test_the_prior_refuses_zero_candidates(priors):
    with pytest.raises(ValueError, match="candidates"):
        unclip.sample_prior(priors["diffusion"], unit(1, 512), candidates=0)
