"""The reading interface every feature source has, and the in-memory sources.

Scoring, selection and diagnosis read features through :class:`FeatureSource`: a
:class:`~targetsel.store.FeatureStore` on disk, :class:`InMemoryFeatures` (float rows) or
:class:`EncodedFeatures` (int8 or bit rows held in memory, as a compressed store holds them).
``read_rows`` / ``iter_chunks`` / ``to_array`` always give the *decoded* float rows; a compressed
source also offers ``codec`` and ``read_encoded`` so scoring can read its bytes directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np

from targetsel.errors import InvalidDataError
from targetsel.store.codecs import Codec, get_codec

__all__ = ["EncodedFeatures", "FeatureSource", "InMemoryFeatures", "RowReader"]


@runtime_checkable
class FeatureSource(Protocol):
    """Anything scoring can stream over: a store, :class:`InMemoryFeatures` or :class:`EncodedFeatures`."""

    @property
    def num_rows(self) -> int: ...

    @property
    def dim(self) -> int: ...

    @property
    def manifest(self) -> dict[str, Any]: ...

    def iter_chunks(self, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]: ...

    def read_rows(self, start: int, stop: int) -> np.ndarray: ...

    def to_array(self) -> np.ndarray: ...


class RowReader:
    """Chunks, the whole array and ``len`` from a source's ``num_rows`` and ``read_rows`` (a base for sources)."""

    @property
    def num_rows(self) -> int:
        raise NotImplementedError

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def iter_chunks(self, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.num_rows, chunk_rows):
            yield start, self.read_rows(start, start + chunk_rows)

    def to_array(self) -> np.ndarray:
        return self.read_rows(0, self.num_rows)

    def __len__(self) -> int:
        return self.num_rows


class InMemoryFeatures:
    """Features held in memory, with the same reading interface as :class:`FeatureStore`.

    Args:
        array: Features, shape ``(num_rows, dim)``.
        manifest: Provenance (usually ``StoreSpec.to_dict()``).

    Example:
        >>> import numpy as np
        >>> feats = InMemoryFeatures(np.eye(3, dtype=np.float32))
        >>> [start for start, _ in feats.iter_chunks(2)]
        [0, 2]
    """

    def __init__(self, array: np.ndarray, manifest: dict[str, Any] | None = None) -> None:
        array = np.asarray(array)
        if array.ndim != 2:
            raise InvalidDataError(f"features must be a 2-D array (rows, dim), got shape {array.shape}")
        self._array = array
        self._manifest = dict(manifest or {"representation": "array", "dim": array.shape[1]})

    @property
    def num_rows(self) -> int:
        return int(self._array.shape[0])

    @property
    def dim(self) -> int:
        return int(self._array.shape[1])

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(self._manifest)

    def iter_chunks(self, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.num_rows, chunk_rows):
            yield start, self._array[start : start + chunk_rows]

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        return self._array[start:stop]

    def to_array(self) -> np.ndarray:
        return self._array

    def __len__(self) -> int:
        return self.num_rows

    def __repr__(self) -> str:
        return f"InMemoryFeatures(rows={self.num_rows}, dim={self.dim})"


class EncodedFeatures(RowReader):
    """int8 or bit features held in memory exactly as a compressed store holds them.

    Reads decode (as :class:`FeatureStore` does), and :meth:`read_encoded` gives the stored bytes,
    so an in-memory encode scores bit for bit like a store with the same ``feature_dtype``.

    Args:
        codec: The codec (``get_codec("int8")`` or ``get_codec("bit")``).
        data: The main array (int8 ``(rows, dim)`` or packed uint8 ``(rows, ceil(dim/8))``).
        aux: The per-row float32 array (scales or norms).
        dim: Feature dimension.
        manifest: Provenance.

    Example:
        >>> import numpy as np
        >>> feats = EncodedFeatures.from_float(np.array([[3.0, -4.0]], dtype=np.float32), "bit")
        >>> feats.to_array().tolist()
        [[3.535533905029297, -3.535533905029297]]
    """

    def __init__(
        self, codec: Codec, data: np.ndarray, aux: np.ndarray, dim: int, manifest: dict[str, Any] | None = None
    ) -> None:
        if data.ndim != 2 or data.shape[1] != codec.width(dim) or aux.shape != (data.shape[0],):
            raise InvalidDataError(
                f"{codec.name} features need ({data.shape[0]}, {codec.width(dim)}) data and ({data.shape[0]},) "
                f"row values, got {data.shape} and {aux.shape}"
            )
        self.codec, self._data, self._aux, self._dim = codec, data, aux, int(dim)
        self._manifest = dict(manifest or {"representation": "array", "dim": dim, "dtype": codec.name})

    @classmethod
    def from_float(cls, x: np.ndarray, dtype: str, manifest: dict[str, Any] | None = None) -> EncodedFeatures:
        """Compress float rows ``x`` ``(rows, dim)`` with the codec of ``dtype`` (``int8`` or ``bit``)."""
        x = np.asarray(x, dtype=np.float32)
        codec = get_codec(dtype)
        data, aux = codec.encode(x)
        assert aux is not None  # only the compressed codecs get here
        return cls(codec, data, aux, x.shape[1], manifest)

    @property
    def num_rows(self) -> int:
        return int(self._data.shape[0])

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(self._manifest)

    def read_encoded(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The stored ``(data, row values)`` of rows ``[start, stop)`` (views, no copy)."""
        return self._data[start:stop], self._aux[start:stop]

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        data, aux = self.read_encoded(start, stop)
        return self.codec.decode(data, aux, self._dim)

    def __repr__(self) -> str:
        return f"EncodedFeatures({self.codec.name}, rows={self.num_rows}, dim={self.dim})"
