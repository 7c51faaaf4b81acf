"""A row subset of a feature source, read in place: the clean pool's features without a copy.

Decontamination (:mod:`targetsel.decontaminate`) removes some pool rows before ranking. Ranking the
clean pool must be exactly ranking a pool from which those rows were deleted, yet the features are
the full pool's (one store per dataset, reused whatever the evaluation files): :class:`RowSubset`
presents rows ``rows[0], rows[1], ...`` of a source as rows ``0, 1, ...`` of a new one. Reads
gather from the base source span by span, so memory stays bounded by the chunk being read.

Example:
    >>> import numpy as np
    >>> from targetsel.store import InMemoryFeatures
    >>> sub = RowSubset(InMemoryFeatures(np.arange(10.0).reshape(5, 2)), np.array([0, 2, 3]))
    >>> sub.num_rows, sub.read_rows(1, 3).tolist()
    (3, [[4.0, 5.0], [6.0, 7.0]])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.store.memory import FeatureSource, RowReader

__all__ = ["RowSubset"]

#: Removed rows between two kept ones up to which one read covers both (and discards the gap).
_MAX_GAP = 64


class RowSubset(RowReader):
    """Rows ``rows`` (sorted, unique) of ``base``, as a :class:`~targetsel.store.FeatureSource`.

    Compressed sources (``int8``/``bit``) keep their codec: :meth:`read_encoded` gathers the stored
    bytes, so integer scoring and unit normalisation read them as they read the base.

    Args:
        base: The full source.
        rows: ``(K,)`` int64 row indices into ``base``, strictly increasing.

    Example:
        >>> import numpy as np
        >>> from targetsel.store import EncodedFeatures
        >>> base = EncodedFeatures.from_float(np.array([[1.0, -1.0], [2.0, 2.0], [-3.0, 1.0]]), "int8")
        >>> RowSubset(base, np.array([0, 2])).read_encoded(0, 2)[0].tolist()
        [[127, -127], [-127, 42]]
    """

    def __init__(self, base: FeatureSource, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1 or (rows.size and (rows[0] < 0 or rows[-1] >= base.num_rows)):
            raise ConfigurationError(f"row subset out of range for a source of {base.num_rows} rows")
        if rows.size > 1 and not (np.diff(rows) > 0).all():
            raise ConfigurationError("row subset indices must be strictly increasing")
        self.base, self.rows = base, rows
        self.codec: Any = getattr(base, "codec", None)

    @property
    def num_rows(self) -> int:
        return int(self.rows.shape[0])

    @property
    def dim(self) -> int:
        return int(self.base.dim)

    @property
    def manifest(self) -> dict[str, Any]:
        """The base's manifest: the features are the base's (its store identifies them)."""
        return self.base.manifest

    def _spans(self, start: int, stop: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(lo, hi, offsets)``: base rows ``[lo, hi)`` to read and the kept rows' offsets in them."""
        rows = self.rows[start:stop]
        if rows.size == 0:
            return
        cut = np.flatnonzero(np.diff(rows) > _MAX_GAP) + 1
        for part in np.split(rows, cut):
            lo = int(part[0])
            yield lo, int(part[-1]) + 1, part - lo

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        parts = [self.base.read_rows(lo, hi)[off] for lo, hi, off in self._spans(start, stop)]
        if not parts:
            return self.base.read_rows(0, 0)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def read_encoded(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The stored ``(data, row values)`` of rows ``[start, stop)`` (compressed bases only)."""
        if self.codec is None or not hasattr(self.base, "read_encoded"):
            raise ConfigurationError("read_encoded needs a compressed (int8/bit) source")
        data: list[np.ndarray] = []
        aux: list[np.ndarray | None] = []
        for lo, hi, off in self._spans(start, stop):
            d, a = self.base.read_encoded(lo, hi)
            data.append(np.asarray(d)[off])
            aux.append(None if a is None else np.asarray(a)[off])
        if not data:
            empty: tuple[np.ndarray, np.ndarray | None] = self.base.read_encoded(0, 0)
            return empty
        values: np.ndarray | None = None if aux[0] is None else np.concatenate(aux)  # type: ignore[arg-type]  # one base: all arrays or all None
        return np.concatenate(data), values

    def __repr__(self) -> str:
        return f"RowSubset({self.num_rows} of {self.base.num_rows} rows)"
