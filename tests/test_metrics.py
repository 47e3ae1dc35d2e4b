"""difflab.metrics: moment z-scores, W2 and the spiral's scores, the parts of the spiral,
the class pull, path straightness, the attribute reader and the CLIP score."""

import math

import pytest
import torch
from conftest import F64, randn64

from difflab.data import make_shapes, make_spiral, spiral_curve
from difflab.data.scenes import make_scenes
from difflab.denoisers import ExactCondDenoiser, ExactDenoiser
from difflab.flow_samplers import euler_sample, sample_path
from difflab.metrics import (
    OFF_SPIRAL,
    class_pull,
    clip_score,
    evenness,
    median_r,
    median_w2_ratio,
    moment_z_scores,
    nearest_ratio,
    part_w2_ratio,
    path_straightness,
    pull_cosine,
    read_attributes,
    read_scene,
    region_shares,
    spiral_coverage,
    spiral_region,
    spread,
    w2,
    w2_ratio,
)
from difflab.samplers import ddim_sample, ddpm_sample
from difflab.schedules import flow_sigmas, q_sample, spaced_timesteps

# --- moments and W2 -----------------------------------------------------------------------

X_MOMENTS = torch.randn(10_000, 3, generator=torch.Generator().manual_seed(0)) * 2 + 1


def test_z_scores_are_small_for_the_right_prediction():
    zm, zv = moment_z_scores(X_MOMENTS, 1.0, 4.0)
    assert zm.abs().max() < 5 and zv.abs().max() < 5


def test_z_scores_are_large_for_a_wrong_prediction():
    zm, zv = moment_z_scores(X_MOMENTS, 1.1, 4.4)
    assert zm.abs().min() > 3 and zv.abs().min() > 3


def test_bad_shape():
    with pytest.raises(ValueError, match=r"samples has shape \(5,\)"):
        moment_z_scores(torch.zeros(5), 0, 1)


def test_w2_of_a_shift_is_its_length():
    x = randn64(300, 2, seed=0)
    assert abs(w2(x, x + torch.tensor([0.3, 0.4], dtype=F64)) - 0.5) < 1e-9


def test_w2_of_a_cloud_to_itself_is_zero():
    x = randn64(300, 2, seed=0)
    assert w2(x, x) < 1e-6


@pytest.mark.parametrize(
    "x, y, match",
    [
        pytest.param(
            torch.zeros(3, 2),
            torch.zeros(3, 3),
            r"x \(3, 2\) and y \(3, 3\).*same d",
            id="y",
        ),
        pytest.param(
            torch.full((3, 2), float("nan")),
            torch.zeros(3, 2),
            "x or y contains NaN",
            id="x-nan",
        ),
    ],
)
def test_w2_names_a_bad_argument(x, y, match):
    with pytest.raises(ValueError, match=match):
        w2(x, y)


# --- the spiral's scores ---------------------------------------------------------------------

FRESH = make_spiral(2000, seed=123).x
COLLAPSED = torch.zeros(100, 2) + torch.tensor([0.3, 0.0])


def test_fresh_spiral_points_score_as_the_spiral():
    assert 0.6 < w2_ratio(FRESH) < 1.6


def test_fresh_spiral_points_cover_the_spiral():
    assert spiral_coverage(FRESH) == 1.0


def test_collapsed_points_cover_almost_nothing():
    assert spiral_coverage(COLLAPSED) <= 0.04 and spread(COLLAPSED) == 0.0


def test_the_spread_of_fresh_points_is_the_spirals():
    assert abs(spread(FRESH) - 1.46) < 0.05


@pytest.mark.parametrize("k", [3, 5])
def test_spiral_region_finds_the_part_of_jittered_points(k):
    sample = make_spiral(3000, seed=1, n_parts=k)
    region = spiral_region(sample.x, n_parts=k)
    # jittered points are assigned their own part, except a few next to a boundary or past 3.3 sigma
    assert (region == sample.part).float().mean() > 0.99


MIDS = spiral_curve(torch.tensor([1 / 6, 3 / 6, 5 / 6])).float()
# the centre, far outside, and half-way between two arms are off the spiral
# (0, 3.5 pi / 7) lies half-way between the arms at theta = 2.5 pi and 4.5 pi, both straight above the centre
OFF = torch.tensor([[0.0, 0.0], [3.0, 3.0], [0.0, 3.5 * math.pi / 7]])


def test_spiral_region_of_the_middle_of_each_part():
    # points on the curve in the middle of each part
    assert spiral_region(MIDS).tolist() == [0, 1, 2]


def test_spiral_region_marks_points_off_the_spiral():
    assert (spiral_region(OFF) == OFF_SPIRAL).all()


def test_region_shares_are_the_share_of_each_region():
    shares = region_shares(torch.cat([MIDS, OFF[:2]]))
    assert torch.allclose(shares, torch.tensor([0.2, 0.2, 0.2, 0.4], dtype=F64))


@pytest.mark.parametrize(
    "x, options, match",
    [
        pytest.param(torch.zeros(4), {}, r"x has shape \(4,\)", id="x"),
        pytest.param(
            torch.zeros(4, 2),
            {"n_parts": 0},
            r"n_parts=0 is out of range",
            id="n_parts",
        ),
        pytest.param(
            torch.zeros(4, 2),
            {"max_dist": -0.1},
            r"max_dist=-0.1 is out of range",
            id="max_dist",
        ),
        pytest.param(
            torch.full((4, 2), float("nan")), {}, "x contains NaN", id="x-nan"
        ),
    ],
)
def test_spiral_region_names_a_bad_argument(x, options, match):
    with pytest.raises(ValueError, match=match):
        spiral_region(x, **options)


def _part_ratios():
    ratio_fresh = part_w2_ratio(make_spiral(3000, seed=5).x, 1)
    sample = make_spiral(20_000, seed=6)
    # a fifth of part 1 only
    bunched = sample.x[(sample.u > 0.45) & (sample.u < 0.55)][:1000]
    return ratio_fresh, bunched


def test_part_w2_ratio_scores_fresh_points_as_the_part():
    ratio_fresh, _ = _part_ratios()
    assert 0.5 < ratio_fresh < 1.6, ratio_fresh


def test_part_w2_ratio_sees_diversity_loss():
    ratio_fresh, bunched = _part_ratios()
    ratio_bunched = part_w2_ratio(bunched, 1)
    assert ratio_bunched > 2 * ratio_fresh, (ratio_fresh, ratio_bunched)


def test_part_w2_ratio_names_an_empty_part():
    _, bunched = _part_ratios()
    with pytest.raises(ValueError, match="only 0 points of x lie in part 2"):
        part_w2_ratio(bunched, 2)


def test_evenness_of_equal_counts_is_one():
    assert evenness(torch.arange(6).repeat(5), 6) == pytest.approx(1.0)


def test_evenness_of_one_class_is_zero():
    assert evenness(torch.zeros(10, dtype=torch.long), 6) == pytest.approx(0.0)


def test_evenness_skips_what_was_not_found():
    # -1 (not found) is skipped
    assert 0 < evenness(torch.tensor([0, 0, 0, 1, -1]), 3) < 1


def test_evenness_names_a_value_out_of_range():
    with pytest.raises(ValueError, match="k=3"):
        evenness(torch.tensor([0, 5]), 3)


def _memorised(abar, train):
    g = torch.Generator().manual_seed(0)
    return ddpm_sample(
        ExactDenoiser(train, abar),
        torch.randn(500, 2, generator=g),
        list(range(990, -1, -10)),
        abar,
        generator=g,
    )


def test_nearest_ratio_tells_a_memoriser(abar):
    train, fresh = make_spiral(200, seed=0).x, make_spiral(500, seed=7).x
    # the exact denoiser lands on training points
    assert nearest_ratio(_memorised(abar, train), train, fresh) < 0.1


def test_nearest_ratio_of_fresh_data_is_about_one():
    train, fresh = make_spiral(200, seed=0).x, make_spiral(500, seed=7).x
    assert 0.7 < nearest_ratio(make_spiral(500, seed=8).x, train, fresh) < 1.4


# --- medians over seeds --------------------------------------------------------------------


def test_median_w2_ratio_is_the_median_of_the_seeds_own_ratios(small_denoiser, abar):
    model = small_denoiser()
    sample = lambda x, g: ddim_sample(
        model, x, spaced_timesteps(1000, 4), abar, generator=g
    )
    r, rs, xs = median_w2_ratio(sample, 200)
    by_hand = []
    for s in (0, 1, 2):
        g = torch.Generator().manual_seed(s)
        by_hand.append(w2_ratio(sample(torch.randn(200, 2, generator=g), g), s))
    assert rs == by_hand and r == sorted(by_hand)[1] and len(xs) == 3


def test_median_r_is_the_median_w2_ratio_of_the_sampler(abar):
    ts = spaced_timesteps(1000, 4, "trailing")
    model = lambda x, t: 0.1 * x
    r, rs, xs = median_w2_ratio(lambda x, g: ddim_sample(model, x, ts, abar), 200)
    got_r, got_rs, got_xs = median_r(ddim_sample, model, ts, abar, n=200)
    assert (got_r, got_rs) == (r, rs)
    assert all(torch.equal(a, b) for a, b in zip(got_xs, xs, strict=True))


# --- the class pull (Chapters 5 and 6) ------------------------------------------------------


def _pull(model, abar, t=100, **options):
    probe = make_spiral(200, seed=2).x
    return class_pull(
        model,
        probe,
        t,
        abar,
        n_classes=3,
        generator=torch.Generator().manual_seed(0),
        **options,
    )


def test_class_pull_is_zero_for_a_model_blind_to_the_class(abar):
    blind = ExactDenoiser(make_spiral(900, seed=1).x, abar)  # ignores cond: no pull
    assert _pull(blind, abar).pull < 1e-6


def test_class_pull_repeats_with_the_generator(abar):
    data = make_spiral(900, seed=1)
    exact = ExactCondDenoiser(data.x, data.part, abar)
    # same generator state, same points
    assert _pull(exact, abar).pull == _pull(exact, abar).pull


def test_disjoint_classes_pull_hard_at_low_noise(abar):
    data = make_spiral(900, seed=1)
    exact = ExactCondDenoiser(data.x, data.part, abar)
    assert _pull(exact, abar).pull > 0.5


def test_class_pull_names_a_bad_step(abar):
    data = make_spiral(900, seed=1)
    exact = ExactCondDenoiser(data.x, data.part, abar)
    probe = make_spiral(200, seed=2).x
    with pytest.raises(ValueError, match="t=1000 is out of range"):
        class_pull(exact, probe, 1000, abar, n_classes=3, generator=torch.Generator())


def _labelled(abar, rotate=0):
    data = make_spiral(900, seed=1, label_noise=0.2)
    return ExactCondDenoiser(data.x, (data.label + rotate) % 3, abar)


def test_class_pull_has_a_field_per_class(abar):
    m = _pull(_labelled(abar), abar, t=300)
    assert m.field.shape == (3, 200, 2)


def test_class_pull_relative_is_its_share_of_the_prediction(abar):
    exact = _labelled(abar)
    m = _pull(exact, abar, t=300)
    probe = make_spiral(200, seed=2).x
    noise = torch.randn(probe.shape, generator=torch.Generator().manual_seed(0))
    xt = q_sample(probe, 300, abar, noise)
    f_u = exact(xt, torch.full((200,), 300), None)
    assert abs(m.relative - m.pull / f_u.norm(dim=1).mean().item()) < 1e-6


@pytest.mark.parametrize(
    "other, cosine",
    [
        pytest.param(lambda f: f, 1.0, id="itself"),
        pytest.param(lambda f: -f, -1.0, id="opposite"),
        pytest.param(
            lambda f: torch.stack([-f[..., 1], f[..., 0]], dim=-1), 0.0, id="turned-90"
        ),
    ],
)
def test_pull_cosine_reads_directions(other, cosine, abar):
    # by hand: a pull field against itself, its opposite, itself turned by 90 degrees
    f = _pull(_labelled(abar), abar, t=300).field
    assert abs(pull_cosine(f, other(f)) - cosine) < 1e-9


def test_pull_cosine_against_zero_is_zero(abar):
    f = _pull(_labelled(abar), abar, t=300).field
    assert pull_cosine(f, torch.zeros_like(f)) == 0


def test_rotated_class_ids_pull_as_hard(abar):
    # the same data with the class ids rotated (c -> c + 1): the pull of class c is now
    # another class's, equal in size ...
    m, r = _pull(_labelled(abar), abar, t=300), _pull(_labelled(abar, 1), abar, t=300)
    assert abs(r.pull - m.pull) < 1e-6


def test_rotated_class_ids_pull_elsewhere(abar):
    # ... and pointing elsewhere (measured: -0.39)
    m, r = _pull(_labelled(abar), abar, t=300), _pull(_labelled(abar, 1), abar, t=300)
    assert pull_cosine(r.field, m.field) < 0


def test_pull_cosine_names_fields_of_two_shapes(abar):
    f = _pull(_labelled(abar), abar, t=300).field
    with pytest.raises(ValueError, match="same shape"):
        pull_cosine(f, f[:2])


# --- path straightness (Chapter 4b) -----------------------------------------------------------


def test_a_line_has_straightness_one():
    line = torch.linspace(0, 1, 11, dtype=F64)[:, None, None] * torch.tensor(
        [[3.0, 4.0]]
    )
    assert torch.allclose(path_straightness(line), torch.ones(1, dtype=F64), atol=1e-12)


def test_a_right_angle_has_straightness_root_two():
    bent = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]], [[1.0, 1.0]]], dtype=F64)
    assert torch.allclose(path_straightness(bent), torch.tensor([2**0.5], dtype=F64))


def test_a_constant_velocity_gives_straight_paths():
    # a velocity that does not depend on x or sigma gives straight paths
    x = randn64(20, 2)
    const = sample_path(
        euler_sample, lambda x, s: torch.ones_like(x), x, flow_sigmas(30)
    )
    assert torch.allclose(path_straightness(const), torch.ones(20, dtype=F64))


def test_a_rotating_velocity_bends_the_paths():
    x = randn64(20, 2)
    rot = lambda x, s: torch.stack([-x[:, 1], x[:, 0]], 1) + x
    curved = sample_path(euler_sample, rot, x, flow_sigmas(30))
    assert curved.shape == (31, 20, 2) and (path_straightness(curved) > 1.01).all()


# --- reading pictures (Chapter 8) ---------------------------------------------------------


@pytest.fixture(scope="module")
def accuracy():
    """The share of 400 images whose each attribute read_attributes reads right."""
    data = make_shapes(400, seed=11, split="all")
    got = read_attributes(data.images)
    return {
        k: (getattr(got, k) == getattr(data.attributes, k)).float().mean().item()
        for k in got._fields
    }


@pytest.mark.parametrize("attribute", ["colour", "position"])
def test_read_attributes_reads_it_exactly(accuracy, attribute):
    assert accuracy[attribute] == 1.0, accuracy


@pytest.mark.parametrize("attribute", ["shape", "size"])
def test_read_attributes_reads_it_nearly_always(accuracy, attribute):
    assert accuracy[attribute] >= 0.95, accuracy


def test_read_attributes_of_an_empty_image_is_not_found():
    empty = read_attributes(torch.zeros(2, 3, 32, 32))
    assert all((a == -1).all() for a in empty), empty


def test_read_attributes_names_bad_images():
    with pytest.raises(ValueError, match=r"images must be a tensor \(N, 3, 32, 32\)"):
        read_attributes(torch.zeros(2, 32, 32))


def test_clip_score_prefers_the_true_caption(shipped_clip):
    data = make_shapes(64, seed=3, split="train")
    right = clip_score(shipped_clip, data.images, data.captions)
    wrong = clip_score(shipped_clip, data.images, data.captions[1:] + data.captions[:1])
    assert right.mean() > wrong.mean() + 0.1, (right.mean(), wrong.mean())


def test_clip_score_names_captions_of_another_count(shipped_clip):
    data = make_shapes(64, seed=3, split="train")
    with pytest.raises(ValueError, match="64 images but 3 captions"):
        clip_score(shipped_clip, data.images, data.captions[:3])


# --- reading two-object scenes (the latent-space chapter) ---------------------------------


@pytest.fixture(scope="module")
def scenes():
    """500 rendered two-object scenes of every pair, and what read_scene reads of them."""
    data = make_scenes(500, seed=5, split="all")
    return data.scene, read_scene(data.images)


def test_read_scene_gives_a_row_per_side(scenes):
    _, got = scenes
    assert all(a.shape == (2, 500) for a in got)


def test_read_scene_reads_both_objects_nearly_always(scenes):
    scene, got = scenes
    right = ((got.shape == scene.shape) & (got.colour == scene.colour)).all(0)
    assert right.float().mean() >= 0.95, right.float().mean()


def test_read_scene_reads_the_colours_exactly(scenes):
    scene, got = scenes
    assert torch.equal(got.colour, scene.colour)


def test_read_scene_of_an_empty_half_is_not_found():
    images = make_scenes(4, seed=0).images
    images[..., 16:] = 0  # the right half black
    assert all((a[1] == -1).all() for a in read_scene(images))


def test_read_scene_finds_the_object_beside_an_empty_half():
    images = make_scenes(4, seed=0).images
    images[..., 16:] = 0
    assert all((a[0] >= 0).all() for a in read_scene(images))


def test_read_scene_names_bad_images():
    with pytest.raises(ValueError, match=r"images must be a tensor \(N, 3, 32, 32\)"):
        read_scene(torch.zeros(2, 32, 32))
