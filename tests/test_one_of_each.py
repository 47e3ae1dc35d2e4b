"""One of each, on any device: the sampler signature, the schedule helpers, the book's r, the
device override, local seeding and threads (issue: one training loop, one sampler signature...)."""

import ast
import functools
import inspect
import json
import re
from pathlib import Path

import pytest
import torch

import difflab
from difflab.metrics import median_w2_ratio, w2_ratio
from difflab.models.mlp import MLPConfig, MLPDenoiser
from difflab import registry
from difflab.samplers import SAMPLERS, ddim_sample, spaced_timesteps
from difflab.schedules import (
    alphas_cumprod,
    betas_from_abar,
    cosine_betas,
    linear_betas,
    sigma_from_abar,
)
from difflab.losses import ddpm_loss
from difflab.training import TrainConfig, train

ABAR = alphas_cumprod(linear_betas())
SRC = Path(difflab.__file__).parent
BOOK = SRC.parents[1] / "book"


def _model():
    with difflab.local_seed(0):
        return MLPDenoiser(MLPConfig(hidden=16, depth=1)).eval()


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_has_the_one_signature(name):
    params = inspect.signature(SAMPLERS[name]).parameters
    assert list(params)[:4] == ["model", "x", "timesteps", "alphas_cumprod"]
    assert (
        params["generator"].kind is inspect.Parameter.KEYWORD_ONLY
        and params["generator"].default is None
    )
    assert params["callback"].kind is inspect.Parameter.KEYWORD_ONLY
    seen = []
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    ts = spaced_timesteps(1000, 6)
    with torch.no_grad():
        a = SAMPLERS[name](
            _model(),
            x,
            ts,
            ABAR,
            generator=torch.Generator().manual_seed(1),
            callback=lambda i, t, x_, x0: seen.append(t),
        )
        b = SAMPLERS[name](
            _model(), x, ts, ABAR, generator=torch.Generator().manual_seed(1)
        )
    assert seen == ts and torch.equal(a, b)  # one callback per step; a seed repeats


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_samplers_and_a_training_step_give_the_same_numbers_with_difflab_device_cpu(
    name, monkeypatch
):
    def run():
        dev = difflab.device()
        model = _model().to(dev)
        x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0)).to(dev)
        out = SAMPLERS[name](
            model,
            x,
            spaced_timesteps(1000, 5),
            ABAR,
            generator=torch.Generator().manual_seed(2),
        )
        model.train()
        loss = functools.partial(ddpm_loss, alphas_cumprod=ABAR)
        history = train(
            model,
            loss,
            torch.randn(64, 2, generator=torch.Generator().manual_seed(3)).to(dev),
            TrainConfig(steps=2, batch_size=16, warmup_steps=1),
        )
        weights = {k: v.cpu() for k, v in model.state_dict().items()}
        return out.cpu(), history, weights, dev.type

    monkeypatch.delenv("DIFFLAB_DEVICE", raising=False)
    default = run()
    monkeypatch.setenv("DIFFLAB_DEVICE", "cpu")
    cpu = run()
    assert cpu[3] == "cpu"  # DIFFLAB_DEVICE=cpu is obeyed
    if default[3] == "cpu":  # no accelerator: the very same computation, bit for bit
        assert torch.equal(default[0], cpu[0]) and default[1] == cpu[1]
        assert all(torch.equal(default[2][k], cpu[2][k]) for k in cpu[2])
    else:  # another device: the same draws (made on the CPU), float differences only
        assert torch.allclose(default[0], cpu[0], atol=1e-3)


def test_deterministic_samplers_draw_nothing_from_the_generator():
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    for name in ("ddim", "heun", "dpm++2m"):
        g = torch.Generator().manual_seed(5)
        state = g.get_state()
        with torch.no_grad():
            SAMPLERS[name](_model(), x, spaced_timesteps(1000, 4), ABAR, generator=g)
        assert torch.equal(g.get_state(), state), name


def test_sigma_and_betas_from_abar_invert_the_schedule():
    for betas in (linear_betas(), cosine_betas()):
        abar = alphas_cumprod(betas)
        assert torch.allclose(betas_from_abar(abar), betas, atol=1e-12, rtol=0)
        assert torch.allclose(
            sigma_from_abar(abar) ** 2 * abar, 1 - abar, atol=1e-12, rtol=0
        )
    assert sigma_from_abar(torch.tensor(1.0, dtype=torch.float64)) == 0
    with pytest.raises(ValueError, match=r"alphas_cumprod has shape \(2, 2\)"):
        betas_from_abar(torch.ones(2, 2))


def test_median_w2_ratio_is_the_median_of_the_seeds_own_ratios():
    sample = lambda x, g: ddim_sample(
        _model(), x, spaced_timesteps(1000, 4), ABAR, generator=g
    )
    r, rs, xs = median_w2_ratio(sample, 200)
    by_hand = []
    for s in (0, 1, 2):
        g = torch.Generator().manual_seed(s)
        by_hand.append(w2_ratio(sample(torch.randn(200, 2, generator=g), g), s))
    assert rs == by_hand and r == sorted(by_hand)[1] and len(xs) == 3


def test_building_a_model_leaves_the_process_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, b = registry.build("spiral_ddpm"), registry.build("spiral_ddpm")
    clip_a, clip_b = registry.build("clip"), registry.build("clip")
    assert torch.equal(torch.rand(3), expected)  # nothing reseeded or consumed
    assert all(
        torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict()
    )
    assert all(
        torch.equal(clip_a.state_dict()[k], clip_b.state_dict()[k])
        for k in clip_a.state_dict()
    )
    with pytest.raises(ValueError, match="seed=-1"):
        with difflab.local_seed(-1):
            pass


def test_set_threads_reads_the_environment_and_names_bad_values(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("DIFFLAB_THREADS", "1")
        assert difflab.set_threads() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("DIFFLAB_THREADS", "lots")
        with pytest.raises(ValueError, match="DIFFLAB_THREADS='lots'"):
            difflab.set_threads()
        monkeypatch.delenv("DIFFLAB_THREADS")
        assert difflab.set_threads() == torch.get_num_threads()
        with pytest.raises(ValueError, match="n=0"):
            difflab.set_threads(0)
    finally:
        torch.set_num_threads(before)


def test_the_package_imports_at_module_level_only():
    """No import of another difflab module inside a function: such imports hide cycles."""
    hidden = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and (
                        inner.level > 0 or (inner.module or "").startswith("difflab")
                    ):
                        hidden.append(f"{path.relative_to(SRC)}:{inner.lineno}")
    assert not hidden, hidden


def test_no_notebook_spells_out_q_sample_or_a_median_of_three():
    book = BOOK
    pattern = re.compile(
        r"sqrt\(\)\s*\*\s*x\w*\s*\+\s*\(1 - \w+\)\.sqrt\(\)|sorted\([^)]*\)\[1\]|sorted\(\w+\)\[len"
    )
    found = []
    for nb in sorted(book.glob("ch*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            if cell["cell_type"] == "code" and pattern.search("".join(cell["source"])):
                found.append(f"{nb.name} cell {i}")
    assert not found, found


def test_one_training_loop_and_one_checkpoint_writer():
    text = {p: p.read_text() for p in SRC.rglob("*.py")}
    loops = [
        str(p.relative_to(SRC))
        for p, s in text.items()
        for _ in range(s.count("\ndef train("))
    ]
    writers = [
        str(p.relative_to(SRC))
        for p, s in text.items()
        for _ in range(s.count("save_file("))
    ]
    # the loop, and the registry's entry by name that calls it
    assert sorted(loops) == ["registry.py", "training.py"], loops
    assert writers == ["saving.py"], writers


def test_the_loop_takes_a_batch_function_stops_and_resumes(tmp_path):
    from difflab.training import lr_factor

    data = torch.randn(256, 2, generator=torch.Generator().manual_seed(0))
    batch = lambda step, g: data[torch.randint(0, 256, (32,), generator=g)]
    loss = functools.partial(ddpm_loss, alphas_cumprod=ABAR)
    cfg = TrainConfig(
        steps=8, batch_size=32, warmup_steps=2, min_lr_share=0.0, adam_betas=(0.9, 0.98)
    )
    straight = _model()
    h1 = train(straight, loss, batch, cfg, progress=False)
    state = tmp_path / "s.state.pt"
    part = _model()
    assert (
        len(train(part, loss, batch, cfg, state=state, stop_at=3, progress=False)) == 3
    )
    h2 = train(_model(), loss, batch, cfg, state=state, progress=False)
    assert h1 == h2  # the same batches and steps after a resume
    assert (
        lr_factor(0, cfg) == 0.5 and lr_factor(cfg.steps, cfg) == 0.0
    )  # CLIP's cosine ends at 0
    assert (
        abs(lr_factor(cfg.steps, TrainConfig(steps=8, warmup_steps=2)) - 0.1) < 1e-12
    )  # the spiral's at lr / 10


# what makes a tensor or a model; left out: torch.Generator, a CPU generator by design (a seed
# gives the same draws on every device; the draws are moved with .to(device)), and the float64
# schedule table (registry.schedule), which the package reads on any device
_MAKERS = re.compile(
    r"\b(torch\.(?:randn|rand|randint|zeros|ones|full|empty|tensor|as_tensor|arange|linspace|eye)"
    r"|registry\.(?:load|build|train|parts)|make_spiral"
    r"|MLPDenoiser|UNet|median_w2_ratio|VelocityMLP)\("
)


def _call_end(src: str, open_paren: int) -> int:
    depth = 0
    for i in range(open_paren, len(src)):
        depth += {"(": 1, ")": -1}.get(src[i], 0)
        if depth == 0:
            return i
    raise ValueError(
        f"unbalanced parentheses after {src[open_paren - 20 : open_paren]!r}"
    )


def device_ignored(src: str) -> list[str]:
    """The calls in ``src`` that make a tensor or a model and say nothing of its device: no
    ``device=`` among their arguments, no ``.to(...)`` right after, and no ``# on the CPU: why``
    comment on their line."""
    out = []
    for m in _MAKERS.finditer(src):
        end = _call_end(src, m.end() - 1)
        line = src[
            src.rfind("\n", 0, m.start()) + 1 : src.find("\n", end) % (len(src) + 1)
        ]
        if (
            "device=" in src[m.end() : end]
            or src[end + 1 :].startswith(".to(")
            or "# on the CPU:" in line
        ):
            continue
        out.append(line.strip())
    return out


def test_device_check_finds_what_ignores_the_device():
    assert device_ignored("x = torch.randn(3, 2, generator=g)") == [
        "x = torch.randn(3, 2, generator=g)"
    ]
    assert device_ignored('m = registry.load("spiral_cond")') == [
        'm = registry.load("spiral_cond")'
    ]
    assert device_ignored("x = torch.randn(3, 2, generator=g).to(device)") == []
    assert (
        device_ignored(
            'x = torch.zeros(3, device=device)\nm = registry.load("clip", device=device)'
        )
        == []
    )
    assert (
        device_ignored("u = torch.linspace(0, 1, 9)  # on the CPU: for a table") == []
    )


@pytest.mark.parametrize("notebook", sorted(p.name for p in BOOK.glob("ch*.ipynb")))
def test_chapters_make_their_tensors_and_models_on_the_device(notebook):
    nb = json.loads((BOOK / notebook).read_text())
    code = "\n".join(
        "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
    )
    bad = device_ignored(code)
    assert not bad, (
        f"{notebook}: {len(bad)} tensors or models ignore the device:\n"
        + "\n".join(bad)
    )
