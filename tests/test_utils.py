import pytest
import torch

import difflab
from difflab.utils import is_book_build, progress, set_threads


@pytest.fixture
def keep_threads():
    """check_env and set_threads set torch's threads: put them back for the other tests."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


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


@pytest.mark.parametrize(
    "value,fast",
    [("", False), ("0", False), ("1", True), ("true", True), ("no", False)],
)
def test_is_fast_reads_env(monkeypatch, value, fast):
    monkeypatch.setenv("DIFFLAB_FAST", value)
    assert difflab.is_fast() is fast


@pytest.mark.parametrize("value,picked", [("0", "big"), ("1", "small")])
def test_pick_follows_fast_mode(monkeypatch, value, picked):
    monkeypatch.setenv("DIFFLAB_FAST", value)
    assert difflab.pick("big", "small") == picked


@pytest.mark.parametrize("value,building", [("1", True), ("0", False), (None, False)])
def test_is_book_build_reads_env(monkeypatch, value, building):
    if value is None:
        monkeypatch.delenv("DIFFLAB_BOOK", raising=False)
    else:
        monkeypatch.setenv("DIFFLAB_BOOK", value)
    assert is_book_build() is building


@pytest.mark.parametrize(
    "name,value,call,match",
    [
        ("DIFFLAB_FAST", "maybe", difflab.is_fast, "DIFFLAB_FAST='maybe'"),
        ("DIFFLAB_BOOK", "maybe", is_book_build, "DIFFLAB_BOOK='maybe'"),
        ("DIFFLAB_DEVICE", "tpu9", difflab.device, "is not a torch device"),
        ("DIFFLAB_THREADS", "two", set_threads, "DIFFLAB_THREADS='two' must be"),
        ("DIFFLAB_THREADS", "0", set_threads, "DIFFLAB_THREADS='0' must be"),
    ],
    ids=["fast", "book", "device", "threads-word", "threads-zero"],
)
def test_a_bad_environment_variable_is_named(monkeypatch, name, value, call, match):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_difflab_device_refuses_a_device_the_machine_lacks(monkeypatch):
    monkeypatch.setenv("DIFFLAB_DEVICE", "cuda")
    with pytest.raises(ValueError, match="does not have; available here: cpu"):
        difflab.device()


@pytest.mark.parametrize(
    "bad", [0, -2, 1.5, True], ids=["n-zero", "n-negative", "n-float", "n-bool"]
)
def test_set_threads_rejects_bad_counts(bad, keep_threads):
    with pytest.raises(
        ValueError, match=r"n=\S+ must be a whole number of threads >= 1"
    ):
        set_threads(bad)


def test_seed_everything_repeats_global_draws():
    difflab.seed_everything(3)
    a = torch.randn(5)
    difflab.seed_everything(3)
    assert torch.equal(a, torch.randn(5))


def test_seed_everything_returns_a_seeded_generator():
    a = torch.randn(5, generator=difflab.seed_everything(3))
    assert torch.equal(a, torch.randn(5, generator=torch.Generator().manual_seed(3)))


SEEDS = pytest.mark.parametrize(
    "bad",
    [-1, 1.5, "0", True],
    ids=["seed-negative", "seed-float", "seed-str", "seed-bool"],
)


@SEEDS
def test_seed_everything_rejects_bad_seed(bad):
    with pytest.raises(ValueError, match="seed=.* must be a non-negative int"):
        difflab.seed_everything(bad)


@SEEDS
def test_local_seed_rejects_bad_seed(bad):
    with (
        pytest.raises(ValueError, match="seed=.* must be a non-negative int"),
        difflab.local_seed(bad),
    ):
        pass


def test_local_seed_repeats_draws_inside_its_block():
    with difflab.local_seed(3):
        a = torch.randn(5)
    with difflab.local_seed(3):
        assert torch.equal(a, torch.randn(5))


def test_local_seed_leaves_the_process_state_alone():
    state = torch.get_rng_state()
    with difflab.local_seed(3):
        torch.randn(5)
    assert torch.equal(torch.get_rng_state(), state)


def test_check_env_prints_what_it_promises(capsys, monkeypatch, keep_threads):
    monkeypatch.setenv("DIFFLAB_FAST", "1")
    difflab.check_env(seed=7)
    out = capsys.readouterr().out
    assert f"torch {torch.__version__}" in out and "seed: 7" in out and "fast" in out


def test_check_env_returns_the_device(keep_threads):
    assert difflab.check_env(seed=7) == difflab.device()


def test_progress_prints_one_summary_line_while_the_book_is_built(monkeypatch, capsys):
    monkeypatch.setenv("DIFFLAB_BOOK", "1")
    bar = progress(range(5), desc="training")
    for _ in bar:
        bar.set_postfix_str("loss 0.1", refresh=False)
    assert capsys.readouterr().out == "training: 5 done, loss 0.1\n"


def test_set_threads_reads_difflab_threads(monkeypatch, keep_threads):
    monkeypatch.setenv("DIFFLAB_THREADS", "1")
    assert difflab.set_threads() == 1 and torch.get_num_threads() == 1


def test_set_threads_without_the_variable_sets_what_it_returns(
    monkeypatch, keep_threads
):
    monkeypatch.delenv("DIFFLAB_THREADS", raising=False)
    assert difflab.set_threads() == torch.get_num_threads()


@pytest.mark.parametrize(
    "env, n, match",
    [("lots", None, "DIFFLAB_THREADS='lots'"), ("", 0, "n=0")],
    ids=["variable", "argument"],
)
def test_set_threads_names_a_bad_value(monkeypatch, keep_threads, env, n, match):
    monkeypatch.setenv("DIFFLAB_THREADS", env)
    with pytest.raises(ValueError, match=match):
        difflab.set_threads(n)
