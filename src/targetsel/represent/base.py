"""The representation protocol and the encode driver shared by every representation.

A representation turns examples into fixed-size vectors. It implements two things:
:meth:`Representation.spec` (what the features are, for the store manifest) and
:meth:`Representation.encode_rows` (raw features for a contiguous row range). The driver
:meth:`Representation.encode` handles everything else: in-memory or on-disk output, shards,
resume, a fixed subset of shards for multi-process runs, and progress.

A pool that changed since its store was written (rows appended, edited, reordered or removed)
re-encodes only the shards whose rows changed; the others are reused as they are
(:mod:`targetsel.store.grow` gives the rule). ``encode_for_scoring`` (what ``select`` uses) keeps
one store per pool version in its cache folder and links the reusable shards of an earlier
version's store into a new one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, overload

import numpy as np

from targetsel.cleanup import undo_on_failure
from targetsel.data import ExampleSet
from targetsel.errors import ConfigurationError
from targetsel.hashing import settings_digest
from targetsel.progress import progress, row_progress
from targetsel.registry import Registry
from targetsel.store import EncodedFeatures, FeatureSource, FeatureStore, InMemoryFeatures, StoreSpec, get_codec
from targetsel.store.viewset import ViewSet

logger = logging.getLogger(__name__)

__all__ = ["REPRESENTATIONS", "Representation", "Role", "get_representation", "register_representation"]

Role = Literal["query", "candidate"]

#: Representations by name (``embed``, ``lexical``, ``gradient``, ``hidden``).
REPRESENTATIONS: Registry[type[Representation]] = Registry("representation")


def register_representation(cls: type[Representation]) -> type[Representation]:
    """Class decorator: make a representation available by its ``name`` (a taken name is an error)."""
    return REPRESENTATIONS.register(cls)


def get_representation(name: str, **params: Any) -> Representation:
    """Instantiate a registered representation by name.

    ``params`` are checked against the class's ``__init__`` first
    (:func:`targetsel.params.validate_params`): an unknown name or a wrong type is one
    :class:`ConfigurationError` naming the parameter, and numeric text of number parameters is read
    as a number.

    Example:
        >>> rep = get_representation("embed", batch_size=32)
        >>> rep.name
        'embed'
        >>> get_representation("lexical", dims=64)
        Traceback (most recent call last):
        ...
        targetsel.errors.ConfigurationError: bad parameters for representation 'lexical': unknown parameter 'dims'; ...
    """
    from targetsel.params import validate_params  # imports pydantic: only when a representation is built

    cls = REPRESENTATIONS.get(name)
    return cls(**validate_params(cls, params, what=f"representation {name!r}"))


class Representation(ABC):
    """Base class of every representation.

    Subclasses store their parameters in ``__init__`` (no heavy work there) and load models
    lazily in :meth:`encode_rows`.
    """

    name: ClassVar[str]
    #: Short name in method labels and reports, as in the paper ("LESS", "RDS+").
    label: ClassVar[str]
    #: Its cost model for ``targetsel plan``: a ``module:function`` planner
    #: (:mod:`targetsel.plan.request`), resolved only when a plan is made; ``None``: no plan.
    planner: ClassVar[str | None] = None

    def release(self) -> None:
        """Drop any loaded model and its memory (it is loaded again on the next use)."""
        return None  # representations without a model hold nothing

    @abstractmethod
    def spec(self, examples: ExampleSet, role: Role = "candidate") -> StoreSpec:
        """Describe the features this representation produces for ``examples``."""

    @abstractmethod
    def encode_rows(self, examples: ExampleSet, start: int, stop: int, role: Role = "candidate") -> np.ndarray:
        """Raw features of rows ``[start, stop)``, shape ``(stop - start, dim)``, float32."""

    @overload
    def encode(
        self,
        examples: ExampleSet,
        *,
        role: Role = ...,
        store: None = ...,
        shard_size: int = ...,
        overwrite: bool = ...,
        shards: tuple[int, int] | None = ...,
        progress_desc: str | None = ...,
        reuse_from: Sequence[str | os.PathLike[str]] = ...,
    ) -> InMemoryFeatures | EncodedFeatures: ...

    @overload
    def encode(
        self,
        examples: ExampleSet,
        *,
        role: Role = ...,
        store: str | os.PathLike[str],
        shard_size: int = ...,
        overwrite: bool = ...,
        shards: tuple[int, int] | None = ...,
        progress_desc: str | None = ...,
        reuse_from: Sequence[str | os.PathLike[str]] = ...,
    ) -> FeatureStore: ...

    @overload
    def encode(
        self,
        examples: ExampleSet,
        *,
        role: Role = ...,
        store: str | os.PathLike[str] | None = ...,
        shard_size: int = ...,
        overwrite: bool = ...,
        shards: tuple[int, int] | None = ...,
        progress_desc: str | None = ...,
        reuse_from: Sequence[str | os.PathLike[str]] = ...,
    ) -> FeatureSource: ...

    def encode(
        self,
        examples: ExampleSet,
        *,
        role: Role = "candidate",
        store: str | os.PathLike[str] | None = None,
        shard_size: int = 4096,
        overwrite: bool = False,
        shards: tuple[int, int] | None = None,
        progress_desc: str | None = None,
        reuse_from: Sequence[str | os.PathLike[str]] = (),
    ) -> FeatureSource:
        """Encode ``examples``, in memory or into a resumable on-disk :class:`FeatureStore`.

        A store written for another version of the pool with the same settings keeps the shards
        whose rows did not change and encodes the rest; the returned store's ``reused_shards``
        and ``written_shards`` say which were which.

        Args:
            examples: Validated examples.
            role: ``candidate`` (pool) or ``query``; gradient features differ between the two.
            store: Store directory; ``None`` keeps the features in memory.
            shard_size: Rows per shard (and per in-memory encode step).
            overwrite: Replace a store written for other inputs.
            shards: ``(index, count)``: encode only the shards ``i`` with ``i % count == index``
                (several processes or machines filling one store). The returned store may then be
                incomplete.
            progress_desc: Label of the progress bar.
            reuse_from: Stores (of earlier versions of the pool) whose reusable shards a new
                ``store`` links in instead of encoding them.

        Returns:
            The features: :class:`InMemoryFeatures`, or the (possibly partial) :class:`FeatureStore`.

        Example:
            >>> from targetsel.data import ExampleSet
            >>> from targetsel.represent import LexicalRepresentation
            >>> es = ExampleSet.from_records([{"prompt": "add 2 and 3", "completion": "5"}])
            >>> LexicalRepresentation(dim=64).encode(es).to_array().shape
            (1, 64)
        """
        if store is not None:  # first: one pass over the rows hashes the pool and its shards
            examples.shard_fingerprints(shard_size)
        spec = self.stored_spec(examples, role)
        desc = progress_desc or f"encode {self.name} ({role})"
        if store is None:
            out = np.empty((len(examples), spec.dim), dtype=np.float32)
            with progress(total=len(examples), desc=desc, unit="ex") as bar:
                for start in range(0, len(examples), shard_size):
                    stop = min(len(examples), start + shard_size)
                    with row_progress(bar) as rows:  # batched representations advance it per batch
                        out[start:stop] = self._checked(examples, start, stop, role, spec.dim)
                    bar.update(stop - start - rows["done"])
            if get_codec(spec.dtype).compressed:  # held as a compressed store holds it: same scores
                return EncodedFeatures.from_float(out, spec.dtype, spec.to_dict())
            return InMemoryFeatures(out.astype(spec.dtype, copy=False), spec.to_dict())
        if shards is not None:  # one of several workers on this store: never remove what others share
            return self._encode_store(examples, role, store, shard_size, overwrite, shards, desc, reuse_from)
        # An error before the first finished shard (a model or checkpoint that cannot be loaded, a
        # batch that cannot fit in memory) removes the store this call created: a manifest alone
        # would block the corrected rerun. Finished shards are progress a rerun resumes from.
        with undo_on_failure(store, keep_if=lambda: _has_finished_shards(store)):
            return self._encode_store(examples, role, store, shard_size, overwrite, shards, desc, reuse_from)

    def create_store(
        self,
        examples: ExampleSet,
        role: Role,
        store: str | os.PathLike[str],
        *,
        shard_size: int = 4096,
        overwrite: bool = False,
        reuse_from: Sequence[str | os.PathLike[str]] = (),
    ) -> FeatureStore:
        """Create, resume or regrow the store of ``examples`` at ``store`` without encoding anything.

        What :meth:`encode` does first (and rank 0 of a ``torchrun`` encode, before the others):
        the manifest records the pool's fingerprint and the fingerprint of each shard's rows, and
        a store of another version of the pool keeps its reusable shards (``reused_shards``).

        Example:
            >>> import tempfile
            >>> from targetsel.data import ExampleSet
            >>> from targetsel.represent import LexicalRepresentation
            >>> es = ExampleSet.from_records([{"prompt": f"q {i}", "completion": "a"} for i in range(5)])
            >>> fs = LexicalRepresentation(dim=8).create_store(es, "candidate", tempfile.mkdtemp(), shard_size=2)
            >>> fs.missing_shards(), len(fs.manifest["shard_fingerprints"])
            ([0, 1, 2], 3)
        """
        return FeatureStore.create(
            store,
            self.stored_spec(examples, role),
            shard_size=shard_size,
            overwrite=overwrite,
            shard_fingerprints=examples.shard_fingerprints(shard_size),
            reuse_from=reuse_from,
        )

    def _encode_store(
        self,
        examples: ExampleSet,
        role: Role,
        store: str | os.PathLike[str],
        shard_size: int,
        overwrite: bool,
        shards: tuple[int, int] | None,
        desc: str,
        reuse_from: Sequence[str | os.PathLike[str]],
    ) -> FeatureStore:
        fs = self.create_store(examples, role, store, shard_size=shard_size, overwrite=overwrite, reuse_from=reuse_from)
        todo = fs.missing_shards()
        if shards is not None:
            index, count = shards
            if count <= 0 or not 0 <= index < count:
                raise ConfigurationError(f"--shard must be i/n with 0 <= i < n, got {index}/{count}")
            todo = [i for i in todo if i % count == index]
        if len(todo) < fs.num_shards:
            reused = len(fs.reused_shards)
            logger.info(
                "%s: %d of %d shards reused from the previous pool, %d already done, %d to encode here",
                store,
                reused,
                fs.num_shards,
                fs.num_shards - len(fs.missing_shards()) - reused,
                len(todo),
            )
        rows = sum(fs.shard_range(i)[1] - fs.shard_range(i)[0] for i in todo)
        with progress(total=rows, desc=desc, unit="ex") as bar:
            for i in todo:
                lo, hi = fs.shard_range(i)
                with row_progress(bar) as counted:  # batched representations advance it per batch
                    feats = self._checked(examples, lo, hi, role, fs.dim)
                fs.write_shard(i, feats)
                bar.update(hi - lo - counted["done"])
        return fs

    def stored_spec(self, examples: ExampleSet, role: Role = "candidate") -> StoreSpec:
        """:meth:`spec` as stored: a query set asked for as ``int8``/``bit`` is kept in float32.

        Query sets are small, and scoring float queries against compressed candidates is the
        better (asymmetric) estimator; ``score(..., query_dtype="bit")`` binarises queries on
        purpose when the fastest pass is wanted.
        """
        spec = self.spec(examples, role)
        if role == "query" and get_codec(spec.dtype).compressed:
            spec = dataclasses.replace(spec, dtype="float32")
        return spec

    def store_name(self, examples: ExampleSet, role: Role) -> str:
        """Directory name of this representation's store for ``examples`` inside a cache folder.

        ``<name>-<role>-<pool fingerprint>-<settings key>``: one store per version of the pool.
        """
        return f"{self.name}-{role}-{examples.fingerprint[:12]}-{self._settings_key(examples, role)}"

    def _settings_key(self, examples: ExampleSet, role: Role) -> str:
        """The part of :meth:`store_name` that depends on the settings only (model, params, dtype)."""
        spec = self.stored_spec(examples, role).to_dict()
        return settings_digest([spec["model"], spec["params"], spec["dtype"]], length=8, algorithm="sha1")

    def encode_for_scoring(
        self,
        examples: ExampleSet,
        *,
        role: Role,
        store_dir: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        shard_size: int = 4096,
    ) -> ViewSet:
        """Features ready for scoring: one source per view and the views' weights.

        Single-vector representations return one view of weight 1. Representations with several
        views (LESS checkpoints) override this to return one source per view with its weight. The
        query side and the candidate side make :class:`targetsel.score.FeatureViews`. With
        ``store_dir`` the features go to (or are reused from) a store inside it; a new store there
        links in the unchanged shards of this representation's stores of other versions of the
        pool (:meth:`store_name` differs only in the pool's fingerprint).

        Example:
            >>> from targetsel.represent import LexicalRepresentation
            >>> es = ExampleSet.from_records([{"prompt": "two plus two", "completion": "four"}])
            >>> side = LexicalRepresentation(dim=16).encode_for_scoring(es, role="query")
            >>> side.n_rows, side.weights
            (1, (1.0,))
        """
        if store_dir is None:
            src = self.encode(examples, role=role, overwrite=overwrite, shard_size=shard_size)
            return ViewSet((src,), (1.0,))
        examples.shard_fingerprints(shard_size)  # one pass over the rows hashes the pool and its shards
        store = Path(store_dir) / self.store_name(examples, role)
        siblings = sorted(Path(store_dir).glob(f"{self.name}-{role}-*-{self._settings_key(examples, role)}"))
        fs = self.encode(
            examples, role=role, store=store, overwrite=overwrite, shard_size=shard_size, reuse_from=siblings
        )
        return ViewSet((fs,), (1.0,))

    def _checked(self, examples: ExampleSet, start: int, stop: int, role: Role, dim: int) -> np.ndarray:
        feats = np.asarray(self.encode_rows(examples, start, stop, role), dtype=np.float32)
        if feats.shape != (stop - start, dim):
            raise ConfigurationError(
                f"{type(self).__name__}.encode_rows returned shape {feats.shape}, expected {(stop - start, dim)}"
            )
        return feats


def _has_finished_shards(store: str | os.PathLike[str]) -> bool:
    """Whether the store at ``store`` holds a finished shard (progress a rerun resumes from)."""
    if not FeatureStore.exists(store):
        return False
    fs = FeatureStore.open(store, require_complete=False)
    return len(fs.missing_shards()) < fs.num_shards
