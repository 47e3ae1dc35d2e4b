"""Numbers that say whether a claim holds: every check in the book is built on these."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch

from ._checks import check_float, check_int
from .data.scenes import Scene
from .data.shapes import CENTRE, RGB, SHAPES, SIZES, Attributes, render
from .data.spiral import make_spiral, part_of, project_to_spiral
from .schedules import q_sample


def moment_z_scores(
    samples: torch.Tensor, mean, var
) -> tuple[torch.Tensor, torch.Tensor]:
    """z = (estimate - prediction) / SE: how many standard errors the sample mean and
    variance lie from the predicted ``mean`` and ``var``.

    ``samples``: (n, d). Returns (z_mean, z_var), each (d,). The standard errors come
    from the sample itself: SE(mean) = sqrt(var / n) and SE(var) = sqrt((m4 - var^2) /
    n), with m4 the fourth central moment, so they hold for any distribution with finite
    fourth moment, not only a Gaussian. A correct prediction gives |z| < 5 except with
    probability ~1e-6 per number.
    """
    x = torch.as_tensor(samples).detach().cpu().double()  # float64 on the CPU
    _check_samples(x)
    n = x.shape[0]
    m = x.mean(0)
    c = x - m
    v = (c**2).sum(0) / (n - 1)
    m4 = (c**4).mean(0)
    se_mean = (v / n).sqrt()
    se_var = ((m4 - v**2).clamp_min(1e-300) / n).sqrt()
    mean = torch.as_tensor(mean).detach().cpu().double()
    var = torch.as_tensor(var).detach().cpu().double()
    return (m - mean) / se_mean, (v - var) / se_var


def w2(x: torch.Tensor, y: torch.Tensor) -> float:
    """W2(x, y) = (min_pi sum_ij pi_ij |x_i - y_j|^2)^(1/2): the exact 2-Wasserstein
    distance between two equal-weight point clouds (n, d) and (m, d).

    The optimal transport plan is found exactly by linear programming (POT's
    ``ot.emd2``, Flamary et al. 2021) on squared Euclidean costs; the result is the
    square root of its cost.
    """
    import ot

    x = torch.as_tensor(x, dtype=torch.float64).cpu()
    y = torch.as_tensor(y, dtype=torch.float64).cpu()
    _check_clouds(x, y)
    cost = torch.cdist(x, y) ** 2
    a = torch.full((len(x),), 1 / len(x), dtype=torch.float64)
    b = torch.full((len(y),), 1 / len(y), dtype=torch.float64)
    return (
        float(ot.emd2(a.numpy(), b.numpy(), cost.numpy(), numItermax=10_000_000)) ** 0.5
    )


_CACHE: dict = {}


def spiral_floor(n: int) -> float:
    """The noise floor: W2 between two independent spiral samples of size n, median of 3
    seeds. Even a perfect sampler's W2 to a finite reference sample is about this large.
    Cached."""
    if ("floor", n) not in _CACHE:
        draws = sorted(
            w2(make_spiral(n, seed=20_000 + k).x, make_spiral(n, seed=10_000 + k).x)
            for k in range(3)
        )
        _CACHE[("floor", n)] = draws[1]
    return _CACHE[("floor", n)]


def w2_ratio(samples: torch.Tensor, seed: int = 0, n_ref: int | None = None) -> float:
    """r = W2(samples, a fresh spiral sample of ``n_ref`` points) / :func:`spiral_floor`
    (n_ref).

    ``seed`` picks the reference sample; ``n_ref`` defaults to the number of samples. r
    near 1 means "as close as an independent sample of the true distribution"; the
    book's checks take the median of r over 3 seeds (3 sample sets against 3 reference
    draws), because W2 at n = 2000 varies by tens of percent from one reference draw to
    the next.
    """
    samples = torch.as_tensor(samples)
    n_ref = len(samples) if n_ref is None else n_ref
    return w2(samples, make_spiral(n_ref, seed=30_000 + seed).x) / spiral_floor(n_ref)


SEEDS = (0, 1, 2)


def median_w2_ratio(
    sample: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
    n: int,
    *,
    seeds: Sequence[int] = SEEDS,
    device=None,
) -> tuple[float, list[float], list[torch.Tensor]]:
    """median_s r_s, r_s = :func:`w2_ratio` of the samples of seed s: the book's score
    of a 2-D sampler, with every r_s.

    For each seed s, a generator seeded with s draws the start x_T ~ N(0, I) of shape
    (n, 2); ``sample(x_T, generator)`` runs the sampler, drawing any fresh noise from
    the same generator (``generator.initial_seed()`` is s), and r_s = w2_ratio(samples,
    s) compares the result with the reference draw of seed s. x_T is drawn on the CPU
    and moved to ``device`` (the same start on every device). W2 at n = 2000 varies by
    tens of percent from one reference draw to the next, so the book reports the median
    over 3 seeds. Returns (median r, [r_s], [samples_s]).
    """
    rs, xs = [], []
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        x = sample(torch.randn(n, 2, generator=g).to(device or "cpu"), g)
        rs.append(w2_ratio(x, s))
        xs.append(x)
    return statistics.median(rs), rs, xs


def median_r(
    sampler: Callable,
    model: Callable,
    *args,
    n: int,
    seeds: Sequence[int] = SEEDS,
    device=None,
    start: Callable | None = None,
    **kwargs,
) -> tuple[float, list[float], list[torch.Tensor]]:
    """median_s W2(x_s, ref_s) / floor: the r of a sampler, :func:`median_w2_ratio` of
    ``sampler(model, x_T, *args, generator=g, **kwargs)`` (Chapters 3-4b).

    ``args`` are the sampler's levels: (timesteps, alphas_cumprod) for
    :mod:`difflab.samplers`, (sigmas,) for :mod:`difflab.flow_samplers`. For each seed,
    x_T ~ N(0, I) (n, 2) is drawn from the seed's generator, which the sampler then
    draws its fresh noise from; ``start(x_T, g)``, when given, replaces x_T by another
    start (a rescaled one, exact samples of q(x_t)). Returns, as
    :func:`median_w2_ratio` does, (median r, [r per seed], [samples per seed]).
    """

    def run(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        x = x if start is None else start(x, g)
        return sampler(model, x, *args, generator=g, **kwargs)

    return median_w2_ratio(run, n, seeds=seeds, device=device)


def nearest_ratio(
    samples: torch.Tensor, train: torch.Tensor, fresh: torch.Tensor
) -> float:
    """median_i min_j |x_i - x0_j| / the same for fresh points: memorisation, as a
    number: the median distance from each sample to its nearest training point, divided
    by the same median for ``fresh`` points of the data distribution (not in the
    training set). Near 1: the samples are new points, as far from the training set as
    fresh data are. Near 0: they sit on training points (a model that memorises, like
    the exact denoiser)."""
    near = lambda x: (
        torch.cdist(
            torch.as_tensor(x, dtype=torch.float64),
            torch.as_tensor(train, dtype=torch.float64),
        )
        .min(1)
        .values.median()
    )
    return float(near(samples) / near(fresh))


def spread(x: torch.Tensor) -> float:
    """sqrt(trace of the covariance): how widely a point cloud is spread."""
    x = torch.as_tensor(x, dtype=torch.float64)
    return float(x.var(0).sum().sqrt())


def spiral_coverage(x: torch.Tensor, n_bins: int = 50, max_dist: float = 0.1) -> float:
    """Share of the spiral's ``n_bins`` equal stretches (by position u) that have at
    least one point of ``x`` within ``max_dist`` of the curve: 1.0 when samples reach
    the whole spiral."""
    u, dist = project_to_spiral(torch.as_tensor(x, dtype=torch.float64))
    bins = (u[dist < max_dist] * n_bins).long().clamp(max=n_bins - 1)
    return len(torch.unique(bins)) / n_bins


OFF_SPIRAL = -1  # the region of a point that is on no part of the spiral


def spiral_region(
    x: torch.Tensor, n_parts: int = 3, max_dist: float = 0.1
) -> torch.Tensor:
    """Which part of the spiral each point of ``x`` (N, 2) lies in: a LongTensor (N,) of
    part ids 0..n_parts-1, or ``OFF_SPIRAL`` (-1) for points farther than ``max_dist``
    from the curve.

    The part is that of the nearest point of the curve
    (:func:`difflab.data.project_to_spiral`), cut into ``n_parts`` equal stretches of
    position u as in :func:`difflab.data.make_spiral`. ``max_dist = 0.1`` is 3.3 times
    the training data's jitter (0.03): about 1 training point in 1000 lies farther,
    while the arms of the spiral are 0.9 apart.
    """
    n_parts = check_int("n_parts", n_parts, low=1)
    max_dist = check_float("max_dist", max_dist, low=0.0, low_open=True)
    x = _check_points(torch.as_tensor(x))
    u, dist = project_to_spiral(x.double())
    region = part_of(u, n_parts)
    return torch.where(dist <= max_dist, region, torch.full_like(region, OFF_SPIRAL))


def region_shares(
    x: torch.Tensor, n_parts: int = 3, max_dist: float = 0.1
) -> torch.Tensor:
    """Share of the points of ``x`` in each part, then off the spiral: float64 (n_parts
    + 1,), sums to 1. ``shares[c]`` is the fraction in part c; ``shares[-1]`` the
    fraction off the spiral."""
    region = spiral_region(x, n_parts, max_dist)
    counts = torch.bincount(
        torch.where(region == OFF_SPIRAL, n_parts, region), minlength=n_parts + 1
    )
    return counts.double() / len(region)


def part_w2_ratio(
    x: torch.Tensor, part: int, n_parts: int = 3, seed: int = 0, max_dist: float = 0.1
) -> float:
    """Diversity inside one part: W2 from the points of ``x`` that lie in ``part`` to a
    fresh sample of that part of the spiral (same size), divided by the W2 between two
    independent fresh samples of it.

    Near 1: the samples in the part are spread over it like real data. Larger: they
    bunch up (or drift); guidance that gains accuracy by losing diversity makes it grow.
    """
    part = check_int("part", part, low=0, high=n_parts - 1)
    inside = torch.as_tensor(x)[spiral_region(x, n_parts, max_dist) == part]
    _check_enough(inside, part)

    def fresh(s):  # n points of the part, by rejection from the whole spiral
        pool = make_spiral(len(inside) * n_parts * 2 + 200, seed=s, n_parts=n_parts)
        pts = pool.x[pool.part == part]
        return pts[: len(inside)]

    ref = fresh(40_000 + seed)
    floor = sorted(w2(fresh(50_000 + 10 * seed + k), ref) for k in range(3))[1]
    return w2(inside, ref) / floor


class PullMeasure(NamedTuple):
    """What :func:`class_pull` returns."""

    pull: float  # mean |f(x_t, t, c) - f(x_t, t)| over the points and the classes
    relative: (
        float  # pull / mean |f(x_t, t)|: the share of the prediction the class changes
    )
    field: (
        torch.Tensor
    )  # (n_classes, N, D): the pulls f(x_t, t, c) - f(x_t, t) themselves


@torch.no_grad()
def class_pull(
    model,
    x0: torch.Tensor,
    t: int,
    alphas_cumprod: torch.Tensor,
    *,
    n_classes: int,
    generator: torch.Generator,
) -> PullMeasure:
    """mean |f(x_t, t, c) - f(x_t, t)|: the class pull of a conditional denoiser at step
    ``t`` (Chapter 5): its size, its share of the prediction, and the pulls themselves
    (for :func:`pull_cosine`), from one set of calls.

    x_t = q_sample(x0, t) with noise drawn from ``generator``; c runs over all
    ``n_classes`` classes. ``model(x, t, cond)`` is a conditional denoiser
    (``cond=None``: the unconditional prediction). Two models given generators in the
    same state see the same x_t, so their pulls compare point by point.
    """
    n_classes = check_int("n_classes", n_classes, low=1)
    t = check_int("t", t, low=0, high=len(alphas_cumprod) - 1)
    x0 = torch.as_tensor(x0)
    xt = q_sample(
        x0, t, alphas_cumprod, torch.randn(x0.shape, generator=generator).to(x0.device)
    )
    tt = torch.full((len(xt),), t, dtype=torch.long, device=xt.device)
    f_u = model(xt, tt, None).flatten(1)  # (N, D)
    field = torch.stack(
        [
            model(xt, tt, torch.full_like(tt, c)).flatten(1) - f_u
            for c in range(n_classes)
        ]
    )
    pull = field.norm(dim=2).mean()
    return PullMeasure(float(pull), float(pull / f_u.norm(dim=1).mean()), field)


def path_straightness(path: torch.Tensor) -> torch.Tensor:
    """sum_k |p_{k+1} - p_k| / |p_K - p_0|: the length of each path over the distance
    between its endpoints, float64 (N,): 1 for a straight path, more for a bent one (inf
    for a path that ends where it began).

    ``path`` (K, N, ...): K >= 2 positions of N paths, as
    :func:`~difflab.flow_samplers.sample_path` records them; the length is that of the
    polygon through them. (Liu et al. 2023 measure straightness differently, as E int
    |(Z_1 - Z_0) - dZ_t/dt|^2 dt; both are 0 / 1 exactly for straight paths.)
    """
    p = _check_path(torch.as_tensor(path)).double().flatten(2)  # (K, N, D)
    length = (p[1:] - p[:-1]).norm(dim=2).sum(0)  # (N,)
    chord = (p[-1] - p[0]).norm(dim=1)  # (N,)
    return length / chord


def pull_cosine(field: torch.Tensor, reference: torch.Tensor) -> float:
    """mean cos(field, reference): whether two class pulls point the same way, the mean
    over points and classes of the cosine between ``field`` and ``reference`` (each
    (n_classes, N, D), e.g. :attr:`PullMeasure.field` of two models on the same x_t).

    1: the same directions; 0: unrelated (or a pull of zero); -1: opposite. Every point
    counts equally, however small its pull.
    """
    a, b = torch.as_tensor(field), torch.as_tensor(reference)
    _check_pulls(a, b)
    # float64 on the CPU: any device's pulls
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float(torch.nn.functional.cosine_similarity(a, b, dim=2, eps=1e-12).mean())


# --- Chapter 8: read the attributes back from a generated shapes image -----------------------


def read_attributes(images: torch.Tensor, threshold: float = 0.3):
    """Attribute checkers built from the shapes generator: ``Attributes`` (shape,
    colour, size, position) per image (N, 3, 32, 32) in [0, 1], with -1 where no object
    is found.

    - foreground: pixels whose brightest channel exceeds ``threshold`` (the background
      is black);
    - position: the nearest of the generator's five centres to the foreground's
      centroid;
    - colour: the nearest generator colour to the mean of the fully covered pixels;
    - shape and size: the generator's template (4 shapes x 3 sizes, no jitter, moved
      onto the centroid) with the highest soft overlap (intersection over union) with
      the coverage.
    """
    _check_images(images)
    images = images.detach().float().cpu()
    n = images.shape[0]
    bright = images.amax(dim=1)  # (N, H, W)
    mask = bright > threshold
    found = mask.flatten(1).sum(1) >= 4
    centroid = centre_of(mask.float())  # (N, 2)
    position = torch.cdist(centroid, CENTRE).argmin(1)
    peak = bright.flatten(1).amax(1)[:, None, None]
    core = (bright > 0.6 * peak).float()[:, None]  # (N, 1, H, W)
    mean_rgb = (images * core).sum((2, 3)) / core.sum((2, 3)).clamp_min(1)
    colour = torch.cdist(mean_rgb, RGB).argmin(1)
    # the object's coverage of each pixel
    soft = (bright / RGB[colour].amax(1)[:, None, None]).clamp(0, 1)
    ious = torch.zeros(n, len(SHAPES), len(SIZES))
    for s in range(len(SHAPES)):
        for z in range(len(SIZES)):
            ious[:, s, z] = _template_iou(s, z, position, centroid, soft, threshold)
    best = ious.flatten(1).argmax(1)
    shape, size = best // len(SIZES), best % len(SIZES)
    none = torch.full((n,), -1, dtype=torch.long)
    return Attributes(
        *(torch.where(found, a, none) for a in (shape, colour, size, position))
    )


def read_scene(images: torch.Tensor, threshold: float = 0.3):
    """The two-object twin of :func:`read_attributes`: a
    :class:`~difflab.data.scenes.Scene` (shape, colour, size, each (2, N); row 0 the left
    object, row 1 the right) per image (N, 3, 32, 32) in [0, 1], with -1 where a half holds
    no object.

    Each half of the picture (16 columns) is pasted into the middle of a black 32 x 32 image
    and read by :func:`read_attributes`: the object in the left half *is* the left object,
    so a right shape and colour on the right side is what "binding" asks for.
    """
    _check_images(images)
    images = images.detach().float().cpu()
    halves = []
    for cols in (slice(0, 16), slice(16, 32)):
        canvas = torch.zeros_like(images)
        canvas[..., 8:24] = images[..., cols]
        halves.append(read_attributes(canvas, threshold))
    return Scene(
        *(
            torch.stack([getattr(h, k) for h in halves])
            for k in ("shape", "colour", "size")
        )
    )


def _check_images(images) -> None:
    if (
        not isinstance(images, torch.Tensor)
        or images.ndim != 4
        or images.shape[1:] != (3, 32, 32)
    ):
        got = (
            tuple(images.shape)
            if isinstance(images, torch.Tensor)
            else type(images).__name__
        )
        raise ValueError(f"images must be a tensor (N, 3, 32, 32) in [0, 1], got {got}")


def centre_of(w: torch.Tensor) -> torch.Tensor:
    """The centroid (column, row) in pixels of each weight map w (N, H, W): (N, 2)."""
    grid = torch.arange(32, dtype=torch.float32) + 0.5
    area = w.sum((1, 2)).clamp_min(1)
    cx = (w * grid[None, None, :]).sum((1, 2)) / area
    cy = (w * grid[None, :, None]).sum((1, 2)) / area
    return torch.stack([cx, cy], 1)


def _template_iou(s, z, position, centroid, soft, threshold) -> torch.Tensor:
    """Soft intersection over union (N,) of the coverage ``soft`` with the generator's
    template of shape s and size z, at the detected position, then shifted by whole
    pixels onto the centroid."""
    n = position.shape[0]
    attrs = Attributes(
        torch.full((n,), s),
        torch.zeros(n, dtype=torch.long),
        torch.full((n,), z),
        position,
    )
    tmpl = render(attrs, jitter=False).amax(1) > threshold  # (N, H, W)
    shift = (centroid - centre_of(tmpl.float())).round().long()
    cover = (
        render(attrs, jitter=False).amax(1) / RGB[0].max()
    )  # soft coverage in [0, 1]
    cover = torch.stack(
        [c.roll((int(dy), int(dx)), (0, 1)) for c, (dx, dy) in zip(cover, shift)]
    )
    inter = torch.minimum(cover, soft).flatten(1).sum(1)
    union = torch.maximum(cover, soft).flatten(1).sum(1).clamp_min(1e-6)
    return inter / union


@torch.no_grad()
def evenness(values: torch.Tensor, k: int) -> float:
    """H(p) / log k, p the histogram of ``values``: how evenly ``values`` (ints in
    0..k-1; -1, "not found", is skipped) fill k classes, the entropy of their histogram
    divided by its largest possible value. 1 = all k equally often, 0 = one only."""
    values = _check_values(torch.as_tensor(values), k)
    p = torch.bincount(values[values >= 0], minlength=k).float()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum() / math.log(k))


def clip_score(clip, images: torch.Tensor, captions: list[str]) -> torch.Tensor:
    """cos(phi_i, psi_i): the cosine similarity between each image and its own caption
    under Chapter 1's CLIP (N,), the CLIP score of Hessel et al. (2021) without its
    rescaling."""
    _check_captions(images, captions)
    return (clip.encode_image(images) * clip.encode_text(list(captions))).sum(1).cpu()


# --- the checks of the measurements above -------------------------------------------


def _check_samples(x: torch.Tensor) -> None:
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(
            f"samples has shape {tuple(x.shape)}; expected (n, d) with n >= 2"
        )


def _check_clouds(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x {tuple(x.shape)} and y {tuple(y.shape)} must be point clouds (n, d) of the "
            f"same d"
        )
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("x or y contains NaN or inf")


def _check_points(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x has shape {tuple(x.shape)}; expected (N, 2) points")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or inf")
    return x


def _check_enough(inside: torch.Tensor, part: int) -> None:
    if len(inside) < 10:
        raise ValueError(
            f"only {len(inside)} points of x lie in part {part}; need at least 10 to "
            f"measure diversity"
        )


def _check_path(p: torch.Tensor) -> torch.Tensor:
    if p.ndim < 3 or p.shape[0] < 2:
        raise ValueError(
            f"path has shape {tuple(p.shape)}; expected (K, N, ...) with K >= 2 positions "
            f"of N paths"
        )
    return p


def _check_pulls(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(
            f"field {tuple(a.shape)} and reference {tuple(b.shape)} must be pulls of the "
            f"same shape (n_classes, N, D)"
        )


def _check_values(values: torch.Tensor, k: int) -> torch.Tensor:
    if k < 2 or values.ndim != 1 or not (values[values >= 0] < k).all():
        raise ValueError(
            f"evenness needs 1-D values in 0..k-1 (or -1) and k >= 2; got k={k}, values "
            f"{values[:8].tolist()}"
        )
    if not (values >= 0).any():
        raise ValueError("evenness: no value >= 0 to count")
    return values


def _check_captions(images: torch.Tensor, captions) -> None:
    if len(captions) != images.shape[0]:
        raise ValueError(
            f"{images.shape[0]} images but {len(captions)} captions; give one caption per "
            f"image"
        )
