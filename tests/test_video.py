"""difflab.video (the video chapter): text-to-video with the clip CLIP, the diffusion
transformer and the autoencoder, and the readings of clips the chapter's measurements rest on.
The denoiser here is an untrained, small build of the shipped recipe; the chapter measures the
shipped one."""

import pytest
import torch

from difflab import registry, video
from difflab.data.clips import FRAMES, MOTIONS, SPEED, make_clips
from difflab.recipes import VIDEO_RECIPE, changed

SMALL = {"stem": 8, "width": 16, "depth": 1, "heads": 2, "text_layers": 0}


@pytest.fixture(scope="module")
def small():
    return registry.build(changed(VIDEO_RECIPE, model=SMALL)).eval()


@pytest.fixture(scope="module")
def sample():
    return make_clips(40, seed=11)


def test_text_to_video_gives_one_clip_per_prompt_in_0_1(small):
    clips = video.text_to_video(
        ["a red circle moving up", "a blue box"], steps=2, model=small
    )
    assert clips.shape == (2, FRAMES, 3, 32, 32)
    assert clips.min() >= 0 and clips.max() <= 1


def test_text_to_video_is_the_same_for_the_same_seed(small):
    a = video.text_to_video("a red circle", steps=2, seed=3, model=small)
    b = video.text_to_video("a red circle", steps=2, seed=3, model=small)
    assert torch.equal(a, b)


def test_text_to_video_reads_the_negative_prompt(small):
    with torch.no_grad():
        for p in small.parameters():
            p.add_(0.05 * torch.randn_like(p))
    a = video.text_to_video("a red circle", steps=2, model=small)
    b = video.text_to_video("a red circle", "moving left", steps=2, model=small)
    assert not torch.allclose(a, b)


@pytest.mark.parametrize(
    "prompts, options, name",
    [
        ("", {}, "prompts"),
        ([], {}, "prompts"),
        ("a red circle", {"negative": " "}, "negative"),
        ("a red circle", {"steps": 0}, "steps"),
        ("a red circle", {"scale": float("nan")}, "scale"),
        ("a red circle", {"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_are_refused_by_name(small, prompts, options, name):
    with pytest.raises(ValueError, match=name):
        video.text_to_video(prompts, model=small, **options)


def test_unknown_words_are_named_in_a_warning(small):
    with pytest.warns(UserWarning, match="spinning"):
        video.text_to_video("a red circle spinning", steps=1, model=small)


def test_read_clips_follows_the_generators_track(sample):
    # a triangle's bright pixels centre below its box's centre: compare the steps
    got = video.read_clips(sample.clips)
    assert (got.centre.diff(dim=1) - sample.centres.diff(dim=1)).abs().max() < 0.5


def test_read_clips_reads_the_colour_of_every_frame(sample):
    got = video.read_clips(sample.clips)
    assert (got.colour == sample.attributes.colour[:, None]).float().mean() == 1


def test_read_clips_reads_the_shape_of_almost_every_frame(sample):
    got = video.read_clips(sample.clips)
    assert (got.shape == sample.attributes.shape[:, None]).float().mean() > 0.95


def test_direction_reads_each_motion_from_a_track():
    way = torch.tensor([[1.0, 0], [-1, 0], [0, -1], [0, 1]]) * SPEED
    track = 16 + torch.arange(FRAMES)[None, :, None] * way[:, None]  # (4, F, 2)
    assert video.direction(track).tolist() == list(range(len(MOTIONS)))


def test_direction_is_minus_one_where_the_object_stays():
    assert video.direction(torch.full((1, FRAMES, 2), 16.0)).tolist() == [-1]


def test_the_training_clips_read_as_smooth(sample):
    shares = video.clip_shares(sample.clips, sample.attributes)
    assert shares["consistent"] >= 0.95 and shares["smooth"] >= 0.95


def test_the_training_clips_move_the_named_way_at_their_speed(sample):
    shares = video.clip_shares(sample.clips, sample.attributes)
    assert shares["direction"] == 1 and shares["jump"] == pytest.approx(SPEED, abs=0.1)


def test_an_object_that_stays_is_not_smooth(sample):
    still = sample.clips[:, :1].expand_as(sample.clips)
    assert video.clip_shares(still)["smooth"] == 0


def test_shuffled_frames_are_not_smooth(sample):
    order = torch.tensor([0, 5, 2, 7, 1, 4, 6, 3])
    assert video.clip_shares(sample.clips[:, order])["smooth"] < 0.05


def test_a_clip_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="clips"):
        video.read_clips(torch.rand(2, 3, 32, 32))


def test_heldout_prompts_are_the_heldout_combinations_in_heldout_wordings():
    attrs, prompts = video.heldout_prompts(repeats=2)
    assert len(prompts) == len(attrs.motion) == 2 * 19
    from difflab.data.clips import is_heldout

    assert is_heldout(attrs).all()


def test_tokens_per_clip_counts_spacetime_patches():
    assert video.tokens_per_clip(8, 32, 32, space_down=4) == 8 * 4 * 4
    # WAN 2.1: 81 frames of 720 x 1280, 4x in time, 8x in space, 1 x 2 x 2 patches
    assert video.tokens_per_clip(81, 720, 1280, time_down=4) == 21 * 45 * 80
