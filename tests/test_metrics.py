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
