"""The explorers: every drawing function on a real (Agg) axes for two values, the static
book's animation or small multiples without a widget, the live widget, bad arguments."""

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from IPython.display import HTML
from matplotlib.figure import Figure

from difflab import explore, local_seed, plot
from difflab.denoisers import ExactDenoiser
from difflab.models.mlp import MLPConfig, MLPDenoiser
from difflab.recipes import load_clip, spiral_schedule
from difflab.t2i import load_t2i

ABAR = spiral_schedule()
TS = [999, 600, 300, 100, 0]  # a few DDPM/DDIM steps: the pictures, not their quality


def _mlp(n_classes=0):
    with local_seed(0):
        return MLPDenoiser(MLPConfig(hidden=16, depth=1, n_classes=n_classes)).eval()


@pytest.fixture(scope="module")
def t2i():
    return load_t2i(), load_clip()


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


def test_draw_field_draws_the_learned_field_beside_the_exact_one():
    points = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    model, exact = _mlp(), ExactDenoiser(points, ABAR)
    one = _two_values(lambda ax, t: explore.draw_field(ax, t, model, n=5), 900, 20)
    assert _differ(*one)
    both = _two_values(
        lambda ax, t: explore.draw_field(ax, t, model, exact, n=5), 900, 20, ncols=2
    )
    assert _differ(*both) and len(both[0]) > len(one[0])
    _, ax = plot.subplots()
    with pytest.raises(ValueError, match="draw_field needs 2 axes here; got 1"):
        explore.draw_field(ax, 10, model, exact)


def test_draw_eta_is_pure_and_draws_samples_and_paths():
    model, x_T = _mlp(), torch.randn(40, 2, generator=torch.Generator().manual_seed(0))

    def draw(ax, eta):
        return explore.draw_eta(ax, eta, model, x_T, TS, ABAR, n_paths=3)

    ode, sde = _two_values(draw, 0.0, 1.0)
    assert _differ(ode, sde)
    assert np.allclose(_two_values(draw, 0.5, 0.5)[0], _two_values(draw, 0.5, 0.5)[1])
    _, ax = plot.subplots()
    assert draw(ax, 1.0).get_title().startswith("eta = 1: path length")


def test_draw_guided_draws_scales_and_negatives():
    model = _mlp(n_classes=3)
    x_T = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
    ids = torch.arange(3).repeat_interleave(10)

    def scale(ax, s):
        return explore.draw_guided(ax, s, model, x_T, ids, ABAR, TS)

    def negative(ax, s):
        return explore.draw_guided(ax, s, model, x_T, None, ABAR, TS, negative=1)

    assert _differ(*_two_values(scale, 1.0, 5.0))
    assert _differ(*_two_values(negative, 1.0, 5.0))
    _, ax = plot.subplots()
    assert "in part 1" in negative(ax, 2.0).get_title()


def test_draw_prompt_draws_pictures_and_a_note_for_a_blank_prompt(t2i):
    model, clip = t2i
    ax_a, ax_b, ax_c = plot.subplots(1, 3)[1]
    explore.draw_prompt(ax_a, "a red circle", 1.0, model, clip, n=1, steps=2)
    explore.draw_prompt(ax_b, "a red circle", 5.0, model, clip, n=1, steps=2)
    assert ax_a.images and _differ(_drawn(ax_a), _drawn(ax_b))
    explore.draw_prompt(ax_c, "  ", 2.0, model, clip)
    assert [t.get_text() for t in ax_c.texts] == ["type a prompt"]


def _explorers(t2i):
    """One small call of each explorer, by chapter."""
    model, cond = _mlp(), _mlp(n_classes=3)
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


@pytest.mark.parametrize("chapter", ["ch03", "ch04", "ch06", "ch07", "ch08"])
def test_the_book_gets_an_animation_or_small_multiples_no_widget_no_reseeding(
    chapter, t2i, monkeypatch
):
    monkeypatch.setenv("DIFFLAB_BOOK", "1")
    made, init = [], ipywidgets.Widget.__init__
    monkeypatch.setattr(
        ipywidgets.Widget, "__init__", lambda w, **kw: made.append(w) or init(w, **kw)
    )
    make = _explorers(t2i)[chapter]
    state = torch.get_rng_state()
    shown = make()
    assert made == []  # no widget
    # the process's random state untouched
    assert torch.equal(torch.get_rng_state(), state)
    if chapter == "ch08":  # prompts x scales, closed so that it is shown once
        assert isinstance(shown, Figure) and not plt.fignum_exists(shown.number)
        axes = np.asarray(shown.axes).reshape(2, 2)
        assert [ax.get_title() for ax in axes[0]] == ["s = 1", "s = 3"]
        assert axes[1, 0].get_ylabel() == "'a blue square'" and axes[1, 1].images
    else:
        assert isinstance(shown, HTML) and "<script" in shown.data
        assert shown.data.count("data:image/jpeg") == 2  # one frame per value


@pytest.mark.parametrize("chapter", ["ch03", "ch04", "ch06", "ch07", "ch08"])
def test_jupyter_gets_a_live_widget(chapter, t2i, monkeypatch):
    monkeypatch.delenv("DIFFLAB_BOOK", raising=False)
    shown = _explorers(t2i)[chapter]()
    assert isinstance(shown, ipywidgets.interactive)
    controls = [w for w in shown.children if not isinstance(w, ipywidgets.Output)]
    if chapter == "ch08":  # a text box that offers the prompts, and a slider of scales
        box, slider = controls
        assert isinstance(box, ipywidgets.Combobox) and not box.ensure_option
        assert box.options == ("a red circle", "a blue square")
        assert isinstance(slider, ipywidgets.SelectionSlider)
        box.value = "a green cross"  # any prompt may be typed
        assert shown.kwargs == {"prompt": "a green cross", "s": 3.0}
    else:
        (slider,) = controls
        assert isinstance(slider, ipywidgets.SelectionSlider)
        assert not slider.continuous_update  # redrawn on release: a picture takes time
        assert shown.kwargs == {slider.description: slider.value}


def test_bad_arguments_are_named():
    model, cond = _mlp(), _mlp(n_classes=3)
    with pytest.raises(ValueError, match=r"ts=\[\] is empty"):
        explore.field_explorer(model, [])
    with pytest.raises(ValueError, match=r"ts\[1\]=-5 is out of range"):
        explore.field_explorer(model, [10, -5])
    with pytest.raises(ValueError, match=r"etas\[0\]=1.5 is out of range: allowed is "):
        explore.eta_explorer(model, ABAR, [1.5])
    with pytest.raises(ValueError, match="n_paths=9 is out of range"):
        explore.eta_explorer(model, ABAR, [0.0], n=4, n_paths=9)
    with pytest.raises(ValueError, match="timesteps must be strictly decreasing"):
        explore.eta_explorer(model, ABAR, [0.0], timesteps=[0, 10])
    with pytest.raises(ValueError, match=r"scales\[1\]=-1.0 is out of range"):
        explore.scale_explorer(cond, 0, [1, -1], ABAR)
    with pytest.raises(
        ValueError, match=r"cond\[0\]=3 is out of range.*0 <= cond\[0\] <= 2"
    ):
        explore.scale_explorer(cond, [3], [1], ABAR)
    with pytest.raises(ValueError, match="model has no classes"):
        explore.scale_explorer(model, 0, [1], ABAR)
    with pytest.raises(TypeError, match="negative=None must be an int"):
        explore.negative_explorer(cond, 0, None, [1], ABAR)
    with pytest.raises(ValueError, match="seed=-1"):
        explore.negative_explorer(cond, None, 1, [1], ABAR, seed=-1)
    with pytest.raises(
        ValueError, match="prompts=.* non-empty list of non-empty strings"
    ):
        explore.prompt_explorer(None, None, ["a circle", ""], [1])
    with pytest.raises(ValueError, match=r"scales=\[\] is empty"):
        explore.prompt_explorer(None, None, ["a circle"], [])
    with pytest.raises(ValueError, match="both parameters are called 's'"):
        plot.grid_explorer(lambda ax, a, b: None, ("s", [1]), ("s", [2]))
