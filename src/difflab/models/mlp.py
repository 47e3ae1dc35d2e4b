"""A small time-conditioned MLP denoiser for 2-D points (Chapters 3-7), and the same
network as a flow-matching velocity model (``VelocityMLP``, the chapter after DDIM)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .._checks import check_int
from .layers import timestep_embedding


@dataclass
class MLPConfig:
    dim: int = 2  # dimension of the points
    hidden: int = 128  # width of every hidden layer
    depth: int = 3  # number of hidden residual blocks
    time_dim: int = 64  # size of the sinusoidal time embedding
    n_classes: int = (
        0  # number of classes for conditioning (0: unconditional; Chapter 5)
    )

    def __post_init__(self):
        for name in ("dim", "hidden", "depth", "time_dim"):
            check_int(name, getattr(self, name), low=1)
        check_int("n_classes", self.n_classes, low=0)


class Block(nn.Module):
    """A residual block: x + Linear(SiLU(Linear(x) + embedding))."""

    def __init__(self, hidden: int):
        super().__init__()
        self.lin1 = nn.Linear(hidden, hidden)
        self.lin2 = nn.Linear(hidden, hidden)
        self.act = nn.SiLU()

    def forward(self, h, emb):
        return h + self.lin2(self.act(self.lin1(self.act(h)) + emb))


class MLPDenoiser(nn.Module):
    """eps_theta(x, t, cond=None): predicts the noise in x_t, shape (N, dim).

    The step t enters as a sinusoidal embedding added inside every block; a class
    ``cond`` (a LongTensor (N,), or None for "no condition") adds a learned class
    embedding to it. Class ``n_classes`` is the "no condition" token used for
    classifier-free guidance.
    """

    def __init__(self, config: MLPConfig = MLPConfig()):
        super().__init__()
        self.config = config
        h = config.hidden
        self.inp = nn.Linear(config.dim, h)
        self.time = nn.Sequential(
            nn.Linear(config.time_dim, h), nn.SiLU(), nn.Linear(h, h)
        )
        self.cls = nn.Embedding(config.n_classes + 1, h) if config.n_classes else None
        self.blocks = nn.ModuleList(Block(h) for _ in range(config.depth))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(h, config.dim))

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        emb = self.time(timestep_embedding(t, self.config.time_dim))  # (N, hidden)
        if cond is not None or self.cls is not None:
            emb = emb + self._class_embedding(cond, x.shape[0], x.device)
        h = self.inp(x)  # (N, hidden)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(h)  # (N, dim)

    def _class_embedding(self, cond, n, device):
        if self.cls is None:
            raise ValueError(
                "cond was given, but this model has n_classes=0 (it is unconditional)"
            )
        k = self.config.n_classes
        if cond is None:
            cond = torch.full((n,), k, dtype=torch.long, device=device)
        cond = torch.as_tensor(cond, device=device)
        if cond.ndim == 0:
            cond = cond.expand(n)
        if cond.shape != (n,):
            raise ValueError(
                f"cond has shape {tuple(cond.shape)}; expected ({n},) class ids, one per point"
            )
        if cond.dtype.is_floating_point or cond.min() < 0 or cond.max() > k:
            raise ValueError(
                f"cond contains {cond.min().item()}..{cond.max().item()}; allowed class ids are 0..{k - 1} "
                f"(and {k} for 'no condition')"
            )
        return self.cls(cond.long())


#: The time a flow model's network sees: sigma in [0, 1] times 1000, the range of the DDPM steps
#: t = 0..999 (diffusers and SD3 feed ``timestep = sigma * num_train_timesteps`` the same way).
SIGMA_TO_TIME = 1000.0


class VelocityMLP(nn.Module):
    """v_theta(x, sigma, cond=None): the network of :class:`MLPDenoiser` as a
    flow-matching velocity model (:mod:`difflab.flow`), shape (N, dim).

    ``sigma`` is a float tensor (N,) in [0, 1] (or a number); it enters the same
    sinusoidal embedding as the time ``sigma * SIGMA_TO_TIME`` (the embedding takes real
    times). The weights are those of an :class:`MLPDenoiser` of the same config, under
    ``net.``: the same network, trained for another target. Integer steps are refused:
    they mean a DDPM sampler is calling a flow model.
    """

    def __init__(self, config: MLPConfig = MLPConfig()):
        super().__init__()
        self.config = config
        self.net = MLPDenoiser(config)

    def forward(
        self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, device=x.device)
        if not sigma.dtype.is_floating_point:
            raise TypeError(
                f"sigma has dtype {sigma.dtype}; a velocity model takes float noise levels in [0, 1], "
                f"not the integer steps of a DDPM sampler"
            )
        if sigma.ndim == 0:
            sigma = sigma.expand(x.shape[0])
        if sigma.shape != (x.shape[0],):
            raise ValueError(
                f"sigma has shape {tuple(sigma.shape)}; expected ({x.shape[0]},), one per point"
            )
        return self.net(x, sigma * SIGMA_TO_TIME, cond)
