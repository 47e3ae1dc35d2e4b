"""Data generated in code: nothing is downloaded."""

from .scenes import Scene, ScenesSample, make_scenes
from .shapes import Attributes, ShapesSample, make_shapes, shapes_tokenizer
from .spiral import (
    SpiralSample,
    label_probs,
    make_spiral,
    project_to_spiral,
    spiral_curve,
)
from .tokenizer import Tokenizer

__all__ = [
    "Attributes",
    "Scene",
    "ScenesSample",
    "ShapesSample",
    "SpiralSample",
    "Tokenizer",
    "label_probs",
    "make_scenes",
    "make_shapes",
    "make_spiral",
    "project_to_spiral",
    "shapes_tokenizer",
    "spiral_curve",
]
