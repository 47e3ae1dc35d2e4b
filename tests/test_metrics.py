import math

import pytest
import torch

from difflab.metrics import moment_z_scores


def test_z_scores_small_for_right_prediction_large_for_wrong():
    x = torch.randn(10_000, 3, generator=torch.Generator().manual_seed(0)) * 2 + 1
    zm, zv = moment_z_scores(x, 1.0, 4.0)
    assert zm.abs().max() < 5 and zv.abs().max() < 5
    zm, zv = moment_z_scores(x, 1.1, 4.4)
    assert zm.abs().min() > 3 and zv.abs().min() > 3


def test_bad_shape():
    with pytest.raises(ValueError, match=r"samples has shape \(5,\)"):
        moment_z_scores(torch.zeros(5), 0, 1)


def test_w2_of_a_shift_is_its_length():
    from difflab.metrics import w2

    x = torch.randn(
        300, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    assert abs(w2(x, x + torch.tensor([0.3, 0.4], dtype=torch.float64)) - 0.5) < 1e-9
    assert w2(x, x) < 1e-6


def test_ratio_coverage_and_spread_on_the_spiral():
    from difflab.data import make_spiral
    from difflab.metrics import spiral_coverage, spread, w2_ratio

    fresh = make_spiral(2000, seed=123).x
    assert 0.6 < w2_ratio(fresh) < 1.6
    assert spiral_coverage(fresh) == 1.0
    collapsed = torch.zeros(100, 2) + torch.tensor([0.3, 0.0])
    assert spiral_coverage(collapsed) <= 0.04 and spread(collapsed) == 0.0
    assert abs(spread(fresh) - 1.46) < 0.05


def test_w2_bad_input():
    from difflab.metrics import w2

    with pytest.raises(ValueError, match="same d"):
        w2(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="NaN"):
        w2(torch.full((3, 2), float("nan")), torch.zeros(3, 2))


def test_spiral_region_on_points_of_known_part():
    from difflab.data import make_spiral, spiral_curve
    from difflab.metrics import OFF_SPIRAL, region_shares, spiral_region

    for k in (3, 5):
        sample = make_spiral(3000, seed=1, n_parts=k)
        region = spiral_region(sample.x, n_parts=k)
        # jittered points are assigned their own part, except a few next to a boundary or past 3.3 sigma
        assert (region == sample.part).float().mean() > 0.99
    # points on the curve in the middle of each part
    mids = spiral_curve(torch.tensor([1 / 6, 3 / 6, 5 / 6])).float()
    assert spiral_region(mids).tolist() == [0, 1, 2]
    # the centre, far outside, and half-way between two arms are off the spiral
    # (0, 3.5 pi / 7) lies half-way between the arms at theta = 2.5 pi and 4.5 pi, both straight above the centre
    off = torch.tensor([[0.0, 0.0], [3.0, 3.0], [0.0, 3.5 * math.pi / 7]])
    assert (spiral_region(off) == OFF_SPIRAL).all()
    shares = region_shares(torch.cat([mids, off[:2]]))
    assert torch.allclose(
        shares, torch.tensor([0.2, 0.2, 0.2, 0.4], dtype=torch.float64)
    )


def test_spiral_region_bad_input():
    from difflab.metrics import spiral_region

    with pytest.raises(ValueError, match=r"x has shape \(4,\)"):
        spiral_region(torch.zeros(4))
    with pytest.raises(ValueError, match=r"n_parts=0 is out of range"):
        spiral_region(torch.zeros(4, 2), n_parts=0)
    with pytest.raises(ValueError, match=r"max_dist=-0.1 is out of range"):
        spiral_region(torch.zeros(4, 2), max_dist=-0.1)
    with pytest.raises(ValueError, match="NaN"):
        spiral_region(torch.full((4, 2), float("nan")))


def test_part_w2_ratio_sees_diversity_loss():
    from difflab.data import make_spiral
    from difflab.metrics import part_w2_ratio

    fresh = make_spiral(3000, seed=5).x
    ratio_fresh = part_w2_ratio(fresh, 1)
    sample = make_spiral(20_000, seed=6)
    bunched = sample.x[(sample.u > 0.45) & (sample.u < 0.55)][
        :1000
    ]  # a fifth of part 1 only
    ratio_bunched = part_w2_ratio(bunched, 1)
    assert 0.5 < ratio_fresh < 1.6 and ratio_bunched > 2 * ratio_fresh, (
        ratio_fresh,
        ratio_bunched,
    )
    with pytest.raises(ValueError, match="only 0 points of x lie in part 2"):
        part_w2_ratio(bunched, 2)


def test_evenness():
    from difflab.metrics import evenness

    assert evenness(torch.arange(6).repeat(5), 6) == pytest.approx(1.0)
    assert evenness(torch.zeros(10, dtype=torch.long), 6) == pytest.approx(0.0)
    assert (
        0 < evenness(torch.tensor([0, 0, 0, 1, -1]), 3) < 1
    )  # -1 (not found) is skipped
    with pytest.raises(ValueError, match="k=3"):
        evenness(torch.tensor([0, 5]), 3)


def test_class_pull_is_zero_without_a_class_and_large_for_disjoint_classes():
    from difflab.data import make_spiral
    from difflab.denoisers import ExactCondDenoiser, ExactDenoiser
    from difflab.metrics import class_pull
    from difflab.schedules import alphas_cumprod, linear_betas

    abar = alphas_cumprod(linear_betas())
    data = make_spiral(900, seed=1)
    blind = ExactDenoiser(data.x, abar)  # ignores cond: no pull at all
    exact = ExactCondDenoiser(data.x, data.part, abar)
    probe = make_spiral(200, seed=2).x
    assert (
        class_pull(
            blind,
            probe,
            100,
            abar,
            n_classes=3,
            generator=torch.Generator().manual_seed(0),
        ).pull
        < 1e-6
    )
    a = class_pull(
        exact, probe, 100, abar, n_classes=3, generator=torch.Generator().manual_seed(0)
    ).pull
    b = class_pull(
        exact, probe, 100, abar, n_classes=3, generator=torch.Generator().manual_seed(0)
    ).pull
    assert (
        a == b and a > 0.5
    )  # same generator state, same points; the classes pull hard at low noise
    with pytest.raises(ValueError, match="t=1000 is out of range"):
        class_pull(exact, probe, 1000, abar, n_classes=3, generator=torch.Generator())


def test_nearest_ratio_tells_a_memoriser_from_fresh_data():
    from difflab.data import make_spiral
    from difflab.denoisers import ExactDenoiser
    from difflab.metrics import nearest_ratio
    from difflab.samplers import ddpm_sample
    from difflab.schedules import alphas_cumprod, linear_betas

    abar = alphas_cumprod(linear_betas())
    train = make_spiral(200, seed=0).x
    fresh = make_spiral(500, seed=7).x
    g = torch.Generator().manual_seed(0)
    memorised = ddpm_sample(
        ExactDenoiser(train, abar),
        torch.randn(500, 2, generator=g),
        list(range(990, -1, -10)),
        abar,
        generator=g,
    )
    assert (
        nearest_ratio(memorised, train, fresh) < 0.1
    )  # the exact denoiser lands on training points
    assert (
        0.7 < nearest_ratio(make_spiral(500, seed=8).x, train, fresh) < 1.4
    )  # fresh data: about 1


def test_class_pull_gives_its_share_of_the_prediction_and_pull_cosine_reads_directions():
    from difflab.data import make_spiral
    from difflab.denoisers import ExactCondDenoiser
    from difflab.metrics import class_pull, pull_cosine
    from difflab.schedules import alphas_cumprod, linear_betas, q_sample

    abar = alphas_cumprod(linear_betas())
    data = make_spiral(900, seed=1, label_noise=0.2)
    exact = ExactCondDenoiser(data.x, data.label, abar)
    probe = make_spiral(200, seed=2).x
    kw = dict(n_classes=3)
    m = class_pull(
        exact, probe, 300, abar, generator=torch.Generator().manual_seed(0), **kw
    )
    assert m.field.shape == (3, 200, 2)
    xt = q_sample(
        probe,
        300,
        abar,
        torch.randn(probe.shape, generator=torch.Generator().manual_seed(0)),
    )
    f_u = exact(xt, torch.full((200,), 300), None)
    assert abs(m.relative - m.pull / f_u.norm(dim=1).mean().item()) < 1e-6
    # by hand: a pull field against itself, its opposite, itself turned by 90 degrees, and zero
    f = m.field
    turned = torch.stack([-f[..., 1], f[..., 0]], dim=-1)
    assert abs(pull_cosine(f, f) - 1) < 1e-9 and abs(pull_cosine(f, -f) + 1) < 1e-9
    assert (
        abs(pull_cosine(f, turned)) < 1e-9 and pull_cosine(f, torch.zeros_like(f)) == 0
    )
    # the same data with the class ids rotated (c -> c + 1): the pull of class c is now another class's
    rotated = ExactCondDenoiser(data.x, (data.label + 1) % 3, abar)
    r = class_pull(
        rotated, probe, 300, abar, generator=torch.Generator().manual_seed(0), **kw
    )
    assert (
        abs(r.pull - m.pull) < 1e-6
    )  # the same pulls, handed to other classes: equal in size ...
    assert (
        pull_cosine(r.field, m.field) < 0
    )  # ... and pointing elsewhere (measured: -0.39)
    with pytest.raises(ValueError, match="same shape"):
        pull_cosine(f, f[:2])


def test_median_r_is_the_median_w2_ratio_of_the_sampler():
    from difflab.metrics import median_r, median_w2_ratio
    from difflab.samplers import ddim_sample
    from difflab.schedules import alphas_cumprod, linear_betas, spaced_timesteps

    abar = alphas_cumprod(linear_betas())
    ts = spaced_timesteps(1000, 4, "trailing")
    model = lambda x, t: 0.1 * x  # noqa: E731
    r, rs, xs = median_w2_ratio(lambda x, g: ddim_sample(model, x, ts, abar), 200)
    got_r, got_rs, got_xs = median_r(ddim_sample, model, ts, abar, n=200)
    assert (got_r, got_rs) == (r, rs)
    assert all(torch.equal(a, b) for a, b in zip(got_xs, xs, strict=True))
