"""difflab.recipes: the book's recipes as plain dicts, and changed()."""

import pytest

from difflab import registry
from difflab.recipes import SPIRAL_DDPM, changed


def test_changed_returns_a_copy_with_the_entries_changed():
    shorter = changed(SPIRAL_DDPM, train={"steps": 7})
    assert shorter["train"]["steps"] == 7
    assert SPIRAL_DDPM["train"]["steps"] != 7


def test_changed_leaves_the_base_recipe_inside_a_recipe_alone():
    # the reflow recipe holds its base, which shares parts with it
    reflow = registry.recipe_of("spiral_flow_reflow")
    shorter = changed(reflow, train={"steps": 1})
    assert shorter["base"] == reflow["base"]


@pytest.mark.parametrize(
    "parts, match",
    [({"trian": {"steps": 1}}, "no part 'trian'"), ({"train": {"stps": 1}}, "stps")],
    ids=["part", "entry"],
)
def test_changed_refuses_what_the_recipe_does_not_have(parts, match):
    with pytest.raises(ValueError, match=match):
        changed(SPIRAL_DDPM, **parts)
