import pytest
import torch

from difflab.data import make_spiral, project_to_spiral, spiral_curve
from difflab.data.spiral import part_of


def test_make_spiral_returns_what_it_documents():
    d = make_spiral(500, seed=1, n_parts=4)
    assert d.x.shape == (500, 2) and d.x.dtype == torch.float32
    assert d.u.shape == (500,) and 0 <= d.u.min() and d.u.max() <= 1
    assert d.part.dtype == torch.long and set(d.part.tolist()) == {0, 1, 2, 3}
    assert torch.equal(d.part, part_of(d.u, 4))


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
    "kwargs,match",
    [
        (dict(n=0), "n=0"),
        (dict(n=-3), "n=-3"),
        (dict(n=10, jitter=-0.1), "jitter=-0.1"),
        (dict(n=10, n_parts=0), "n_parts=0"),
        (dict(n=10, seed=-1), "seed=-1"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_spiral(**kwargs)


def test_non_integer_n_is_rejected():
    with pytest.raises(TypeError, match="n=2.5"):
        make_spiral(2.5)


def test_project_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"expected \(n, 2\)"):
        project_to_spiral(torch.zeros(5, 3))


def test_label_noise_relabels_a_share_with_another_part():
    from difflab.data import label_probs

    clean = make_spiral(30_000, seed=2, n_parts=3)
    noisy = make_spiral(30_000, seed=2, n_parts=3, label_noise=0.2)
    assert torch.equal(clean.label, clean.part), (
        "without label noise the label is the part"
    )
    assert torch.equal(clean.x, noisy.x) and torch.equal(clean.part, noisy.part), (
        "labels must not move the points"
    )
    changed = noisy.label != noisy.part
    assert abs(changed.float().mean().item() - 0.2) < 0.01
    # the new label is one of the other parts, each equally often: p(label | part) = label_probs
    table = torch.stack(
        [
            torch.bincount(noisy.label[noisy.part == k], minlength=3).double()
            / (noisy.part == k).sum()
            for k in range(3)
        ]
    )
    assert (table - label_probs(3, 0.2)).abs().max() < 0.015
    assert torch.allclose(
        label_probs(4, 0.3).sum(1), torch.ones(4, dtype=torch.float64)
    )
    assert label_probs(3, 0.3)[0].tolist() == pytest.approx([0.7, 0.15, 0.15])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(n=10, label_noise=1.5), "label_noise=1.5"),
        (dict(n=10, label_noise=-0.1), "label_noise=-0.1"),
        (dict(n=10, n_parts=1, label_noise=0.2), "needs n_parts >= 2"),
    ],
)
def test_bad_label_noise_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_spiral(**kwargs)
