"""difflab.models.clip: the CLIP of Chapter 1: two encoders to unit vectors, the
learned temperature, the contrastive loss, retrieval, and clear errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from difflab import registry
from difflab.data import make_shapes
from difflab.models.clip import CLIP, clip_loss, top1_retrieval
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
