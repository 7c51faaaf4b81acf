"""The store manifest: its name, format version, typed model, and the keys a reuse must match."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from targetsel.errors import ArtifactMismatchError
from targetsel.params import FieldError
from targetsel.params.artifacts import check_artifact, read_json_artifact
from targetsel.store.codecs import FEATURE_DTYPES

__all__ = ["MANIFEST_NAME", "MATCH_KEYS", "STORE_FORMAT_VERSION", "StoreManifest", "manifest_text", "read_manifest"]

MANIFEST_NAME = "manifest.json"
STORE_FORMAT_VERSION = 1

#: Manifest keys that must agree for a store on disk to be reused for a request.
MATCH_KEYS = ("representation", "model", "dim", "num_rows", "fingerprint", "dtype", "params", "shard_size")

_FIX = "re-encode with --overwrite"


class StoreManifest(BaseModel):
    """A feature store's ``manifest.json`` (format version 1), as :class:`~targetsel.store.FeatureStore` writes it.

    Types are strict (``dim`` written as text, ``params`` that is not a mapping are errors);
    ``num_shards`` must agree with ``num_rows`` and ``shard_size``. Unknown keys are tolerated and
    kept (a newer targetsel may record more); ``normalized`` and ``library_version`` may be absent.

    Example:
        >>> m = {"format_version": 1, "representation": "lexical", "model": "none", "dim": 8,
        ...      "num_rows": 5, "fingerprint": "f", "dtype": "float32", "params": {},
        ...      "shard_size": 4, "num_shards": 2}
        >>> StoreManifest.model_validate(m).num_shards
        2
    """

    model_config = ConfigDict(strict=True, extra="allow")

    format_version: int
    representation: str
    model: str
    dim: Annotated[int, Field(gt=0)]
    num_rows: Annotated[int, Field(ge=0)]
    fingerprint: str
    dtype: str
    params: dict[str, Any]
    shard_size: Annotated[int, Field(gt=0)]
    num_shards: Annotated[int, Field(ge=0)]
    normalized: bool = False
    library_version: str | None = None

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        if value not in FEATURE_DTYPES:
            raise ValueError(f"must be one of {', '.join(FEATURE_DTYPES)}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _shards_cover_rows(self) -> StoreManifest:
        expected = -(-self.num_rows // self.shard_size) if self.num_rows else 0
        if self.num_shards != expected:
            raise FieldError(
                "num_shards",
                f"must be {expected} for {self.num_rows} rows of {self.shard_size} per shard, got {self.num_shards}",
            )
        return self


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``, validated by :class:`StoreManifest`, as written (a dict, key order kept).

    Raises:
        ArtifactMismatchError: another format version (checked first: its keys may differ).
        InvalidDataError: the file is unreadable, cut, not JSON, or a field is missing or wrong;
            one line naming the file and the field.
    """
    manifest = read_json_artifact(path, fix=_FIX, what="store manifest")
    if isinstance(manifest, dict) and manifest.get("format_version") != STORE_FORMAT_VERSION:
        version = manifest.get("format_version")
        raise ArtifactMismatchError(
            f"store manifest {path} has format version {version!r}, this targetsel reads version "
            f"{STORE_FORMAT_VERSION}; re-encode with --overwrite"
        )
    check_artifact(StoreManifest, manifest, source=path, fix=_FIX)
    return manifest


def manifest_text(manifest: dict[str, Any]) -> str:
    """The text of ``manifest.json`` for ``manifest``, checked by :class:`StoreManifest` first (what
    is written is what :func:`read_manifest` accepts): sorted keys, two-space indent.

    Example:
        >>> m = {"format_version": 1, "representation": "lexical", "model": "none", "dim": 8,
        ...      "num_rows": 0, "fingerprint": "f", "dtype": "float32", "params": {},
        ...      "shard_size": 4, "num_shards": 0}
        >>> manifest_text(m).splitlines()[1]
        '  "dim": 8,'
    """
    check_artifact(StoreManifest, manifest, source=MANIFEST_NAME, fix="this is a bug in targetsel")
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"
