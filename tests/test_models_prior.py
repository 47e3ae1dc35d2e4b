"""difflab.models.prior: unCLIP's prior network, text embedding (and, for the diffusion prior,
a noised image embedding and its step) -> a clean image embedding scaled by sqrt(dim)."""

import pytest
import torch

from difflab.models.prior import Prior, PriorConfig

SMALL = {"dim": 8, "width": 16, "depth": 2, "time_dim": 8}


def test_the_diffusion_prior_maps_a_noised_embedding_with_its_text_to_an_embedding():
    prior = Prior(PriorConfig(kind="diffusion", **SMALL))
    out = prior(torch.randn(5, 8), torch.arange(5), torch.randn(5, 8))
    assert out.shape == (5, 8)


def test_the_diffusion_prior_reads_the_noised_embedding():
    prior = Prior(PriorConfig(kind="diffusion", **SMALL))
    t, text = torch.zeros(2, dtype=torch.long), torch.randn(1, 8).expand(2, 8)
    out = prior(torch.randn(2, 8), t, text)
    assert not torch.allclose(out[0], out[1])


def test_the_regression_prior_reads_only_the_text():
    prior = Prior(PriorConfig(kind="regression", **SMALL))
    assert prior(None, None, torch.randn(3, 8)).shape == (3, 8)


@pytest.mark.parametrize(
    "field, value", [("kind", "autoregressive"), ("width", 0), ("depth", -1)]
)
def test_a_bad_config_is_refused_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        PriorConfig(**{**SMALL, field: value})
