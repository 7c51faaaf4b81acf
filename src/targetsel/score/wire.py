"""Messages between torchrun ranks: a small picklable header plus numpy arrays sent as raw bytes.

:class:`Wire` carries what :mod:`targetsel.score.ranks` exchanges — rank 0's commands to every
rank (broadcast) and each rank's reply to rank 0 (point to point) — over ``torch.distributed``
(gloo: CPU tensors, any machine). Arrays travel as their bytes, so what arrives is bit for bit what
was sent, whatever the dtype; the header (``meta``: plain Python values, array names, dtypes and
shapes) is pickled. Every rank counts the bytes it sent and received.

Example:
    >>> meta, specs = _header({"op": "score"}, {"x": np.zeros((2, 3), np.float32)})[1:]
    >>> meta, specs
    ({'op': 'score'}, [('x', '<f4', (2, 3))])
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np

__all__ = ["Message", "Wire"]

#: ``(meta, arrays)``: a header of plain values and named arrays.
Message = tuple[dict[str, Any], dict[str, np.ndarray]]

#: ``(name, dtype string, shape)`` of one array in a message's header.
_Spec = tuple[str, str, tuple[int, ...]]


def _header(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[bytes, dict[str, Any], list[_Spec]]:
    specs = [(name, a.dtype.str, tuple(a.shape)) for name, a in arrays.items()]
    return pickle.dumps((meta, specs), protocol=pickle.HIGHEST_PROTOCOL), meta, specs


def _as_bytes(a: np.ndarray) -> Any:
    import torch

    a = np.ascontiguousarray(a)
    if not a.flags.writeable:  # memory-mapped shards are read-only; torch wants a writable buffer
        a = a.copy()
    return torch.from_numpy(a.reshape(-1).view(np.uint8))


class Wire:
    """Sends and receives :data:`Message` over the default ``torch.distributed`` process group.

    Attributes:
        sent: Bytes this rank sent (headers and arrays).
        received: Bytes this rank received.

    Example:
        >>> Wire().sent
        0
    """

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0

    def broadcast(self, message: Message | None, src: int = 0) -> Message:
        """Rank ``src`` sends ``message`` to every rank; every rank returns it (``message`` is ignored elsewhere)."""
        import torch
        import torch.distributed as dist

        mine = dist.get_rank() == src
        if mine:
            assert message is not None
            head, meta, specs = _header(*message)
            size = torch.tensor([len(head)], dtype=torch.int64)
        else:
            size = torch.zeros(1, dtype=torch.int64)
        dist.broadcast(size, src=src)
        buf = (
            torch.frombuffer(bytearray(head), dtype=torch.uint8)
            if mine
            else torch.empty(int(size[0]), dtype=torch.uint8)
        )
        dist.broadcast(buf, src=src)
        if mine:
            assert message is not None  # the sender's (asserted above)
            self.sent += 8 + len(head)
            arrays = message[1]
            for a in arrays.values():
                if a.nbytes:
                    dist.broadcast(_as_bytes(a), src=src)
                    self.sent += a.nbytes
            return meta, arrays
        meta, specs = pickle.loads(buf.numpy().tobytes())
        self.received += 8 + int(size[0])
        return meta, self._arrays(specs, lambda t: dist.broadcast(t, src=src))

    def send(self, message: Message, dst: int = 0) -> None:
        """Send ``message`` to rank ``dst`` (which calls :meth:`recv`)."""
        import torch
        import torch.distributed as dist

        head, _, _ = _header(*message)
        dist.send(torch.tensor([len(head)], dtype=torch.int64), dst=dst)
        dist.send(torch.frombuffer(bytearray(head), dtype=torch.uint8), dst=dst)
        self.sent += 8 + len(head)
        for a in message[1].values():
            if a.nbytes:
                dist.send(_as_bytes(a), dst=dst)
                self.sent += a.nbytes

    def recv(self, src: int) -> Message:
        """The message rank ``src`` sent with :meth:`send`."""
        import torch
        import torch.distributed as dist

        size = torch.zeros(1, dtype=torch.int64)
        dist.recv(size, src=src)
        buf = torch.empty(int(size[0]), dtype=torch.uint8)
        dist.recv(buf, src=src)
        meta, specs = pickle.loads(buf.numpy().tobytes())
        self.received += 8 + int(size[0])
        return meta, self._arrays(specs, lambda t: dist.recv(t, src=src))

    def _arrays(self, specs: list[_Spec], fill: Any) -> dict[str, np.ndarray]:
        import torch

        out = {}
        for name, dtype, shape in specs:
            a = np.empty(shape, dtype=np.dtype(dtype))
            if a.nbytes:
                fill(torch.from_numpy(a.reshape(-1).view(np.uint8)))  # received into the array itself
                self.received += a.nbytes
            out[name] = a
        return out
