"""difflab.clip_eval: the hard batches CLIP is measured on, and the shipped CLIP's
retrieval and zero-shot targets."""

import pytest
import torch

from difflab.clip_eval import evaluate_clip, hard_batch


def test_hard_batches_pair_combinations_differing_in_one_attribute():
    a = hard_batch(64, torch.Generator().manual_seed(0))
    v = torch.stack(a, 1).reshape(32, 2, 4)
    assert ((v[:, 0] != v[:, 1]).sum(1) == 1).all()


@pytest.fixture(scope="module")
def measured(shipped_clip):
    """The shipped CLIP's measurements, made once."""
    return evaluate_clip(shipped_clip, n_batches=10, n_zero_shot=1000)


def test_shipped_checkpoint_retrieves_both_ways(measured):
    m = measured
    assert m["retrieval_i2t"] >= 0.90 and m["retrieval_t2i"] >= 0.90, m


@pytest.mark.parametrize("attribute", ["colour", "shape", "position"])
def test_shipped_checkpoint_classifies_zero_shot(measured, attribute):
    assert measured[f"zero_shot_{attribute}"] >= 0.95, measured
