"""Exact, tie-free int64 order keys for "score desc, candidate index asc".

A key packs a float32 score (high 32 bits, mapped to an order-preserving integer) and a candidate
index (low 32 bits, reversed), so that an integer sort of keys is the exact top-k order: fast
(SIMD integer sorts, no stable argsort) and with no ties between distinct candidates.

Example:
    >>> import numpy as np
    >>> idx, val = decode_keys(np.sort(encode_keys(np.array([0.5, 0.9], np.float32), np.array([0, 1])))[::-1])
    >>> idx.tolist(), val.tolist()
    ([1, 0], [0.8999999761581421, 0.5])
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_CANDIDATES", "PAD_KEY", "decode_keys", "encode_keys"]

#: Low 32 bits of a top-k key: ``_IDX_MASK - candidate index`` (so a lower index is a larger key).
_IDX_MASK = np.int64(0xFFFFFFFF)
#: Pads rows of key arrays; below every real key (a real key's high half is never -2**31, which
#: would be a NaN).
PAD_KEY = np.iinfo(np.int64).min
#: Most candidates a key can index.
MAX_CANDIDATES = 1 << 32


def encode_keys(values: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """One int64 per (score, candidate index) that sorts as the top-k order.

    The high 32 bits are the float32 score mapped to an order-preserving integer (sign-magnitude
    to two's complement; -0.0 is taken as +0.0), the low 32 bits ``2**32 - 1 - index``. So
    ``key_a > key_b`` exactly when ``a`` comes first in "score desc, index asc" order; keys of
    distinct candidates never tie, so any sort of keys gives the one exact order.

    Example:
        >>> k = encode_keys(np.array([0.5, 0.5, -1.0], np.float32), np.array([3, 1, 0]))
        >>> np.argsort(-k).tolist()  # 0.5@1, 0.5@3, -1.0@0
        [1, 0, 2]
    """
    bits = (np.asarray(values, dtype=np.float32) + np.float32(0.0)).view(np.int32)
    np.bitwise_xor(bits, np.int32(0x7FFFFFFF), out=bits, where=bits < 0)
    keys: np.ndarray = bits.astype(np.int64)
    del bits
    keys <<= 32
    # (o << 32) | (MASK - i) == (o << 32) + MASK - i, since the low half of o << 32 is zero:
    # in place, without index-sized temporaries
    keys += _IDX_MASK
    keys -= np.asarray(indices, dtype=np.int64)
    return keys


def decode_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_keys`: ``(indices int64, values float32)``.

    Example:
        >>> decode_keys(encode_keys(np.array([0.25], np.float32), np.array([7])))[0].tolist()
        [7]
    """
    ordered = (keys >> 32).astype(np.int32)
    values = np.where(ordered < 0, ordered ^ np.int32(0x7FFFFFFF), ordered).view(np.float32)
    return _IDX_MASK - (keys & _IDX_MASK), values
