"""The CUDA path of the chunk driver: conversion, normalisation and products on the device.

Imported only when a ``cuda`` device is asked for (torch is imported lazily too).

Example:
    >>> from targetsel.score.cuda import blocks_cuda
    >>> callable(blocks_cuda)
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.score.similarity import normalize_rows
from targetsel.store import FeatureSource

__all__ = ["blocks_cuda"]


def blocks_cuda(
    qs: list[FeatureSource],
    cs: list[FeatureSource],
    w: np.ndarray,
    chunk_rows: int,
    device: str,
    exclude: np.ndarray | None,
    matrix: np.ndarray | None,
    with_mean: bool,
    block_cols: int = 4096,
) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """:func:`targetsel.score.stream._blocks` with the conversion, normalisation and products on a CUDA device.

    Candidate rows travel in their stored dtype (float16 stores: half the bytes) through a pinned
    host buffer; they are converted to float32 and normalised on the device, and multiplied in the
    same absolute ``block_cols``-candidate blocks as on the CPU (TF32 off: full float32 products), so
    two runs on one GPU give the same bits whatever ``chunk_rows``. The next chunk is read from
    the store by a background thread while the device works on this one.

    One function on purpose (97 lines): the double-buffered reader, the pinned buffers and the
    device loop share their state, and it only runs where a GPU is present.
    """
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(f"device {device!r} was asked for but CUDA is not available; use --device cpu")
    m, n = qs[0].num_rows, cs[0].num_rows
    qn_t = [torch.from_numpy(normalize_rows(q.to_array(), "query", 0)).to(dev) for q in qs]
    qmean_t = [x.double().mean(dim=0).float() for x in qn_t]
    block_buf = np.empty(m * min(n, chunk_rows), dtype=np.float32) if matrix is None else None
    prev_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False

    # two pinned host buffers per view, filled in turn (pinning memory per chunk costs more than
    # the copy): the reader fills one while the device's copy from the other is in flight
    pinned: dict[tuple[int, int], torch.Tensor] = {}

    def read(start: int) -> list[torch.Tensor]:
        stop = min(n, start + chunk_rows)
        slot = (start // chunk_rows) % 2
        out = []
        for v, c in enumerate(cs):
            raw = np.asarray(c.read_rows(start, stop))
            if raw.dtype not in (np.float16, np.float32):
                raw = raw.astype(np.float32)
            dtype = torch.from_numpy(raw[:0]).dtype
            buf = pinned.get((slot, v))
            if buf is None or buf.dtype != dtype:
                buf = torch.empty((min(n, chunk_rows), c.dim), dtype=dtype, pin_memory=dev.type == "cuda")
                pinned[(slot, v)] = buf
            dst = buf[: stop - start]
            dst.numpy()[...] = raw
            out.append(dst)
        return out

    try:
        with ThreadPoolExecutor(1, thread_name_prefix="targetsel-read") as reader:
            nxt = reader.submit(read, 0)
            for start in range(0, n, chunk_rows):
                stop = min(n, start + chunk_rows)
                width = stop - start
                host = nxt.result()
                if stop < n:
                    nxt = reader.submit(read, stop)
                out_t = torch.empty((m, width), dtype=torch.float32, device=dev)
                mean_t = torch.zeros(width, dtype=torch.float32, device=dev) if with_mean else None
                for i, h in enumerate(host):
                    x = h.to(dev, non_blocking=True).float()
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
                    for b0 in range(0, width, block_cols):
                        b1 = min(width, b0 + block_cols)
                        prod = qn_t[i] @ x[b0:b1].T
                        if i == 0:
                            out_t[:, b0:b1] = prod if float(w[i]) == 1.0 else float(w[i]) * prod
                        else:
                            out_t[:, b0:b1] += float(w[i]) * prod
                if exclude is not None:
                    ex = torch.from_numpy(np.ascontiguousarray(exclude[start:stop])).to(dev)
                    out_t.masked_fill_(ex[None, :], float("-inf"))
                if block_buf is not None:
                    block = block_buf[: m * width].reshape(m, width)
                    torch.from_numpy(block).copy_(out_t)
                else:
                    assert matrix is not None
                    block = matrix[:, start:stop]
                    block[...] = out_t.cpu().numpy()
                mean = None if mean_t is None else mean_t.cpu().numpy()
                yield start, block, mean
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev_tf32
