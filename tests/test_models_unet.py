"""difflab.models.unet: the text-conditioned U-Net of Chapter 8."""

import pytest
import torch

from difflab.models.unet import TextUNet, UNetConfig


def _net_and_input():
    net = TextUNet(UNetConfig((8, 16, 16), 512, 16))
    g = torch.Generator().manual_seed(0)
    return net, torch.randn(3, 3, 32, 32, generator=g), torch.tensor([0, 500, 999])


def test_unet_keeps_the_image_shape():
    net, x, t = _net_and_input()
    assert net(x, t, torch.randn(3, 512)).shape == x.shape


def test_no_condition_is_the_zero_embedding():
    net, x, t = _net_and_input()
    assert torch.equal(net(x, t), net(x, t, torch.zeros(3, 512)))


@pytest.mark.parametrize(
    "call, match",
    [
        pytest.param(
            lambda net, x, t: net(x, t, torch.randn(3, 7)),
            r"cond has shape \(3, 7\)",
            id="cond",
        ),
        pytest.param(
            lambda net, x, t: net(torch.randn(3, 32, 32), t), r"x has shape", id="x"
        ),
    ],
)
def test_a_bad_shape_is_named(call, match):
    net, x, t = _net_and_input()
    with pytest.raises(ValueError, match=match):
        call(net, x, t)
