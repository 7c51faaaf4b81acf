"""The store manifest: its name, format version, typed model, the keys a reuse must match, and the
:class:`StoreSpec` a request gives."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from targetsel.errors import ArtifactMismatchError, ConfigurationError
from targetsel.params import FieldError
from targetsel.params.artifacts import check_artifact, read_json_artifact
from targetsel.store.codecs import FEATURE_DTYPES, check_feature_dtype

__all__ = [
    "MANIFEST_NAME",
    "MATCH_KEYS",
    "POOL_KEYS",
    "STORE_FORMAT_VERSION",
    "StoreManifest",
    "StoreSpec",
    "manifest_text",
    "read_manifest",
]

MANIFEST_NAME = "manifest.json"
STORE_FORMAT_VERSION = 1

#: Manifest keys that must agree for a store on disk to be reused for a request.
MATCH_KEYS = ("representation", "model", "dim", "num_rows", "fingerprint", "dtype", "params", "shard_size")

#: The keys of :data:`MATCH_KEYS` that describe the pool rather than the representation settings:
#: a store that differs only in these can keep its unchanged shards (:mod:`targetsel.store.grow`).
POOL_KEYS = ("num_rows", "fingerprint")

_FIX = "re-encode with --overwrite"


@dataclass(frozen=True)
class StoreSpec:
    """What a store holds: the request a store on disk must match to be reused.

    Attributes:
        representation: Representation name (``embed``, ``gradient``, ``hidden``, ``lexical``...).
        model: Model identifier (name or path) or ``"none"``.
        dim: Feature dimension.
        num_rows: Number of examples.
        fingerprint: Dataset fingerprint (see :func:`targetsel.data.ExampleSet.fingerprint`).
        dtype: On-disk layout: ``float32``, ``float16``, ``int8`` or ``bit`` (:mod:`targetsel.store.codecs`).
        params: Representation parameters that change the features (JSON-serialisable).
        normalized: Whether rows were L2-normalised before storing (scoring normalises anyway).
    """

    representation: str
    model: str
    dim: int
    num_rows: int
    fingerprint: str
    dtype: str = "float32"
    params: dict[str, Any] = field(default_factory=dict)
    normalized: bool = False

    def __post_init__(self) -> None:
        check_feature_dtype(self.dtype)
        if self.dim <= 0:
            raise ConfigurationError(f"feature dimension must be positive, got {self.dim}")
        if self.num_rows < 0:
            raise ConfigurationError(f"row count must be non-negative, got {self.num_rows}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (with params normalised through JSON)."""
        d = asdict(self)
        d["params"] = json.loads(json.dumps(self.params, sort_keys=True))
        return d


class StoreManifest(BaseModel):
    """A feature store's ``manifest.json`` (format version 1), as :class:`~targetsel.store.FeatureStore` writes it.

    Types are strict (``dim`` written as text, ``params`` that is not a mapping are errors);
    ``num_shards`` must agree with ``num_rows`` and ``shard_size``, and ``shard_fingerprints`` (the
    fingerprint of each shard's rows, :meth:`targetsel.data.ExampleSet.shard_fingerprints`) has one
    entry per shard. Unknown keys are tolerated and kept (a newer targetsel may record more);
    ``normalized``, ``library_version`` and ``shard_fingerprints`` may be absent (stores written
    before targetsel recorded shard fingerprints).

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
    shard_fingerprints: list[str] | None = None

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
        if self.shard_fingerprints is not None and len(self.shard_fingerprints) != self.num_shards:
            raise FieldError(
                "shard_fingerprints",
                f"must have one entry per shard ({self.num_shards}), got {len(self.shard_fingerprints)}",
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
    assert isinstance(manifest, dict)  # check_artifact refuses anything but a JSON object
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
