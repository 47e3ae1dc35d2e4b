import re

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


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: plot.scatter(torch.zeros(5, 3)), r"points has shape \(5, 3\)"),
        (lambda: plot.trails(torch.zeros(5, 2)), r"paths has shape \(5, 2\)"),
        (lambda: plot.image_grid(torch.zeros(5, 8)), r"images has shape \(5, 8\)"),
    ],
)
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


def test_figures_fit_the_column():
    from difflab import plot

    fig, axes = plot.subplots(1, 4, size=3.0)  # 12 inches asked for
    w, h = fig.get_size_inches()
    assert w <= plot.FIG_WIDTH + 1e-9 and abs(h - 3.0 * plot.FIG_WIDTH / 12.0) < 1e-9
    fig, ax = plot.subplots(width=5.5, height=3.2)
    assert tuple(fig.get_size_inches()) == (5.5, 3.2)


def test_part_colours_are_not_the_colours_of_data_noise_model_exact():
    from difflab import plot

    assert not set(plot.PART_COLORS) & set(plot.COLORS.values())


def test_image_grid_labels_rows_and_checks_their_number():
    import pytest
    from difflab import plot

    ax = plot.image_grid(
        torch.rand(6, 3, 8, 8), ncols=3, row_labels=["first", "second"]
    )
    assert [t.get_text() for t in ax.get_yticklabels()] == ["first", "second"]
    with pytest.raises(ValueError, match="3 row_labels for 2 rows"):
        plot.image_grid(torch.rand(6, 3, 8, 8), ncols=3, row_labels=["a", "b", "c"])


def test_heatmap_writes_given_text():
    from difflab import plot

    ax = plot.heatmap(torch.ones(2, 2), text=[["a", "b"], ["c", "d"]], colorbar=False)
    assert sorted(t.get_text() for t in ax.texts) == ["a", "b", "c", "d"]


def test_explorer_is_an_animation_in_the_book_and_a_slider_in_jupyter(monkeypatch):
    from difflab import plot

    drawn = []
    draw = lambda ax, v: drawn.append(v) or ax.plot([0, v], [0, v])
    monkeypatch.setenv("DIFFLAB_BOOK", "1")
    html = plot.explorer(draw, "t", [1, 2, 3])
    assert "<script" in html.data and set(drawn) == {
        1,
        2,
        3,
    }  # every value drawn as a frame
    monkeypatch.setenv("DIFFLAB_BOOK", "0")
    drawn.clear()
    import ipywidgets

    live = plot.explorer(
        draw, "t", [1, 2, 3], value=3
    )  # a live widget, drawn once at 3
    assert isinstance(live, ipywidgets.interactive)
    assert drawn == [3]
    drawn.clear()
    plot.explorer(
        draw, "t", [0, 200, 400], value=240
    )  # not among the values: the nearest
    assert drawn == [200]
    import pytest

    with pytest.raises(ValueError, match="values for 't' is empty"):
        plot.explorer(draw, "t", [])


def test_loss_draws_the_mean_of_each_window():
    ax = plot.loss(
        [4.0, 2.0, 3.0, 1.0, 9.0], every=2
    )  # the last, incomplete window is left out
    x, y = ax.lines[0].get_data()
    assert list(x) == [0, 2] and list(y) == [3.0, 2.0]
    assert ax.get_ylabel() == "loss (mean of 2 steps)"
    plt.close("all")


def test_animation_opens_on_the_frame_asked_for_with_alt_text_and_no_cdn_stylesheet():
    fig, ax = plot.subplots()
    html = plot.animate(
        fig, lambda i: ax.plot([0, i], [0, i]), 4, alt='the line "grows"', start=2
    ).data
    assert 'alt="the line &quot;grows&quot;"' in html
    assert re.search(
        r"anim\w+ = new Animation\([^;]*\); anim\w+\.set_frame\(2\);", html
    )
    assert "maxcdn" not in html and "font-awesome" not in html
    with pytest.raises(ValueError, match=r"start=4 is out of range"):
        plot.animate(plt.figure(), lambda i: None, 4, start=4)


def test_explorer_animation_opens_on_its_value(monkeypatch):
    monkeypatch.setenv("DIFFLAB_BOOK", "1")
    html = plot.explorer(
        lambda ax, v: ax.plot([0, v], [0, v]), "s", [0, 1, 2, 3], value=2.2
    ).data
    assert ".set_frame(2);" in html  # the nearest value, 2, is frame 2
    assert (
        'alt="An animation over s from s = 0 to s = 3 in 4 frames, opening at s = 2;'
        in html
    )


def test_animation_frames_are_stored_at_the_column_width():
    import base64
    import io

    fig, ax = plot.subplots(width=plot.ANIM_WIDTH, height=3.0)
    html = plot.animate(fig, lambda i: ax.plot([0, i], [0, i]), 2).data
    frame = re.search(r"data:image/jpeg;base64,([^\"']+)", html).group(1)
    frame = re.sub(r"\\n|\s", "", frame)
    width = plt.imread(io.BytesIO(base64.b64decode(frame)), format="jpeg").shape[1]
    assert abs(width - plot.COLUMN_PX) <= 2, (
        f"frame {width} px wide, column {plot.COLUMN_PX} px"
    )


def test_field_key_gives_a_row_of_fields_one_shared_scale():
    fig, axes = plot.subplots(1, 2)
    for ax in axes:
        plot.field(lambda x, t: x, 10, ax, key=None, vmax=5.0)
    bar = plot.field_key(axes, 5.0, key="speed")
    assert bar.mappable.get_clim() == (0.0, 5.0) and bar.ax.get_ylabel() == "speed"
    assert all(q.get_clim() == (0.0, 5.0) for ax in axes for q in ax.collections)
    plt.close(fig)


def test_drawing_refuses_tick_labels_printed_over_each_other():
    fig, ax = plot.subplots(width=3.3, height=2.6)
    ax.loglog(
        [1, 2, 4, 8], [14, 6, 3, 1.2]
    )  # minor log labels: 2x10^-1, 3x10^-1, ... collide
    with pytest.raises(ValueError, match="tick labels .* overlap"):
        fig.canvas.draw()
    plot.log_ticks(ax.xaxis, [1, 2, 4, 8])
    plot.log_ticks(ax.yaxis)
    fig.canvas.draw()  # plain ticks read well
    assert [t.get_text() for t in ax.yaxis.get_ticklabels()] == ["2", "4", "8"]
    plt.close(fig)


def test_drawing_refuses_titles_covered_by_colour_keys_and_a_shared_key_fixes_it():
    fig, axes = plot.subplots(2, 3)
    for ax in axes.flat:
        plot.field(lambda x, t: x, 10, ax, title="towards part 0, t = 300")
    with pytest.raises(ValueError, match="title 'towards part 0, t = 300' is covered"):
        fig.canvas.draw()
    plt.close(fig)
    fig, axes = plot.subplots(2, 3)
    for ax in axes.flat:
        plot.field(
            lambda x, t: x, 10, ax, title="towards part 0, t = 300", key=None, vmax=3.0
        )
    plot.field_key(axes, 3.0)
    fig.canvas.draw()
    plt.close(fig)
