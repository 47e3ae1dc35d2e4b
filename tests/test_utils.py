import pytest
import torch

import difflab


def test_device_is_cpu_without_accelerators():
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert difflab.device().type == expected


def test_difflab_device_overrides_the_choice(monkeypatch):
    monkeypatch.setenv("DIFFLAB_DEVICE", "cpu")
    assert difflab.device() == torch.device("cpu")
    monkeypatch.setenv("DIFFLAB_DEVICE", "tpu9")
    with pytest.raises(ValueError, match="DIFFLAB_DEVICE='tpu9' is not a torch device"):
        difflab.device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("DIFFLAB_DEVICE", "cuda")
        with pytest.raises(ValueError, match="does not have; available here: cpu"):
            difflab.device()


@pytest.mark.parametrize(
    "value,fast",
    [("", False), ("0", False), ("1", True), ("true", True), ("no", False)],
)
def test_is_fast_reads_env(monkeypatch, value, fast):
    monkeypatch.setenv("DIFFLAB_FAST", value)
    assert difflab.is_fast() is fast
    assert difflab.pick("big", "small") == ("small" if fast else "big")


def test_is_fast_rejects_unknown_values(monkeypatch):
    monkeypatch.setenv("DIFFLAB_FAST", "maybe")
    with pytest.raises(ValueError, match="DIFFLAB_FAST='maybe'"):
        difflab.is_fast()


def test_seed_everything_repeats_draws():
    g1 = difflab.seed_everything(3)
    a = torch.randn(5), torch.randn(5, generator=g1)
    g2 = difflab.seed_everything(3)
    b = torch.randn(5), torch.randn(5, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_seed_everything_rejects_bad_seed(bad):
    with pytest.raises(ValueError, match="seed="):
        difflab.seed_everything(bad)


def test_check_env_prints_what_it_promises(capsys, monkeypatch):
    monkeypatch.setenv("DIFFLAB_FAST", "1")
    dev = difflab.check_env(seed=7)
    out = capsys.readouterr().out
    assert f"torch {torch.__version__}" in out and "seed: 7" in out and "fast" in out
    assert dev == difflab.device()


def test_progress_prints_one_summary_line_while_the_book_is_built(monkeypatch, capsys):
    from difflab.utils import is_book_build, progress

    monkeypatch.setenv("DIFFLAB_BOOK", "1")
    assert is_book_build()
    bar = progress(range(5), desc="training")
    for _ in bar:
        bar.set_postfix_str("loss 0.1", refresh=False)
    assert capsys.readouterr().out == "training: 5 done, loss 0.1\n"
    monkeypatch.setenv("DIFFLAB_BOOK", "maybe")
    with pytest.raises(ValueError, match="DIFFLAB_BOOK='maybe'"):
        is_book_build()
    monkeypatch.delenv("DIFFLAB_BOOK")
    assert not is_book_build()
