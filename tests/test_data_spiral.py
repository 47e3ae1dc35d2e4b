"""difflab.data.spiral: the 2-D spiral of the early chapters: seeded points near the\ncurve, their parts and (noisy) labels, and the projection back onto the curve."""

import pytest
import torch

from difflab.data import label_probs, make_spiral, project_to_spiral, spiral_curve
from difflab.data.spiral import part_of

SPIRAL = make_spiral(500, seed=1, n_parts=4)


def test_make_spiral_gives_n_float32_points():
    assert SPIRAL.x.shape == (500, 2) and SPIRAL.x.dtype == torch.float32


def test_make_spiral_positions_lie_in_the_unit_interval():
    u = SPIRAL.u
    assert u.shape == (500,) and 0 <= u.min() and u.max() <= 1


def test_make_spiral_parts_are_the_parts_of_the_positions():
    part = SPIRAL.part
    assert part.dtype == torch.long and set(part.tolist()) == {0, 1, 2, 3}
    assert torch.equal(part, part_of(SPIRAL.u, 4))


def test_make_spiral_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    before = torch.randn(3)
    torch.manual_seed(0)
    make_spiral(100, seed=5)
    after = torch.randn(3)
    assert torch.equal(before, after), (
        "make_spiral must not draw from the global generator"
    )


def test_same_seed_same_points():
    a = make_spiral(100, seed=5)
    assert torch.equal(a.x, make_spiral(100, seed=5).x)
    assert not torch.equal(a.x, make_spiral(100, seed=6).x)


def test_points_lie_near_the_curve():
    d = make_spiral(4000, seed=0, jitter=0.03)
    dist = (d.x.double() - spiral_curve(d.u)).norm(dim=1)
    # |N(0, 0.03^2 I_2)| has mean 0.03 * sqrt(pi / 2) = 0.0376
    assert abs(dist.mean().item() - 0.0376) < 0.003


def test_each_coordinate_has_unit_scale():
    d = make_spiral(4000, seed=0, jitter=0.03)
    assert (d.x.std(0) - 1).abs().max() < 0.15, (
        "each coordinate should have a std close to 1"
    )


def test_project_to_spiral_recovers_positions():
    s = torch.rand(200, dtype=torch.float64)
    s_hat, dist = project_to_spiral(spiral_curve(s))
    assert (s_hat.double() - s).abs().max() < 1e-3 and dist.max() < 1e-2


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        pytest.param({"n": 0}, ValueError, "n=0", id="n"),
        pytest.param({"n": -3}, ValueError, "n=-3", id="n-negative"),
        pytest.param({"n": 2.5}, TypeError, "n=2.5", id="n-float"),
        pytest.param({"n": 10, "jitter": -0.1}, ValueError, "jitter=-0.1", id="jitter"),
        pytest.param({"n": 10, "n_parts": 0}, ValueError, "n_parts=0", id="n_parts"),
        pytest.param({"n": 10, "seed": -1}, ValueError, "seed=-1", id="seed"),
    ],
)
def test_bad_arguments_are_named(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_spiral(**kwargs)


def test_project_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"x has shape \(5, 3\); expected \(n, 2\)"):
        project_to_spiral(torch.zeros(5, 3))


@pytest.fixture(scope="module")
def labelled():
    """The same 30,000 points without and with 20% label noise."""
    clean = make_spiral(30_000, seed=2, n_parts=3)
    return clean, make_spiral(30_000, seed=2, n_parts=3, label_noise=0.2)


def test_without_label_noise_the_label_is_the_part(labelled):
    clean, _ = labelled
    assert torch.equal(clean.label, clean.part)


def test_label_noise_leaves_the_points_alone(labelled):
    clean, noisy = labelled
    assert torch.equal(clean.x, noisy.x) and torch.equal(clean.part, noisy.part), (
        "labels must not move the points"
    )


def test_label_noise_relabels_its_share(labelled):
    _, noisy = labelled
    changed = noisy.label != noisy.part
    assert abs(changed.float().mean().item() - 0.2) < 0.01


def test_label_noise_relabels_with_another_part_each_equally_often(labelled):
    # the new label is one of the other parts: p(label | part) = label_probs
    _, noisy = labelled
    table = torch.stack(
        [
            torch.bincount(noisy.label[noisy.part == k], minlength=3).double()
            / (noisy.part == k).sum()
            for k in range(3)
        ]
    )
    assert (table - label_probs(3, 0.2)).abs().max() < 0.015


def test_label_probs_rows_are_distributions():
    assert torch.allclose(
        label_probs(4, 0.3).sum(1), torch.ones(4, dtype=torch.float64)
    )


def test_label_probs_share_the_noise_among_the_other_parts():
    assert label_probs(3, 0.3)[0].tolist() == pytest.approx([0.7, 0.15, 0.15])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        pytest.param(
            {"n": 10, "label_noise": 1.5}, "label_noise=1.5", id="label_noise"
        ),
        pytest.param(
            {"n": 10, "label_noise": -0.1},
            "label_noise=-0.1",
            id="label_noise-negative",
        ),
        pytest.param(
            {"n": 10, "n_parts": 1, "label_noise": 0.2},
            "label_noise=0.2 needs n_parts >= 2",
            id="n_parts",
        ),
    ],
)
def test_bad_label_noise_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_spiral(**kwargs)
