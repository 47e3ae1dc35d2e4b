"""difflab.data.clips: captioned clips of one shape moving in a straight line (the video
chapter)."""

import pytest
import torch

from difflab.data.clips import (
    FRAMES,
    HELDOUT_TEMPLATES,
    MOTIONS,
    N_COMBOS,
    SPEED,
    ClipAttributes,
    clips_tokenizer,
    is_heldout,
    make_clips,
    sample_attributes,
)
from difflab.data.tokenizer import split_words


def test_a_clip_is_eight_frames_of_32_by_32_in_0_1():
    clips = make_clips(5, seed=0).clips
    assert clips.shape == (5, FRAMES, 3, 32, 32)
    assert clips.min() >= 0 and clips.max() <= 1


def test_the_centre_moves_by_the_speed_every_frame_the_named_way():
    sample = make_clips(50, seed=1)
    steps = sample.centres.diff(dim=1)  # (N, F - 1, 2)
    way = torch.tensor([[1, 0], [-1, 0], [0, -1], [0, 1]], dtype=torch.float32)
    want = SPEED * way[sample.attributes.motion][:, None]
    assert torch.allclose(steps, want.expand_as(steps))


def test_the_object_stays_inside_the_picture_in_every_frame():
    centres = make_clips(500, seed=2).centres
    assert centres.min() >= 7 and centres.max() <= 25


def test_the_pixels_follow_the_centre():
    sample = make_clips(20, seed=3)
    bright = sample.clips.amax(2) > 0.3  # (N, F, H, W)
    grid = torch.arange(32) + 0.5
    x = (bright * grid).sum((2, 3)) / bright.sum((2, 3))
    assert (x - sample.centres[..., 0]).abs().max() < 1.0


def test_the_heldout_split_is_a_fifth_of_the_combinations():
    every = sample_attributes(20000, torch.Generator().manual_seed(0), split="all")
    assert 0.17 < is_heldout(every).float().mean() < 0.23
    train = sample_attributes(2000, torch.Generator().manual_seed(0), split="train")
    assert not is_heldout(train).any()
    held = sample_attributes(2000, torch.Generator().manual_seed(0), split="heldout")
    assert is_heldout(held).all()


def test_every_motion_is_seen_in_training():
    train = sample_attributes(20000, torch.Generator().manual_seed(0), split="train")
    assert set(train.motion.tolist()) == set(range(len(MOTIONS)))


def test_every_shape_colour_pair_is_seen_in_training():
    train = sample_attributes(20000, torch.Generator().manual_seed(0), split="train")
    pairs = set(zip(train.shape.tolist(), train.colour.tolist()))
    assert len(pairs) == 24


def test_a_caption_names_the_shape_colour_motion():
    attrs = ClipAttributes(torch.tensor([0]), torch.tensor([0]), torch.tensor([1]))
    from difflab.data.clips import describe_clips

    caption = describe_clips(attrs, torch.Generator().manual_seed(0))[0]
    words = split_words(caption)
    assert "red" in words and ("circle" in words or "disc" in words)
    assert "left" in words or "leftwards" in words


def test_heldout_wordings_use_only_training_words():
    train = set(split_words(" ".join(make_clips(3000, seed=4).captions)))
    for template in HELDOUT_TEMPLATES:
        words = split_words(template[0].replace("{np}", " ").replace("{dir}", " "))
        assert set(words) <= train


def test_the_tokenizer_knows_every_caption_word():
    tok = clips_tokenizer()
    captions = make_clips(500, seed=5, split="all", p_omit=0.3).captions
    assert tok.unknown_words(" ".join(captions)) == []


def test_the_same_seed_gives_the_same_clips():
    a, b = make_clips(4, seed=6), make_clips(4, seed=6)
    assert torch.equal(a.clips, b.clips) and a.captions == b.captions


@pytest.mark.parametrize("n", [0, -1])
def test_a_bad_count_is_refused_by_name(n):
    with pytest.raises(ValueError, match="n"):
        make_clips(n)


def test_a_bad_split_is_refused_by_name():
    with pytest.raises(ValueError, match="split"):
        make_clips(2, split="test")


def test_96_combinations():
    assert N_COMBOS == 96
