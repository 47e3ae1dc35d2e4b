"""Data generated in code: nothing is downloaded."""
from .spiral import SpiralSample, make_spiral, project_to_spiral, spiral_curve

__all__ = ["SpiralSample", "make_spiral", "project_to_spiral", "spiral_curve"]
