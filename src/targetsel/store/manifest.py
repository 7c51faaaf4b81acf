"""The store manifest: its name, format version, required keys and the keys a reuse must match."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from targetsel.errors import ArtifactMismatchError, InvalidDataError
from targetsel.store.codecs import FEATURE_DTYPES

__all__ = ["MANIFEST_NAME", "MATCH_KEYS", "STORE_FORMAT_VERSION", "read_manifest"]

MANIFEST_NAME = "manifest.json"
STORE_FORMAT_VERSION = 1

#: Manifest keys that must agree for a store on disk to be reused for a request.
MATCH_KEYS = ("representation", "model", "dim", "num_rows", "fingerprint", "dtype", "params", "shard_size")


def read_manifest(path: Path) -> dict[str, Any]:
    """The validated manifest at ``path`` (one clear error for anything malformed)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidDataError(f"cannot read store manifest {path}: {exc}") from exc
    if not isinstance(manifest, dict):
        raise InvalidDataError(f"store manifest {path} is not a JSON object")
    version = manifest.get("format_version")
    if version != STORE_FORMAT_VERSION:
        raise ArtifactMismatchError(
            f"store manifest {path} has format version {version!r}, this targetsel reads version "
            f"{STORE_FORMAT_VERSION}; re-encode with --overwrite"
        )
    for key, kind in _MANIFEST_SCHEMA.items():
        value = manifest.get(key)
        if key not in manifest or not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidDataError(
                f"store manifest {path}: {key!r} is missing or not a {kind.__name__}; re-encode with --overwrite"
            )
    rows, size = manifest["num_rows"], manifest["shard_size"]
    if manifest["dtype"] not in FEATURE_DTYPES or manifest["dim"] <= 0 or rows < 0 or size <= 0:
        raise InvalidDataError(f"store manifest {path} has an invalid dtype, dim, num_rows or shard_size; re-encode")
    if manifest["num_shards"] != (-(-rows // size) if rows else 0):
        raise InvalidDataError(f"store manifest {path}: num_shards does not match num_rows / shard_size; re-encode")
    return manifest


#: Required manifest keys and their JSON types (format version 1).
_MANIFEST_SCHEMA: dict[str, type] = {
    "representation": str,
    "model": str,
    "dim": int,
    "num_rows": int,
    "fingerprint": str,
    "dtype": str,
    "params": dict,
    "shard_size": int,
    "num_shards": int,
}
