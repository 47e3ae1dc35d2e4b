"""Tests of difflab.models.unet."""

import pytest
import torch

from difflab.models.unet import TextUNet, UNetConfig


def _net_and_input():
    net = TextUNet(UNetConfig((8, 16, 16), 512, 16))
    return net, torch.randn(3, 3, 32, 32), torch.tensor([0, 500, 999])


def test_unet_keeps_the_image_shape():
    net, x, t = _net_and_input()
    assert net(x, t, torch.randn(3, 512)).shape == x.shape


def test_no_condition_is_the_zero_embedding():
    net, x, t = _net_and_input()
    assert torch.equal(net(x, t), net(x, t, torch.zeros(3, 512)))


@pytest.mark.parametrize(
    "bad, match",
    [("cond", r"cond has shape \(3, 7\)"), ("x", r"x has shape")],
    ids=["cond", "x"],
)
def test_a_bad_shape_is_named(bad, match):
    net, x, t = _net_and_input()
    with pytest.raises(ValueError, match=match):
        if bad == "cond":
            net(x, t, torch.randn(3, 7))
        else:
            net(torch.randn(3, 32, 32), t)
