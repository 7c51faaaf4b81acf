"""The CUDA path of the chunk driver: conversion, normalisation and products on the device.

Imported only when a ``cuda`` device is asked for (torch is imported lazily too).

Example:
    >>> import numpy as np
    >>> from targetsel.score.passes import ScorePass
    >>> from targetsel.store import InMemoryFeatures
    >>> p = ScorePass.create([InMemoryFeatures(np.eye(2, 3))], [InMemoryFeatures(np.eye(4, 3))], device="cpu")
    >>> [block.tolist() for _, block, _ in blocks_cuda(p)]  # torch on the CPU: the same steps
    [[[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]]
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.score.passes import BLOCK, Blocks, ScorePass
from targetsel.score.similarity import normalize_rows
from targetsel.store import FeatureSource

__all__ = ["blocks_cuda", "stored_codec"]


class _Stored(NamedTuple):
    """A chunk of a compressed source as stored (int8 values or packed sign bits) and its per-row scale."""

    codec: str
    data: Any  # torch.Tensor (rows, width): int8 or uint8
    scale: Any  # torch.Tensor (rows,) float32: what decoding multiplies each row by
    dim: int


def stored_codec(source: FeatureSource) -> str | None:
    """``int8`` or ``bit`` when ``source`` can hand out its rows as stored (:meth:`read_encoded`), else ``None``.

    Example:
        >>> from targetsel.store import EncodedFeatures, InMemoryFeatures
        >>> x = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
        >>> stored_codec(EncodedFeatures.from_float(x, "bit")), stored_codec(InMemoryFeatures(x))
        ('bit', None)
    """
    codec = getattr(source, "codec", None)
    if codec is None or not getattr(codec, "compressed", False) or not hasattr(source, "read_encoded"):
        return None
    return str(codec.name) if codec.name in ("int8", "bit") else None


def _row_scale(codec: str, aux: np.ndarray, dim: int) -> np.ndarray:
    """The float32 factor decoding gives each row, computed here as the codec computes it (same bits)."""
    aux = np.asarray(aux, dtype=np.float32)
    return aux if codec == "int8" else aux / np.float32(math.sqrt(dim))


def _decode_on_device(chunk: _Stored, dev: Any) -> Any:
    """float32 rows of a stored chunk, decoded on ``dev``: the values the codec decodes on the host.

    int8 values times the row scale; sign bits (8 per byte, first bit highest, as ``numpy.packbits``)
    as plus or minus the row scale. Products and conversions are exact or correctly rounded in
    float32, so the rows equal :meth:`~targetsel.store.codecs.Codec.decode`'s bit for bit.
    """
    import torch

    data = chunk.data.to(dev, non_blocking=True)
    scale = chunk.scale.to(dev, non_blocking=True)[:, None]
    if chunk.codec == "int8":
        return data.float() * scale
    shifts = torch.arange(7, -1, -1, dtype=torch.uint8, device=dev)
    bits = ((data.unsqueeze(-1) >> shifts) & 1).reshape(data.shape[0], -1)[:, : chunk.dim]
    return torch.where(bits.bool(), scale, -scale)


def blocks_cuda(p: ScorePass) -> Blocks:
    """:func:`targetsel.score.stream.run_pass` with the conversion, normalisation and products on ``p.device``.

    Candidate rows travel in their stored dtype (float16 stores: half the bytes; int8 and 1-bit
    stores as their stored bytes plus one float32 scale per row: 1/4 and about 1/32 of float32)
    through a pinned host buffer; they are decoded, converted to float32 and normalised on the
    device (decoded values equal the host's bit for bit), and multiplied in the
    same absolute :data:`~targetsel.score.passes.BLOCK`-candidate blocks as on the CPU (TF32 off:
    full float32 products), so two runs on one GPU give the same bits whatever ``chunk_rows``. The
    next chunk is read from the store by a background thread while the device works on this one.
    ``p.device`` may be ``cpu`` too (torch on the CPU: how the path is tested without a GPU).

    One function on purpose (90 lines): the double-buffered reader, the pinned buffers and the
    device loop share their state, and it only runs where a GPU is present.
    """
    import torch

    device = p.device or "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(f"device {device!r} was asked for but CUDA is not available; use --device cpu")
    m, n, chunk_rows, cs, w, exclude = p.n_queries, p.n_candidates, p.chunk_rows, p.candidates, p.weights, p.exclude
    qn_t = [torch.from_numpy(normalize_rows(q.to_array(), "query", 0)).to(dev) for q in p.queries]
    qmean_t = [x.double().mean(dim=0).float() for x in qn_t]
    block_at = p.block_buffer()
    prev_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False

    # two pinned host buffers per view, filled in turn (pinning memory per chunk costs more than
    # the copy): the reader fills one while the device's copy from the other is in flight
    pinned: dict[tuple[int, int, str], torch.Tensor] = {}
    stored = [stored_codec(c) for c in cs]

    def stage(key: tuple[int, int, str], raw: np.ndarray) -> torch.Tensor:
        """``raw`` copied into the pinned buffer ``key`` (made, or remade for another dtype, on first use)."""
        dtype = torch.from_numpy(raw[:0]).dtype
        buf = pinned.get(key)
        if buf is None or buf.dtype != dtype:
            buf = torch.empty((min(n, chunk_rows), *raw.shape[1:]), dtype=dtype, pin_memory=dev.type == "cuda")
            pinned[key] = buf
        dst = buf[: raw.shape[0]]
        dst.numpy()[...] = raw
        return dst

    def read(start: int) -> list[torch.Tensor | _Stored]:
        stop = min(n, start + chunk_rows)
        slot = (start // chunk_rows) % 2
        out: list[torch.Tensor | _Stored] = []
        for v, c in enumerate(cs):
            codec = stored[v]
            if codec is not None:
                data, aux = c.read_encoded(start, stop)  # type: ignore[attr-defined]  # stored_codec checked it has one
                scale = _row_scale(codec, aux, c.dim)
                out.append(_Stored(codec, stage((slot, v, "data"), data), stage((slot, v, "scale"), scale), c.dim))
                continue
            raw = np.asarray(c.read_rows(start, stop))
            if raw.dtype not in (np.float16, np.float32):
                raw = raw.astype(np.float32)
            out.append(stage((slot, v, "rows"), raw))
        return out

    try:
        with ThreadPoolExecutor(1, thread_name_prefix="targetsel-read") as reader:
            nxt = reader.submit(read, 0)
            for start in p.chunk_starts():
                stop = min(n, start + chunk_rows)
                width = stop - start
                host = nxt.result()
                if stop < n:
                    nxt = reader.submit(read, stop)
                out_t = torch.empty((m, width), dtype=torch.float32, device=dev)
                mean_t = torch.zeros(width, dtype=torch.float32, device=dev) if p.with_mean else None
                for i, h in enumerate(host):
                    x = _decode_on_device(h, dev) if isinstance(h, _Stored) else h.to(dev, non_blocking=True).float()
                    norms = torch.linalg.vector_norm(x, dim=1)
                    if not bool(torch.isfinite(norms).all()):  # as in normalize_rows
                        bad_rows = ~torch.isfinite(x).all(dim=1)
                        if bool(bad_rows.any()):
                            bad = int(torch.nonzero(bad_rows)[0, 0]) + start
                            raise InvalidDataError(f"candidate features of row {bad} contain NaN or inf")
                        norms = torch.linalg.vector_norm(x.double(), dim=1).float()  # finite but huge values
                    x /= norms.clamp_min(1e-12)[:, None]
                    if mean_t is not None:
                        mean_t += float(w[i]) * (x @ qmean_t[i])
                    for b0 in range(0, width, BLOCK):
                        b1 = min(width, b0 + BLOCK)
                        prod = qn_t[i] @ x[b0:b1].T
                        if i == 0:
                            out_t[:, b0:b1] = prod if float(w[i]) == 1.0 else float(w[i]) * prod
                        else:
                            out_t[:, b0:b1] += float(w[i]) * prod
                if exclude is not None:
                    ex = torch.from_numpy(np.ascontiguousarray(exclude[start:stop])).to(dev)
                    out_t.masked_fill_(ex[None, :], float("-inf"))
                block = block_at(start, stop)
                if p.out is None:  # the contiguous buffer: copied straight from the device
                    torch.from_numpy(block).copy_(out_t)
                else:
                    block[...] = out_t.cpu().numpy()
                mean = None if mean_t is None else mean_t.cpu().numpy()
                yield start, block, mean
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev_tf32
