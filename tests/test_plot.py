import matplotlib.pyplot as plt
import pytest
import torch

from difflab import plot


def test_helpers_return_their_axes():
    fig, ax = plot.subplots()
    assert plot.scatter(torch.randn(50, 2), ax=ax, c=torch.arange(50) % 3) is ax
    assert plot.trails(torch.randn(10, 4, 2), ax=ax) is ax
    ax2 = plot.image_grid(torch.rand(6, 3, 8, 8), ncols=3)
    assert ax2.images and ax2 is not ax
    ax3 = plot.image_grid(torch.rand(4, 8, 8), labels=list("abcd"))
    assert [t.get_text() for t in ax3.get_xticklabels()] == list("abcd")
    plt.close("all")


def test_helpers_leave_global_rcparams_alone():
    before = dict(plt.rcParams)
    plot.scatter(torch.randn(5, 2))
    plot.animate(plt.figure(), lambda i: None, 2)
    assert dict(plt.rcParams) == before
    plt.close("all")


def test_animate_gives_static_html():
    fig, ax = plot.subplots()
    html = plot.animate(fig, lambda i: ax.plot([0, i], [0, i]), 3)
    assert "<script" in html.data and "img" in html.data


@pytest.mark.parametrize("call,match", [
    (lambda: plot.scatter(torch.zeros(5, 3)), r"points has shape \(5, 3\)"),
    (lambda: plot.trails(torch.zeros(5, 2)), r"paths has shape \(5, 2\)"),
    (lambda: plot.image_grid(torch.zeros(5, 8)), r"images has shape \(5, 8\)"),
])
def test_bad_shapes_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_heatmap_and_captioned():
    ax = plot.heatmap(torch.rand(4, 5), annotate=True, xticklabels=list("abcde"))
    assert ax.images and [t.get_text() for t in ax.get_xticklabels()] == list("abcde")
    axes = plot.captioned(torch.rand(5, 3, 8, 8), list("abcde"), ncols=3)
    assert axes.shape == (2, 3) and axes[0, 0].get_title() == "a"
    with pytest.raises(ValueError, match=r"matrix has shape \(4,\)"):
        plot.heatmap(torch.rand(4))
    with pytest.raises(ValueError, match="2 captions"):
        plot.captioned(torch.rand(3, 3, 8, 8), ["a", "b"])
    plt.close("all")
