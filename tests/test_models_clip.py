"""difflab.models.clip: the CLIP of Chapter 1: two encoders to unit vectors, the
learned temperature, the contrastive loss, retrieval, and clear errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from difflab import registry
from difflab.data import make_shapes
from difflab.models.clip import CLIP, CLIPConfig, clip_loss, top1_retrieval
from difflab.recipes import CLIP_RECIPE, changed
from difflab.training import train
from difflab.utils import local_seed


@pytest.fixture(scope="module")
def model():
    with local_seed(0):
        return CLIP().eval()


def test_encoders_give_unit_vectors_of_dimension_512(model):
    d = make_shapes(5, seed=0)
    with torch.no_grad():
        img, txt = model.encode_image(d.images), model.encode_text(d.captions)
    assert img.shape == txt.shape == (5, 512)
    assert torch.allclose(img.norm(dim=1), torch.ones(5)) and torch.allclose(
        txt.norm(dim=1), torch.ones(5)
    )


def test_text_encoding_ignores_the_padding_a_longer_neighbour_brings(model):
    with torch.no_grad():
        alone = model.encode_text(["a red circle"])
        with_long = model.encode_text(
            ["a red circle", "there is a large purple plus sign at the bottom right"]
        )
    assert torch.allclose(alone[0], with_long[0], atol=1e-5)


def test_logit_scale_starts_at_one_over_0_07(model):
    assert model.scale().item() == pytest.approx(1 / 0.07, rel=1e-6)


def test_logit_scale_is_clamped_at_100():
    m = CLIP()
    with torch.no_grad():
        m.logit_scale.fill_(math.log(500.0))
    assert m.scale().item() == pytest.approx(100.0)


def test_clip_loss_matches_a_hand_computed_loss():
    g = torch.Generator().manual_seed(0)
    img = F.normalize(torch.randn(6, 8, generator=g, dtype=torch.float64), dim=1)
    txt = F.normalize(torch.randn(6, 8, generator=g, dtype=torch.float64), dim=1)
    s = torch.tensor(3.0, dtype=torch.float64)
    total = 0.0
    for i in range(6):
        # -log softmax of the matching pair, along the row and along the column
        row = [math.exp(s * img[i] @ txt[j]) for j in range(6)]
        col = [math.exp(s * img[j] @ txt[i]) for j in range(6)]
        total += -math.log(row[i] / sum(row)) - math.log(col[i] / sum(col))
    assert clip_loss(img, txt, s).item() == pytest.approx(total / 12, rel=1e-12)


def test_clip_loss_of_perfect_pairs_is_near_0():
    # perfect, well-separated pairs at a high logit scale give a loss near 0
    eye = torch.eye(6, dtype=torch.float64)
    assert clip_loss(eye, eye, torch.tensor(100.0)).item() < 1e-12


def test_top1_retrieval_of_matching_pairs_is_one():
    e = torch.eye(4)
    assert top1_retrieval(e, e) == (1.0, 1.0)


def test_top1_retrieval_counts_the_diagonal():
    e = torch.eye(4)
    assert top1_retrieval(e, e[[1, 0, 2, 3]]) == (0.5, 0.5)


@pytest.mark.parametrize(
    "images,exc,match",
    [
        pytest.param(
            torch.rand(2, 3, 16, 16),
            ValueError,
            r"images has shape \(2, 3, 16, 16\); expected \(N, 3, 32, 32\)",
            id="images-size",
        ),
        pytest.param(
            torch.rand(3, 32, 32),
            ValueError,
            r"images has shape \(3, 32, 32\)",
            id="images-3d",
        ),
        pytest.param(
            torch.rand(2, 1, 32, 32),
            ValueError,
            r"images has shape \(2, 1, 32, 32\)",
            id="images-channels",
        ),
        pytest.param(
            torch.rand(2, 3, 32, 32) * 255,
            ValueError,
            r"images has values in \[.*\]; expected \[0, 1\]",
            id="images-0-255",
        ),
        pytest.param(
            torch.rand(2, 3, 32, 32) * 2 - 1,
            ValueError,
            r"images has values in .*expected \[0, 1\]",
            id="images-minus-1-1",
        ),
        pytest.param(
            torch.full((1, 3, 32, 32), float("nan")),
            ValueError,
            r"images has values in .*expected \[0, 1\]",
            id="images-nan",
        ),
        pytest.param(
            (torch.rand(2, 3, 32, 32) * 255).to(torch.uint8),
            TypeError,
            "images has dtype torch.uint8",
            id="images-uint8",
        ),
        pytest.param(
            [[0.5]], TypeError, "images must be a torch.Tensor", id="images-list"
        ),
    ],
)
def test_bad_images_are_named(model, images, exc, match):
    with pytest.raises(exc, match=match):
        model.encode_image(images)


@pytest.mark.parametrize(
    "call, match",
    [
        pytest.param(
            lambda m: m.encode_text(["a red circle", ""]),
            r"captions\[1\]='' has no words",
            id="captions-empty",
        ),
        pytest.param(
            lambda m: m(torch.rand(2, 3, 32, 32), ["a red circle"]),
            "2 images but 1 captions",
            id="captions-count",
        ),
    ],
)
def test_bad_captions_are_named(model, call, match):
    with pytest.raises(ValueError, match=match):
        call(model)


def test_training_resumes_exactly(tmp_path):
    small = changed(
        CLIP_RECIPE, train={"steps": 6, "batch_size": 16, "warmup_steps": 2}
    )
    straight, loss, data, config = registry.parts(small)
    h1 = train(straight, loss, data, config, progress=False)
    state = tmp_path / "state.pt"
    train(
        registry.build(small),
        loss,
        data,
        config,
        state=state,
        stop_at=3,
        progress=False,
    )
    # a fresh process: the state file carries everything
    resumed = registry.build(small)
    h2 = train(resumed, loss, data, config, state=state, progress=False)
    assert h1 == pytest.approx(h2, rel=1e-5)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)


def test_training_batches_come_from_the_training_split():
    images, _ = registry.FAMILIES["clip"].data(CLIP_RECIPE)(step=0)
    train_split = make_shapes(128, seed=0, split="train", p_omit=0.2)
    assert torch.equal(images, train_split.images)


# --- the token states cross-attention reads (the latent-space chapter) ---------------------

CAPTIONS = ["a red circle", "a small blue square in the top left corner"]


@pytest.fixture(scope="module")
def states(model):
    """The model's token states, padding mask and token ids of two captions of unlike
    length."""
    with torch.no_grad():
        x, pad = model.encode_tokens(CAPTIONS)
    return x, pad, model.tokenizer.encode(CAPTIONS)


def test_encode_tokens_gives_a_state_per_token_of_the_longest_caption(states, model):
    x, _, _ = states
    assert x.shape == (2, 11, model.config.text_width)  # <bos>, 9 words, <eos>


def test_encode_tokens_marks_exactly_the_padding(states, model):
    _, pad, ids = states
    assert torch.equal(pad, ids[:, : pad.shape[1]] == model.tokenizer.pad_id)


def test_encode_tokens_pads_the_shorter_caption(states):
    _, pad, _ = states
    assert pad[0].tolist() == [False] * 5 + [True] * 6


def test_the_pooled_embedding_is_the_projected_state_at_eos(states, model):
    x, _, ids = states
    eos = (ids == model.tokenizer.eos_id).int().argmax(1)
    with torch.no_grad():
        expected = F.normalize(
            model.text_encoder.projection(x[torch.arange(2), eos]), dim=-1
        )
        assert torch.allclose(model.encode_text(CAPTIONS), expected, atol=1e-6)


def test_token_states_of_a_caption_ignore_a_longer_neighbour(model):
    with torch.no_grad():
        alone, _ = model.encode_tokens(CAPTIONS[:1])
        together, _ = model.encode_tokens(CAPTIONS)
    assert torch.allclose(together[0, :5], alone[0], atol=1e-5)


def test_an_unknown_vocabulary_is_refused():
    with pytest.raises(
        ValueError, match="vocabulary='words'; use one of shapes, scenes"
    ):
        CLIP(CLIPConfig(vocabulary="words"))


def test_the_scenes_vocabulary_gives_a_tokenizer_of_64_entries():
    clip = CLIP(CLIPConfig(vocab_size=64, vocabulary="scenes"))
    assert len(clip.tokenizer) == 64


def test_the_scenes_vocabulary_knows_the_word_to():
    clip = CLIP(CLIPConfig(vocab_size=64, vocabulary="scenes"))
    assert (
        clip.tokenizer.unknown_words("a red circle to the left of a blue square") == []
    )


def test_the_scenes_vocabulary_needs_its_vocab_size():
    with pytest.raises(ValueError, match="the tokenizer has 64 words"):
        CLIP(CLIPConfig(vocabulary="scenes"))


def test_a_clip_of_clips_reads_every_frame():
    from difflab.data.clips import make_clips

    recipe = registry.MODELS["video_clip"]
    with local_seed(0):
        model = CLIP(CLIPConfig(**recipe["model"])).eval()
    clips = make_clips(2, seed=0).clips
    changed_last = clips.clone()
    changed_last[:, -1] = 0  # the last frame blacked out
    with torch.no_grad():
        a, b = model.encode_image(clips), model.encode_image(changed_last)
    assert a.shape == (2, 512) and not torch.allclose(a, b)


def test_a_clip_of_clips_refuses_single_pictures():
    recipe = registry.MODELS["video_clip"]
    model = CLIP(CLIPConfig(**recipe["model"]))
    with pytest.raises(ValueError, match="clips"):
        model.encode_image(torch.rand(2, 3, 32, 32))
