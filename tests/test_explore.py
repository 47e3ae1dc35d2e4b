"""The explorers: the two generic ones, every chapter's drawing function on a real (Agg)
axes for two values, the static book's animation or small multiples without a widget, the
live widget, bad arguments."""

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from IPython.display import HTML
from matplotlib.figure import Figure

from difflab import explore, plot, registry
from difflab.denoisers import ExactDenoiser

ABAR = registry.schedule("spiral_ddpm")
TS = [999, 600, 300, 100, 0]  # a few DDPM/DDIM steps: the pictures, not their quality


@pytest.fixture(scope="module")
def t2i(shipped_clip):
    return registry.load("t2i"), shipped_clip


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _drawn(ax) -> np.ndarray:
    """Every number drawn on ``ax``: lines, scatters, arrows and images, flattened."""
    parts = [line.get_xydata().ravel() for line in ax.lines]
    for c in ax.collections:
        parts.append(np.asarray(c.get_offsets(), dtype=float).ravel())
        if hasattr(c, "U"):  # a quiver: its arrows
            parts += [np.ravel(c.U), np.ravel(c.V)]
    parts += [np.asarray(im.get_array(), dtype=float).ravel() for im in ax.images]
    return np.concatenate(parts) if parts else np.zeros(0)


def _two_values(draw, a, b, **subplots):
    """Draw values a and b on fresh axes; return what each drew."""
    out = []
    for v in (a, b):
        _, ax = plot.subplots(**subplots)
        draw(ax, v)
        axes = np.atleast_1d(ax)
        assert all(len(_drawn(x)) for x in axes), f"nothing drawn for {v!r}"
        out.append(np.concatenate([_drawn(x) for x in axes]))
    return out


def _differ(a, b):
    return a.shape != b.shape or not np.allclose(a, b)


def _line(ax, v):
    return ax.plot([0, v], [0, v])


# The generic explorers


def test_explorer_is_an_animation_in_the_book(monkeypatch):
    monkeypatch.setenv("DIFFLAB_BOOK", "1")
    drawn = []
    html = explore.explorer(lambda ax, v: drawn.append(v) or _line(ax, v), "t", [1, 2])
    assert "<script" in html.data and set(drawn) == {1, 2}  # each value is a frame


def test_explorer_is_a_slider_in_jupyter(monkeypatch):
    monkeypatch.setenv("DIFFLAB_BOOK", "0")
    live = explore.explorer(_line, "t", [1, 2, 3])
    assert isinstance(live, ipywidgets.interactive)


def test_the_live_explorer_draws_once_at_its_value(monkeypatch):
    monkeypatch.setenv("DIFFLAB_BOOK", "0")
    drawn = []
    explore.explorer(lambda ax, v: drawn.append(v), "t", [1, 2, 3], value=3)
    assert drawn == [3]


def test_the_live_explorer_starts_at_the_nearest_value(monkeypatch):
    monkeypatch.setenv("DIFFLAB_BOOK", "0")
    drawn = []
    explore.explorer(lambda ax, v: drawn.append(v), "t", [0, 200, 400], value=240)
    assert drawn == [200]


def test_the_explorer_animation_opens_on_the_nearest_value(monkeypatch):
    monkeypatch.setenv("DIFFLAB_BOOK", "1")
    html = explore.explorer(_line, "s", [0, 1, 2, 3], value=2.2).data
    assert ".set_frame(2);" in html  # the nearest value, 2, is frame 2


def test_the_explorer_animation_says_its_range_in_its_alt_text(monkeypatch):
    monkeypatch.setenv("DIFFLAB_BOOK", "1")
    html = explore.explorer(_line, "s", [0, 1, 2, 3], value=2.2).data
    alt = 'alt="An animation over s from s = 0 to s = 3 in 4 frames, opening at s = 2;'
    assert alt in html


def test_grid_explorer_is_small_multiples_in_the_book(monkeypatch):
    monkeypatch.setenv("DIFFLAB_BOOK", "1")
    fig = explore.grid_explorer(
        lambda ax, a, b: _line(ax, a * b), ("a", [1, 2]), ("b", [1, 2, 3])
    )
    assert len(fig.axes) == 6 and not plt.fignum_exists(fig.number)


# The chapters' drawing functions


@pytest.fixture(scope="module")
def fields(small_denoiser):
    points = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    return small_denoiser(), ExactDenoiser(points, ABAR)


def test_draw_field_differs_between_steps(fields):
    model, _ = fields
    assert _differ(
        *_two_values(lambda ax, t: explore.draw_field(ax, t, model, n=5), 900, 20)
    )


def test_draw_field_draws_the_exact_field_beside_the_learned_one(fields):
    model, exact = fields
    one = _two_values(lambda ax, t: explore.draw_field(ax, t, model, n=5), 900, 20)
    both = _two_values(
        lambda ax, t: explore.draw_field(ax, t, model, exact, n=5), 900, 20, ncols=2
    )
    assert len(both[0]) > len(one[0])


@pytest.fixture(scope="module")
def eta_draw(small_denoiser):
    model, x_T = (
        small_denoiser(),
        torch.randn(40, 2, generator=torch.Generator().manual_seed(0)),
    )

    def draw(ax, eta):
        return explore.draw_eta(ax, eta, model, x_T, TS, ABAR, n_paths=3)

    return draw


def test_draw_eta_of_the_ode_differs_from_ddpm(eta_draw):
    assert _differ(*_two_values(eta_draw, 0.0, 1.0))


def test_draw_eta_is_pure(eta_draw):
    assert np.allclose(*_two_values(eta_draw, 0.5, 0.5))


def test_draw_eta_titles_the_median_path_length(eta_draw):
    _, ax = plot.subplots()
    assert eta_draw(ax, 1.0).get_title().startswith("eta = 1: path length")


@pytest.fixture(scope="module")
def guided_draws(small_denoiser):
    model = small_denoiser(n_classes=3)
    x_T = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    ids = torch.arange(3).repeat_interleave(10)
    return {
        "scale": lambda ax, s: explore.draw_guided(ax, s, model, x_T, ids, ABAR, TS),
        "negative": lambda ax, s: explore.draw_guided(
            ax, s, model, x_T, None, ABAR, TS, negative=1
        ),
    }


@pytest.mark.parametrize("kind", ["scale", "negative"])
def test_draw_guided_differs_between_scales(kind, guided_draws):
    assert _differ(*_two_values(guided_draws[kind], 1.0, 5.0))


def test_draw_guided_titles_the_share_in_the_negative_part(guided_draws):
    _, ax = plot.subplots()
    assert "in part 1" in guided_draws["negative"](ax, 2.0).get_title()


def test_draw_prompt_differs_between_scales(t2i):
    model, clip = t2i
    ax_a, ax_b = plot.subplots(1, 2)[1]
    explore.draw_prompt(ax_a, "a red circle", 1.0, model, clip, n=1, steps=2)
    explore.draw_prompt(ax_b, "a red circle", 5.0, model, clip, n=1, steps=2)
    assert ax_a.images and _differ(_drawn(ax_a), _drawn(ax_b))


def test_draw_prompt_writes_a_note_for_a_blank_prompt(t2i):
    _, ax = plot.subplots()
    explore.draw_prompt(ax, "  ", 2.0, *t2i)
    assert [t.get_text() for t in ax.texts] == ["type a prompt"]


# The chapters' explorers, in the static book and live


def _explorers(t2i, small_denoiser):
    """One small call of each explorer, by chapter."""
    model, cond = small_denoiser(), small_denoiser(n_classes=3)
    points = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    exact = ExactDenoiser(points, ABAR)
    small = {"timesteps": TS, "n": 12}
    return {
        "ch03": lambda: explore.field_explorer(model, [900, 20], exact=exact, n=5),
        "ch04": lambda: explore.eta_explorer(model, ABAR, [0, 1], **small, n_paths=2),
        "ch06": lambda: explore.scale_explorer(cond, range(3), [1, 3], ABAR, **small),
        "ch07": lambda: explore.negative_explorer(cond, None, 1, [1, 2], ABAR, **small),
        "ch08": lambda: explore.prompt_explorer(
            *t2i, ["a red circle", "a blue square"], [1, 3], n=1, steps=2
        ),
    }


@pytest.fixture(scope="module")
def in_the_book(t2i, small_denoiser):
    """Each chapter's explorer made once as the book is built: (what it shows, the
    widgets made, whether torch's random state was left as it was)."""
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIFFLAB_BOOK", "1")
        made, init = [], ipywidgets.Widget.__init__
        mp.setattr(
            ipywidgets.Widget,
            "__init__",
            lambda w, **kw: made.append(w) or init(w, **kw),
        )
        for chapter, make in _explorers(t2i, small_denoiser).items():
            made.clear()
            state = torch.get_rng_state()
            shown = make()
            runs[chapter] = (
                shown,
                list(made),
                torch.equal(torch.get_rng_state(), state),
            )
    plt.close("all")
    return runs


CHAPTERS = ["ch03", "ch04", "ch06", "ch07", "ch08"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_book_gets_no_widget(chapter, in_the_book):
    assert in_the_book[chapter][1] == []


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_book_build_leaves_the_random_state_alone(chapter, in_the_book):
    assert in_the_book[chapter][2]


@pytest.mark.parametrize("chapter", ["ch03", "ch04", "ch06", "ch07"])
def test_the_book_gets_an_animation_of_one_frame_per_value(chapter, in_the_book):
    shown = in_the_book[chapter][0]
    assert isinstance(shown, HTML) and shown.data.count("data:image/jpeg") == 2


def test_the_book_gets_prompts_by_scales_as_small_multiples(in_the_book):
    shown = in_the_book["ch08"][0]
    assert isinstance(shown, Figure)
    axes = np.asarray(shown.axes).reshape(2, 2)
    titles = [ax.get_title() for ax in axes[0]]
    assert (titles, axes[1, 0].get_ylabel()) == (["s = 1", "s = 3"], "'a blue square'")


def test_the_small_multiples_are_closed_so_shown_once(in_the_book):
    assert not plt.fignum_exists(in_the_book["ch08"][0].number)


def _controls(shown) -> list:
    return [w for w in shown.children if not isinstance(w, ipywidgets.Output)]


@pytest.fixture(scope="module")
def live(t2i, small_denoiser):
    """Each chapter's explorer made once as in Jupyter."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DIFFLAB_BOOK", raising=False)
        return {
            chapter: make() for chapter, make in _explorers(t2i, small_denoiser).items()
        }


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_jupyter_gets_a_live_widget(chapter, live):
    assert isinstance(live[chapter], ipywidgets.interactive)


@pytest.mark.parametrize("chapter", ["ch03", "ch04", "ch06", "ch07"])
def test_the_live_slider_redraws_on_release(chapter, live):
    (slider,) = _controls(live[chapter])
    assert isinstance(slider, ipywidgets.SelectionSlider)
    assert not slider.continuous_update  # a picture takes time


@pytest.mark.parametrize("chapter", ["ch03", "ch04", "ch06", "ch07"])
def test_the_live_slider_drives_the_drawing(chapter, live):
    (slider,) = _controls(live[chapter])
    assert live[chapter].kwargs == {slider.description: slider.value}


def test_the_prompt_box_offers_the_prompts(live):
    box, _ = _controls(live["ch08"])
    assert isinstance(box, ipywidgets.Combobox)
    assert box.options == ("a red circle", "a blue square")


def test_the_prompt_scales_are_a_slider(live):
    _, slider = _controls(live["ch08"])
    assert isinstance(slider, ipywidgets.SelectionSlider)


def test_any_prompt_may_be_typed(t2i, small_denoiser, monkeypatch):
    monkeypatch.delenv("DIFFLAB_BOOK", raising=False)
    shown = _explorers(t2i, small_denoiser)["ch08"]()
    box, _ = _controls(shown)
    box.value = "a green cross"  # not among the prompts offered
    assert not box.ensure_option
    assert shown.kwargs == {"prompt": "a green cross", "s": 3.0}


# Bad arguments


BAD = {
    "values": (
        lambda model, cond: explore.explorer(_line, "t", []),
        ValueError,
        "values for 't' is empty",
    ),
    "params": (
        lambda model, cond: explore.grid_explorer(
            lambda ax, a, b: None, ("s", [1]), ("s", [2])
        ),
        ValueError,
        "both parameters are called 's'",
    ),
    "ax": (
        lambda model, cond: explore.draw_field(
            plot.subplots()[1], 10, model, ExactDenoiser(torch.zeros(3, 2), ABAR)
        ),
        ValueError,
        "draw_field needs 2 axes here; got 1",
    ),
    "ts": (
        lambda model, cond: explore.field_explorer(model, []),
        ValueError,
        r"ts=\[\] is empty",
    ),
    "ts-negative": (
        lambda model, cond: explore.field_explorer(model, [10, -5]),
        ValueError,
        r"ts\[1\]=-5 is out of range",
    ),
    "etas": (
        lambda model, cond: explore.eta_explorer(model, ABAR, [1.5]),
        ValueError,
        r"etas\[0\]=1.5 is out of range: allowed is ",
    ),
    "n_paths": (
        lambda model, cond: explore.eta_explorer(model, ABAR, [0.0], n=4, n_paths=9),
        ValueError,
        "n_paths=9 is out of range",
    ),
    "timesteps": (
        lambda model, cond: explore.eta_explorer(model, ABAR, [0.0], timesteps=[0, 10]),
        ValueError,
        "timesteps must be strictly decreasing",
    ),
    "scales": (
        lambda model, cond: explore.scale_explorer(cond, 0, [1, -1], ABAR),
        ValueError,
        r"scales\[1\]=-1.0 is out of range",
    ),
    "cond": (
        lambda model, cond: explore.scale_explorer(cond, [3], [1], ABAR),
        ValueError,
        r"cond\[0\]=3 is out of range.*0 <= cond\[0\] <= 2",
    ),
    "model": (
        lambda model, cond: explore.scale_explorer(model, 0, [1], ABAR),
        ValueError,
        "model has no classes",
    ),
    "negative": (
        lambda model, cond: explore.negative_explorer(cond, 0, None, [1], ABAR),
        TypeError,
        "negative=None must be an int",
    ),
    "seed": (
        lambda model, cond: explore.negative_explorer(
            cond, None, 1, [1], ABAR, seed=-1
        ),
        ValueError,
        "seed=-1",
    ),
    "prompts": (
        lambda model, cond: explore.prompt_explorer(None, None, ["a circle", ""], [1]),
        ValueError,
        "prompts=.* non-empty list of non-empty strings",
    ),
    "scales-empty": (
        lambda model, cond: explore.prompt_explorer(None, None, ["a circle"], []),
        ValueError,
        r"scales=\[\] is empty",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_arguments_are_named(case, small_denoiser):
    call, error, match = BAD[case]
    with pytest.raises(error, match=match):
        call(small_denoiser(), small_denoiser(n_classes=3))
