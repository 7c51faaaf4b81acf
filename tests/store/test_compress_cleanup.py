"""``store compress`` that fails leaves nothing it created, and never touches what was at the target."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from targetsel.cli import main
from targetsel.store import FeatureStore, StoreSpec


def _float_store(path: Path, rows: int = 10, dim: int = 16) -> FeatureStore:
    spec = StoreSpec(representation="toy", model="none", dim=dim, num_rows=rows, fingerprint="abc")
    store = FeatureStore.create(path, spec, shard_size=4)
    rng = np.random.default_rng(0)
    for i in store.missing_shards():
        lo, hi = store.shard_range(i)
        store.write_shard(i, rng.standard_normal((hi - lo, dim)).astype(np.float32))
    return store


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _break_manifest(src: Path) -> None:
    """The manifest says 32 columns; the shards hold 16."""
    mpath = src / "manifest.json"
    manifest = json.loads(mpath.read_text())
    manifest["dim"] = 32
    mpath.write_text(json.dumps(manifest))


def test_manifest_disagreeing_with_shards_writes_nothing_and_the_rerun_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = tmp_path / "src", tmp_path / "out" / "bit"
    _float_store(src)
    good = (src / "manifest.json").read_text()
    _break_manifest(src)
    before = _listing(tmp_path)
    assert main(["store", "compress", str(src), str(dst), "--dtype", "bit", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("targetsel: error: shard ") and "expected (4, 32)" in err
    assert _listing(tmp_path) == before  # no destination manifest, shards or folders
    (src / "manifest.json").write_text(good)
    assert main(["store", "compress", str(src), str(dst), "--dtype", "bit", "--quiet"]) == 0
    assert FeatureStore.open(dst).is_complete


def test_failure_while_converting_removes_the_new_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from targetsel.errors import InvalidDataError
    from targetsel.store import compress_store
    from targetsel.store.core import FeatureStore as Store

    src, dst = tmp_path / "src", tmp_path / "new" / "int8"
    _float_store(src)
    calls = []

    def fail_second(self, index, data, aux=None):  # one shard written, then a failure
        if calls:
            raise InvalidDataError("disk trouble")
        calls.append(index)
        return original(self, index, data, aux)

    original = Store.write_encoded_shard
    monkeypatch.setattr(Store, "write_encoded_shard", fail_second)
    with pytest.raises(InvalidDataError):
        compress_store(src, dst, "int8")
    assert calls and not (tmp_path / "new").exists()  # the folders it created are gone too


def test_failure_leaves_an_existing_target_folder_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from targetsel.errors import InvalidDataError
    from targetsel.store import compress_store
    from targetsel.store.core import FeatureStore as Store

    src, dst = tmp_path / "src", tmp_path / "dst"
    _float_store(src)
    dst.mkdir()
    (dst / "notes.txt").write_text("mine")
    before = _listing(dst)

    def fail(self, index, data, aux=None):
        raise InvalidDataError("disk trouble")

    monkeypatch.setattr(Store, "write_encoded_shard", fail)
    with pytest.raises(InvalidDataError):
        compress_store(src, dst, "int8", overwrite=True)
    assert _listing(dst) == before and (dst / "notes.txt").read_text() == "mine"
