"""difflab.clip_eval: the hard batches CLIP is measured on, the shipped CLIP's
retrieval and zero-shot targets, and the test of binding on two-object scenes."""

import pytest
import torch
import torch.nn.functional as F

from difflab import registry
from difflab.clip_eval import (
    binding_retrieval,
    evaluate_clip,
    hard_batch,
    modality_gap,
)
from difflab.data.scenes import N_OBJECTS, Scene, pair_index, scenes_tokenizer
from difflab.data.shapes import COLOURS, SHAPES
from difflab.metrics import read_scene


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


# --- binding: a caption against its colour-swapped twin (the latent-space chapter) --------


@pytest.fixture(scope="module")
def untrained():
    with torch.no_grad():
        return binding_retrieval(registry.build("scene_clip").eval())


def test_binding_retrieval_reports_swapped_captions_against_random_ones(untrained):
    assert set(untrained) == {"swapped", "random"}


@pytest.mark.parametrize("key", ["swapped", "random"])
def test_an_untrained_clip_retrieves_at_about_chance(untrained, key):
    assert 0.2 <= untrained[key] <= 0.8, untrained


class _BagOfWords:
    """A CLIP that reads a caption as its bag of words, and sees every image alike."""

    tokenizer = scenes_tokenizer()

    def encode_image(self, images):
        return F.normalize(torch.ones(len(images), len(self.tokenizer)), dim=-1)

    def encode_text(self, captions):
        ids = self.tokenizer.encode(captions)
        bags = F.one_hot(ids, len(self.tokenizer)).sum(1).float()
        return F.normalize(bags, dim=-1)


class _Oracle:
    """A CLIP that knows which (left object, right object) pair a picture or a caption
    "a red circle to the left of a blue square" shows."""

    def encode_image(self, images):
        return F.one_hot(pair_index(read_scene(images)).clamp(0), N_OBJECTS**2).float()

    def encode_text(self, captions):
        words = [c.split() for c in captions]
        scene = Scene(
            torch.tensor(
                [
                    [SHAPES.index(w[2]) for w in words],
                    [SHAPES.index(w[-1]) for w in words],
                ]
            ),
            torch.tensor(
                [
                    [COLOURS.index(w[1]) for w in words],
                    [COLOURS.index(w[-2]) for w in words],
                ]
            ),
            None,
        )
        return F.one_hot(pair_index(scene), N_OBJECTS**2).float()


def test_a_bag_of_words_never_prefers_the_true_caption_to_the_swapped_one():
    # the two captions are one bag of words: a tie is not a success
    assert binding_retrieval(_BagOfWords(), repeats=1)["swapped"] == 0.0


@pytest.fixture(scope="module")
def oracle():
    return binding_retrieval(_Oracle(), repeats=1)


@pytest.mark.parametrize("key", ["swapped", "random"])
def test_a_clip_that_reads_the_pairs_retrieves_nearly_always(oracle, key):
    assert oracle[key] >= 0.9, oracle


def test_the_modality_gap_of_identical_clouds_is_zero(shipped_clip):
    """A CLIP whose text side returned the image embeddings would show no gap."""
    from difflab.data import make_shapes

    data = make_shapes(6, seed=0)

    class SameSpace:
        encode_image = shipped_clip.encode_image

        def encode_text(self, captions):
            return shipped_clip.encode_image(data.images)

    gap = modality_gap(SameSpace(), data.images, data.captions)
    assert gap["gap"] < 1e-6
    assert abs(gap["caption, own picture"] - 1) < 1e-5


def test_the_shipped_clip_puts_captions_apart_from_their_pictures(shipped_clip):
    from difflab.data import make_shapes

    data = make_shapes(64, seed=0, split="heldout")
    gap = modality_gap(shipped_clip, data.images, data.captions)
    assert gap["gap"] > 0.2 and gap["caption, own picture"] < 0.95


def test_the_modality_gap_needs_matching_pairs(shipped_clip):
    from difflab.data import make_shapes

    data = make_shapes(3, seed=0)
    with pytest.raises(ValueError, match="matching pairs"):
        modality_gap(shipped_clip, data.images, data.captions[:2])
