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

    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
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
