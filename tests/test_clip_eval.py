"""Tests of difflab.clip_eval."""

import pytest
import torch

from difflab import registry
from difflab.clip_eval import evaluate_clip, hard_batch
from difflab.models.clip import top1_retrieval

CHECKPOINT = registry.CHECKPOINTS / "clip.safetensors"


@pytest.fixture(scope="module")
def shipped():
    assert CHECKPOINT.is_file(), (
        f"{CHECKPOINT} is missing: run scripts/train.py --model clip"
    )
    return registry.load("clip")


def test_top1_retrieval_counts_the_diagonal():
    e = torch.eye(4)
    assert top1_retrieval(e, e) == (1.0, 1.0)
    assert top1_retrieval(e, e[[1, 0, 2, 3]]) == (0.5, 0.5)


def test_hard_batches_pair_combinations_differing_in_one_attribute():
    a = hard_batch(64, torch.Generator().manual_seed(0))
    v = torch.stack(a, 1).reshape(32, 2, 4)
    assert ((v[:, 0] != v[:, 1]).sum(1) == 1).all()


def test_shipped_checkpoint_meets_the_targets(shipped):
    m = evaluate_clip(shipped, n_batches=10, n_zero_shot=1000)
    print(m)
    assert m["retrieval_i2t"] >= 0.90 and m["retrieval_t2i"] >= 0.90, m
    for attribute in ("colour", "shape", "position"):
        assert m[f"zero_shot_{attribute}"] >= 0.95, m
