"""Workers started together on one store, and writers killed mid-write.

The README tells users to start N workers with ``--shard i/N`` on one store; on a cluster they
start at the same moment. These tests start several real processes released by one barrier, on
a machine kept busy by a CPU-burning process, and check that every worker succeeds and the store
equals a single-process encode byte for byte, for every feature dtype, with and without
``--overwrite`` over a store written for other inputs. ``TARGETSEL_RACE_REPEATS`` sets how many
rounds each case runs (3 by default; the slow variant runs 20).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from targetsel.atomic import STALE_AFTER_S, atomic_path
from targetsel.cli import main
from targetsel.errors import ArtifactMismatchError
from targetsel.store import FeatureStore, StoreSpec
from targetsel.store.layout import LOCK_NAME

DTYPES = ["float32", "float16", "int8", "bit"]
WORKERS = 4
ROWS, DIM, SHARD = 37, 12, 4  # 10 shards, the last one partial


def _features(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((ROWS, DIM)).astype(np.float32)


def _spec(dtype: str, fingerprint: str = "pool") -> StoreSpec:
    return StoreSpec(representation="toy", model="none", dim=DIM, num_rows=ROWS, fingerprint=fingerprint, dtype=dtype)


def _fill(path: Path, spec: StoreSpec, x: np.ndarray, part: tuple[int, int] | None, overwrite: bool) -> None:
    store = FeatureStore.create(path, spec, shard_size=SHARD, overwrite=overwrite)
    for i in store.missing_shards():
        if part is None or i % part[1] == part[0]:
            lo, hi = store.shard_range(i)
            store.write_shard(i, x[lo:hi])


def _worker(path: str, dtype: str, index: int, overwrite: bool, barrier, errors) -> None:  # type: ignore[no-untyped-def]
    try:
        barrier.wait(timeout=60)
        _fill(Path(path), _spec(dtype), _features(), (index, WORKERS), overwrite)
    except BaseException as exc:  # reported to the parent, which fails the test with it
        errors.put(f"worker {index}: {type(exc).__name__}: {exc}")


def _burn(stop) -> None:  # type: ignore[no-untyped-def]
    while not stop.is_set():
        sum(i * i for i in range(10_000))


@pytest.fixture
def busy_machine():
    """A CPU-bound process running beside the test, as on a shared 2-core machine."""
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    proc = ctx.Process(target=_burn, args=(stop,), daemon=True)
    proc.start()
    yield
    stop.set()
    proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()


def _reference(tmp: Path, dtype: str) -> tuple[bytes, bytes | None]:
    store_path = tmp / f"reference-{dtype}"
    if not store_path.exists():
        _fill(store_path, _spec(dtype), _features(), None, False)
    return _stored(FeatureStore.open(store_path))


def _stored(store: FeatureStore) -> tuple[bytes, bytes | None]:
    data, aux = store.read_encoded(0, store.num_rows)
    return np.ascontiguousarray(data).tobytes(), None if aux is None else np.ascontiguousarray(aux).tobytes()


def _race(tmp: Path, dtype: str, rounds: int, overwrite: bool) -> None:
    ctx = mp.get_context("fork")
    want = _reference(tmp, dtype)
    for r in range(rounds):
        path = tmp / f"race-{dtype}-{overwrite}-{r}"
        if overwrite:  # a store for other inputs is already there, half written
            old = FeatureStore.create(path, _spec(dtype, fingerprint="old pool"), shard_size=SHARD)
            old.write_shard(0, _features(seed=1)[:SHARD])
            old.write_shard(5, _features(seed=1)[5 * SHARD : 6 * SHARD])
        barrier, errors = ctx.Barrier(WORKERS), ctx.Queue()
        procs = [
            ctx.Process(target=_worker, args=(str(path), dtype, i, overwrite, barrier, errors)) for i in range(WORKERS)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        failures = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
        assert not failures, f"round {r}: {failures}"
        assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
        store = FeatureStore.open(path)
        assert store.manifest["fingerprint"] == "pool"
        assert _stored(store) == want, f"round {r}: the store differs from a single-process encode"
        leftovers = [p.name for p in path.iterdir() if p.name.endswith(".tmp")]
        assert not leftovers, leftovers


def _rounds(default: int) -> int:
    return int(os.environ.get("TARGETSEL_RACE_REPEATS", default))


@pytest.mark.parametrize("overwrite", [False, True], ids=["fresh", "overwrite"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_workers_started_together_on_one_store(tmp_path: Path, dtype: str, overwrite: bool, busy_machine) -> None:
    _race(tmp_path, dtype, _rounds(3), overwrite)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_workers_started_together_twenty_rounds(tmp_path: Path, dtype: str, busy_machine) -> None:
    _race(tmp_path, dtype, _rounds(20), False)
    _race(tmp_path, dtype, _rounds(20), True)


def test_cli_workers_started_together(tmp_path: Path, busy_machine) -> None:
    """Four real ``targetsel encode --shard i/4`` processes, started at once, with --overwrite."""
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(f'{{"prompt": "task {i % 7} item {i}", "completion": "answer {i}"}}\n' for i in range(50)),
        encoding="utf-8",
    )
    args = ["encode", str(pool), "--quiet", "-r", "lexical", "-p", "dim=32", "--shard-size", "8"]
    one, many = tmp_path / "one", tmp_path / "many"
    assert main([*args, "--store", str(one)]) == 0
    other = tmp_path / "other.jsonl"
    other.write_text('{"prompt": "something else", "completion": "x"}\n', encoding="utf-8")
    assert main(["encode", str(other), "--quiet", "-r", "lexical", "-p", "dim=32", "--store", str(many)]) == 0
    cmd = [sys.executable, "-m", "targetsel", *args]
    procs = [
        subprocess.Popen(
            [*cmd, "--store", str(many), "--shard", f"{i}/4", "--overwrite"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1].decode() for o in outs]
    assert _stored(FeatureStore.open(many)) == _stored(FeatureStore.open(one))


# ------------------------------------------------------------------------------ killed writers
_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from targetsel.atomic import atomic_path
    from targetsel.store import FeatureStore
    store = FeatureStore.open(sys.argv[1], require_complete=False)
    target = sys.argv[2]
    dest = store.path / target
    ctx = atomic_path(dest) if target == "manifest.json" else store._atomic(dest, 1)
    with ctx as tmp, open(tmp, "wb") as fh:
        fh.write(b"half a shard")
        fh.flush()
        print("writing", flush=True)
        time.sleep(600)
    """
)


def _kill_mid_write(store: FeatureStore, target: str) -> Path:
    """Start a real process writing ``target`` of ``store``, SIGKILL it mid-write; its temporary."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(store.path), target], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    temps = [p for p in store.path.iterdir() if p.name.startswith(f".{target}") and p.name.endswith(".tmp")]
    assert len(temps) == 1, temps
    return temps[0]


@pytest.mark.parametrize("target", ["shard-00001.npy", "scale-00001.npy", "manifest.json"])
def test_rerun_removes_what_a_killed_writer_left(tmp_path: Path, target: str) -> None:
    spec = _spec("int8")
    store = FeatureStore.create(tmp_path / "s", spec, shard_size=SHARD)
    tmp = _kill_mid_write(store, target)
    if target == "manifest.json":  # a crash while the first manifest was written: no manifest yet
        (store.path / "manifest.json").unlink()
    _fill(store.path, spec, _features(), None, False)  # the rerun
    assert not tmp.exists()
    assert [p.name for p in store.path.iterdir() if p.name.endswith(".tmp")] == []
    assert _stored(FeatureStore.open(store.path)) == _reference(tmp_path, "int8")


def test_a_live_writers_temporary_is_left_alone(tmp_path: Path) -> None:
    spec = _spec("float32")
    store = FeatureStore.create(tmp_path / "s", spec, shard_size=SHARD)
    with atomic_path(store.shard_path(2)) as tmp:
        tmp.write_bytes(b"in progress")
        FeatureStore.create(store.path, spec, shard_size=SHARD)  # another worker reopens the store
        assert tmp.exists()
    assert store.shard_path(2).read_bytes() == b"in progress"


def test_temporaries_from_another_host_expire(tmp_path: Path) -> None:
    spec = _spec("float32")
    store = FeatureStore.create(tmp_path / "s", spec, shard_size=SHARD)
    young = store.path / ".shard-00001.npy~elsewhere~123~abc.tmp"
    old = store.path / ".shard-00002.npy~elsewhere~123~def.tmp"
    legacy = store.path / ".shard-00003.npy.k3j2.tmp"
    for p in (young, old, legacy):
        p.write_bytes(b"x")
    past = time.time() - STALE_AFTER_S - 60
    os.utime(old, (past, past))
    os.utime(legacy, (past, past))
    FeatureStore.create(store.path, spec, shard_size=SHARD)
    assert young.exists() and not old.exists() and not legacy.exists()


def test_an_overwrite_makes_an_older_writer_fail_instead_of_mixing_rows(tmp_path: Path) -> None:
    old = FeatureStore.create(tmp_path / "s", _spec("float32", fingerprint="old"), shard_size=SHARD)
    old.write_shard(0, _features(1)[:SHARD])
    new = FeatureStore.create(tmp_path / "s", _spec("float32"), shard_size=SHARD, overwrite=True)
    with pytest.raises(ArtifactMismatchError, match="was replaced by another run"):
        old.write_shard(1, _features(1)[SHARD : 2 * SHARD])
    assert new.missing_shards() == list(range(new.num_shards))
    assert sorted(p.name for p in new.path.iterdir()) == [LOCK_NAME, "manifest.json"]


def test_a_refused_create_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(cls, *args):  # type: ignore[no-untyped-def]
        raise ArtifactMismatchError("refused")

    monkeypatch.setattr(FeatureStore, "_create_locked", classmethod(refuse))
    with pytest.raises(ArtifactMismatchError):
        FeatureStore.create(tmp_path / "new", _spec("float32"), shard_size=SHARD)
    assert not (tmp_path / "new").exists()


def test_a_file_system_without_flock_falls_back_to_a_lock_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import filelock

    def no_flock(self, *a, **k):  # type: ignore[no-untyped-def]
        raise NotImplementedError("FileSystem does not appear to support flock")

    monkeypatch.setattr(filelock.FileLock, "acquire", no_flock)
    _fill(tmp_path / "s", _spec("float16"), _features(), None, False)
    assert _stored(FeatureStore.open(tmp_path / "s")) == _reference(tmp_path, "float16")
    assert not (tmp_path / "s" / f"{LOCK_NAME}.soft").exists()  # released: a later run is not blocked
