"""CLIP: a text encoder and an image encoder that map into one space (Radford et al. 2021).

Both encoders end in a linear projection to D = 512 dimensions (the embedding size of CLIP
ViT-B/32) followed by L2 normalisation, so the dot product of an image vector and a text
vector is their cosine similarity. Training pushes matching pairs together and all other
pairs of the batch apart (:func:`clip_loss`).

Ours is small enough to train from scratch on a 2-core CPU in about two minutes:
a 4-layer convolutional image encoder for 32 x 32 images (CLIP uses a ResNet or a ViT) and a
2-layer transformer text encoder over word tokens (CLIP: 12 layers over byte-pair tokens).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.clips import clips_tokenizer
from ..data.scenes import scenes_tokenizer
from ..data.shapes import shapes_tokenizer
from ..data.tokenizer import Tokenizer
from .layers import transformer


@dataclass
class CLIPConfig:
    embed_dim: int = 512  # D, the shared space (CLIP ViT-B/32: 512)
    image_size: int = 32  # images are (3, image_size, image_size)
    channels: tuple = (16, 32, 64)  # conv widths; each stage halves the resolution
    image_hidden: int = 256  # width of the image encoder's last hidden layer
    vocab_size: int = 63  # tokenizer size (4 special tokens + words)
    max_len: int = 24  # tokens per caption, <bos> and <eos> included
    text_width: int = 64  # transformer width
    text_layers: int = 2
    text_heads: int = 4
    init_temperature: float = (
        0.07  # logit scale starts at 1 / 0.07 (Radford et al. 2021, Sec. 2.5)
    )
    max_logit_scale: float = 100.0  # ... and is clamped at 100
    # the captions' words: "shapes" (Chapter 1) or "scenes" (the two-object scenes too)
    vocabulary: str = "shapes"
    # frames the image side reads at once: 1 for pictures; a clip's F frames are stacked
    # as 3F channels, so the first convolution sees what changes from frame to frame
    frames: int = 1


TOKENIZERS = {
    "shapes": shapes_tokenizer,
    "scenes": scenes_tokenizer,
    "clips": clips_tokenizer,  # the video chapter: the shapes' words and the motions'
}


class ImageEncoder(nn.Module):
    """Conv stages (each: 3x3 conv, stride 2, GELU) -> flatten -> MLP -> projection to D.

    Flattening (not average pooling) keeps *where* things are, which captions talk about.
    """

    def __init__(self, cfg: CLIPConfig):
        super().__init__()
        layers, c_in = (
            [nn.Conv2d(3 * cfg.frames, cfg.channels[0], 3, padding=1), nn.GELU()],
            cfg.channels[0],
        )
        for c in cfg.channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GELU()]
            c_in = c
        self.convs = nn.Sequential(*layers)
        side = cfg.image_size // 2 ** len(cfg.channels)
        self.mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * side * side, cfg.image_hidden),
            nn.GELU(),
            nn.LayerNorm(cfg.image_hidden),
        )
        self.projection = nn.Linear(cfg.image_hidden, cfg.embed_dim, bias=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.convs((images - 0.5) / 0.25)  # (N, C, s, s)
        return F.normalize(self.projection(self.mlp(x)), dim=-1)  # (N, D), unit length


class TextEncoder(nn.Module):
    """Token + position embeddings -> transformer -> the vector at <eos> -> projection to D.

    As in CLIP (Radford et al. 2021, Sec. 2.4) the caption's summary is read at the <eos>
    token, after a final layer norm.
    """

    def __init__(self, cfg: CLIPConfig, pad_id: int = 0, eos_id: int = 3):
        super().__init__()
        self.pad_id, self.eos_id = pad_id, eos_id
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.positional_embedding = nn.Parameter(
            0.01 * torch.randn(cfg.max_len, cfg.text_width)
        )
        self.transformer = transformer(cfg.text_width, cfg.text_heads, cfg.text_layers)
        self.ln_final = nn.LayerNorm(cfg.text_width)
        self.projection = nn.Linear(cfg.text_width, cfg.embed_dim, bias=False)

    def token_states(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the last hidden state of every token after the final layer norm (N, L, W), the
        padding mask (N, L), True at ``<pad>``): what cross-attention reads, as Stable
        Diffusion reads CLIP's 77 token states (Rombach et al. 2022, Sec. 3.3)."""
        tokens = tokens[
            :, : int((tokens != self.pad_id).sum(1).max())
        ]  # drop columns that are padding only
        x = (
            self.token_embedding(tokens) + self.positional_embedding[: tokens.shape[1]]
        )  # (N, L, W)
        pad = tokens == self.pad_id
        return self.ln_final(self.transformer(x, src_key_padding_mask=pad)), pad

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x, _ = self.token_states(tokens)
        tokens = tokens[:, : x.shape[1]]
        eos = (tokens == self.eos_id).int().argmax(dim=1)  # (N,) position of <eos>
        x = x[torch.arange(len(tokens)), eos]  # (N, W)
        return F.normalize(self.projection(x), dim=-1)  # (N, D), unit length


class CLIP(nn.Module):
    """The two encoders and the learned temperature. Public entry points:
    ``encode_text(list_of_str)`` and ``encode_image(images)``, both (N, D) unit vectors."""

    def __init__(
        self, cfg: CLIPConfig | None = None, tokenizer: Tokenizer | None = None
    ):
        super().__init__()
        self.config = cfg = cfg or CLIPConfig()
        if cfg.vocabulary not in TOKENIZERS:
            raise ValueError(
                f"vocabulary={cfg.vocabulary!r}; use one of {', '.join(TOKENIZERS)}"
            )
        self.tokenizer = tokenizer or TOKENIZERS[cfg.vocabulary](cfg.max_len)
        if (
            len(self.tokenizer) != cfg.vocab_size
            or self.tokenizer.max_len != cfg.max_len
        ):
            raise ValueError(
                f"the tokenizer has {len(self.tokenizer)} words and max_len {self.tokenizer.max_len}; "
                f"the config says vocab_size={cfg.vocab_size}, max_len={cfg.max_len}"
            )
        self.image_encoder = ImageEncoder(cfg)
        self.text_encoder = TextEncoder(
            cfg, self.tokenizer.pad_id, self.tokenizer.eos_id
        )
        # log of the logit scale, so it stays positive: exp(log(1 / 0.07)) = 14.3 at the start
        self.logit_scale = nn.Parameter(
            torch.tensor(math.log(1 / cfg.init_temperature))
        )

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def scale(self) -> torch.Tensor:
        """The logit scale 1 / temperature, clamped at ``max_logit_scale`` (Radford et al. 2021, Sec. 2.5)."""
        return self.logit_scale.exp().clamp(max=self.config.max_logit_scale)

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        """Unit vectors (N, D) for N captions (see :mod:`difflab.data.tokenizer` for unknown words)."""
        return self.text_encoder(self.tokenizer.encode(captions).to(self.device))

    def encode_tokens(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(token states (N, L, W), padding mask (N, L)) for N captions: the text encoder's
        last hidden states, one per token, before pooling (:meth:`TextEncoder.token_states`)."""
        return self.text_encoder.token_states(
            self.tokenizer.encode(captions).to(self.device)
        )

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unit vectors (N, D) for images (N, 3, H, W), float in [0, 1], H = W =
        ``config.image_size``; for a CLIP of clips (``config.frames`` = F > 1), clips
        (N, F, 3, H, W), their frames stacked as 3F channels."""
        f = self.config.frames
        if f > 1:
            if not isinstance(images, torch.Tensor) or images.shape[1:2] != (f,):
                got = getattr(images, "shape", type(images).__name__)
                raise ValueError(f"images must be clips (N, {f}, 3, H, W), got {got}")
            check_images(images.flatten(0, 1), self.config.image_size)
            images = images.flatten(1, 2)  # (N, 3F, H, W)
        else:
            check_images(images, self.config.image_size)
        return self.image_encoder(images.to(self.device, torch.float32))

    def forward(
        self, images: torch.Tensor, captions: list[str]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(image vectors, text vectors, logit scale) for a batch of N matching pairs."""
        if len(images) != len(captions):
            raise ValueError(
                f"{len(images)} images but {len(captions)} captions; a batch holds matching pairs"
            )
        return self.encode_image(images), self.encode_text(captions), self.scale()


def check_images(images, size: int) -> None:
    """Raise a clear error unless ``images`` is a float tensor (N, 3, size, size) with values in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, not {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[2:] != (size, size):
        raise ValueError(
            f"images has shape {tuple(images.shape)}; expected (N, 3, {size}, {size})"
        )
    if not images.is_floating_point():
        raise TypeError(
            f"images has dtype {images.dtype}; expected floats in [0, 1] (divide uint8 images by 255)"
        )
    lo, hi = images.min().item(), images.max().item()
    if not (0.0 <= lo and hi <= 1.0):  # also catches NaN
        raise ValueError(
            f"images has values in [{lo:.3g}, {hi:.3g}]; expected [0, 1] (not [-1, 1] or [0, 255])"
        )


def clip_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """The symmetric contrastive loss of CLIP (Radford et al. 2021, Fig. 3; InfoNCE, van den Oord et al. 2018).

    Row i of ``logits_per_image`` scores image i against every caption of the batch; the right
    caption is number i, so the targets are 0, 1, ..., N-1: the diagonal.
    """
    logits_per_image = (
        logit_scale * image_features @ text_features.T
    )  # (N, N) scaled cosine similarities
    logits_per_text = logits_per_image.T  # row j: caption j against every image
    labels = torch.arange(len(logits_per_image), device=logits_per_image.device)
    return (
        F.cross_entropy(logits_per_image, labels)
        + F.cross_entropy(logits_per_text, labels)
    ) / 2


@torch.no_grad()
def similarity(model: CLIP, images: torch.Tensor, captions: list[str]) -> torch.Tensor:
    """Cosine similarities (N images, M captions) between unit vectors: values in [-1, 1]."""
    return model.encode_image(images) @ model.encode_text(captions).T


@torch.no_grad()
def zero_shot_classify(
    model: CLIP, images: torch.Tensor, prompts: list[str]
) -> torch.Tensor:
    """The index of the prompt closest to each image (N,): a classifier made from text alone
    (Radford et al. 2021, Sec. 3.1)."""
    return similarity(model, images, prompts).argmax(dim=1).cpu()


def top1_retrieval(
    image_features: torch.Tensor, text_features: torch.Tensor
) -> tuple[float, float]:
    """(image -> text, text -> image) top-1 accuracy in one batch of N matching pairs: the share of
    rows (columns) of the similarity matrix whose largest entry is on the diagonal."""
    sim = image_features @ text_features.T  # (N, N)
    target = torch.arange(len(sim), device=sim.device)
    return (sim.argmax(1) == target).float().mean().item(), (
        sim.argmax(0) == target
    ).float().mean().item()
