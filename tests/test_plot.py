"""The static figures: each helper on a real (Agg) axes, the animation's page, the
refusals of figures a reader could not read, bad arguments named."""

import base64
import io
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from difflab import plot


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _frame_html(**kw) -> str:
    """The page of a 4-frame animation of a growing line."""
    fig, ax = plot.subplots()
    return plot.animate(fig, lambda i: ax.plot([0, i], [0, i]), 4, **kw).data


def test_scatter_returns_the_axes_it_was_given():
    _, ax = plot.subplots()
    assert plot.scatter(torch.randn(50, 2), ax=ax, c=torch.arange(50) % 3) is ax


def test_trails_returns_the_axes_it_was_given():
    _, ax = plot.subplots()
    assert plot.trails(torch.randn(10, 4, 2), ax=ax) is ax


def test_image_grid_makes_axes_when_given_none():
    ax = plot.image_grid(torch.rand(6, 3, 8, 8), ncols=3)
    assert ax.images


def test_image_grid_tiles_row_by_row_with_padding():
    images = torch.arange(3.0).reshape(3, 1, 1).expand(3, 2, 2)  # (3, 2, 2): 0, 1, 2
    ax = plot.image_grid(images, ncols=2, pad=1, vmin=0, vmax=9)
    canvas = np.asarray(ax.images[0].get_array())  # (2 * 3 + 1, 2 * 3 + 1)
    expected = np.full((7, 7), 9.0)  # the padding takes vmax's colour
    expected[1:3, 1:3], expected[1:3, 4:6], expected[4:6, 1:3] = 0, 1, 2
    assert np.array_equal(canvas, expected)


def test_image_grid_labels_the_columns_of_one_row():
    ax = plot.image_grid(torch.rand(4, 8, 8), labels=list("abcd"))
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcd")


def test_image_grid_labels_its_rows():
    ax = plot.image_grid(
        torch.rand(6, 3, 8, 8), ncols=3, row_labels=["first", "second"]
    )
    assert [t.get_text() for t in ax.get_yticklabels()] == ["first", "second"]


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plot.scatter(torch.randn(5, 2)),
        lambda: plot.image_grid(torch.rand(2, 3, 4, 4)),
        lambda: plot.heatmap(torch.rand(2, 2), annotate=True),
        lambda: plot.animate(plt.figure(), lambda i: None, 2),
    ],
    ids=["scatter", "image_grid", "heatmap", "animate"],
)
def test_helpers_leave_global_rcparams_alone(draw):
    before = dict(plt.rcParams)
    draw()
    assert dict(plt.rcParams) == before


def test_animate_gives_static_html():
    html = _frame_html()
    assert "<script" in html and "img" in html


def test_animation_opens_on_the_frame_asked_for():
    html = _frame_html(start=2)
    assert re.search(
        r"anim\w+ = new Animation\([^;]*\); anim\w+\.set_frame\(2\);", html
    )


def test_animation_carries_its_alt_text_escaped():
    assert 'alt="the line &quot;grows&quot;"' in _frame_html(alt='the line "grows"')


def test_animation_leaves_out_the_cdn_stylesheet():
    html = _frame_html()
    assert "maxcdn" not in html and "font-awesome" not in html


def test_animation_frames_are_stored_at_the_column_width():
    fig, ax = plot.subplots(width=plot.ANIM_WIDTH, height=3.0)
    html = plot.animate(fig, lambda i: ax.plot([0, i], [0, i]), 2).data
    frame = re.search(r"data:image/jpeg;base64,([^\"']+)", html).group(1)
    frame = re.sub(r"\\n|\s", "", frame)
    width = plt.imread(io.BytesIO(base64.b64decode(frame)), format="jpeg").shape[1]
    assert abs(width - plot.COLUMN_PX) <= 2, (
        f"frame {width} px wide, column {plot.COLUMN_PX} px"
    )


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: plot.scatter(torch.zeros(5, 3)), r"points has shape \(5, 3\)"),
        (lambda: plot.trails(torch.zeros(5, 2)), r"paths has shape \(5, 2\)"),
        (lambda: plot.image_grid(torch.zeros(5, 8)), r"images has shape \(5, 8\)"),
        (
            lambda: plot.image_grid(
                torch.rand(6, 3, 8, 8), ncols=3, row_labels=["a", "b", "c"]
            ),
            "3 row_labels for 2 rows",
        ),
        (lambda: plot.heatmap(torch.rand(4)), r"matrix has shape \(4,\)"),
        (
            lambda: plot.captioned(torch.rand(3, 3, 8, 8), ["a", "b"]),
            "2 captions",
        ),
        (
            lambda: plot.animate(plt.figure(), lambda i: None, 4, start=4),
            r"start=4 is out of range",
        ),
        (
            lambda: plot.animate(plt.figure(), lambda i: None, 0),
            r"n_frames=0 is out of range",
        ),
    ],
    ids=[
        "scatter",
        "trails",
        "image_grid",
        "row_labels",
        "heatmap",
        "captioned",
        "animate-start",
        "animate-frames",
    ],
)
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_heatmap_labels_its_columns():
    ax = plot.heatmap(torch.rand(4, 5), annotate=True, xticklabels=list("abcde"))
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcde")


def test_heatmap_annotates_each_cell():
    ax = plot.heatmap(torch.full((2, 3), 0.5), annotate=True, colorbar=False)
    assert [t.get_text() for t in ax.texts] == ["0.50"] * 6


def test_heatmap_writes_given_text():
    ax = plot.heatmap(torch.ones(2, 2), text=[["a", "b"], ["c", "d"]], colorbar=False)
    assert sorted(t.get_text() for t in ax.texts) == ["a", "b", "c", "d"]


def test_captioned_puts_each_caption_over_its_image():
    axes = plot.captioned(torch.rand(5, 3, 8, 8), list("abcde"), ncols=3)
    assert [ax.get_title() for ax in axes.flat][:5] == list("abcde")


def test_captioned_fills_rows_of_ncols():
    axes = plot.captioned(torch.rand(5, 3, 8, 8), list("abcde"), ncols=3)
    assert axes.shape == (2, 3)


def test_a_figure_wider_than_the_column_is_scaled_down():
    fig, _ = plot.subplots(1, 4, size=3.0)  # 12 inches asked for
    w, h = fig.get_size_inches()
    assert (w, h) == pytest.approx((plot.FIG_WIDTH, 3.0 * plot.FIG_WIDTH / 12.0))


def test_a_figure_within_the_column_keeps_its_size():
    fig, _ = plot.subplots(width=5.5, height=3.2)
    assert tuple(fig.get_size_inches()) == (5.5, 3.2)


def test_part_colours_are_not_the_colours_of_data_noise_model_exact():
    assert not set(plot.PART_COLORS) & set(plot.COLORS.values())


def test_loss_draws_the_mean_of_each_window():
    # the last, incomplete window is left out
    ax = plot.loss([4.0, 2.0, 3.0, 1.0, 9.0], every=2)
    x, y = ax.lines[0].get_data()
    assert (list(x), list(y)) == ([0, 2], [3.0, 2.0])


def test_loss_names_its_window_on_the_y_axis():
    ax = plot.loss([4.0, 2.0, 3.0, 1.0, 9.0], every=2)
    assert ax.get_ylabel() == "loss (mean of 2 steps)"


def test_field_key_gives_a_row_of_fields_one_shared_scale():
    _, axes = plot.subplots(1, 2)
    for ax in axes:
        plot.field(lambda x, t: x, 10, ax, key=None, vmax=5.0)
    bar = plot.field_key(axes, 5.0)
    clims = [bar.mappable.get_clim()] + [
        q.get_clim() for a in axes for q in a.collections
    ]
    assert set(clims) == {(0.0, 5.0)}


def test_field_key_carries_its_label():
    _, axes = plot.subplots(1, 2)
    assert plot.field_key(axes, 5.0, key="speed").ax.get_ylabel() == "speed"


def test_drawing_refuses_tick_labels_printed_over_each_other():
    fig, ax = plot.subplots(width=3.3, height=2.6)
    # minor log labels: 2x10^-1, 3x10^-1, ... collide
    ax.loglog([1, 2, 4, 8], [14, 6, 3, 1.2])
    with pytest.raises(ValueError, match="tick labels .* overlap"):
        fig.canvas.draw()


def test_log_ticks_give_plain_labels_that_do_not_collide():
    fig, ax = plot.subplots(width=3.3, height=2.6)
    ax.loglog([1, 2, 4, 8], [14, 6, 3, 1.2])
    plot.log_ticks(ax.xaxis, [1, 2, 4, 8])
    plot.log_ticks(ax.yaxis)
    fig.canvas.draw()  # no collision: no error
    assert [t.get_text() for t in ax.yaxis.get_ticklabels()] == ["2", "4", "8"]


def test_drawing_refuses_titles_covered_by_colour_keys():
    fig, axes = plot.subplots(2, 3)
    for ax in axes.flat:
        plot.field(lambda x, t: x, 10, ax, title="towards part 0, t = 300")
    with pytest.raises(ValueError, match="title 'towards part 0, t = 300' is covered"):
        fig.canvas.draw()


def test_a_shared_colour_key_leaves_the_titles_readable():
    fig, axes = plot.subplots(2, 3)
    for ax in axes.flat:
        plot.field(
            lambda x, t: x, 10, ax, title="towards part 0, t = 300", key=None, vmax=3.0
        )
    plot.field_key(axes, 3.0)
    fig.canvas.draw()
    assert plot.collisions(fig) == []
