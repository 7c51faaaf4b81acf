"""Seeded random projections of per-example gradients: a dense Rademacher and a sparse JL projector.

A gradient is a set of named blocks (one per LoRA matrix). A projector maps the concatenation of
all blocks to ``dim`` values as a sum of per-block projections, each generated from
``(seed, block name)`` alone. So the projection never depends on the order in which blocks are
visited, the batch or chunk size, the process or the machine: every process that uses the same
seed computes the same linear map, and no ``(n_params × dim)`` matrix is ever held (at LoRA rank
128 on a 7B model it would be tens of GiB).

* ``dense``: i.i.d. Rademacher entries ``±1/√dim`` (what LESS/TRAK use), generated tile by tile
  (``tile_rows`` input coordinates at a time) from the seed. Costs ``O(n_params × dim)`` per
  batch: tiles are cached only while they fit in ``cache_bytes``.
* ``sparse`` (default): sparse Johnson–Lindenstrauss (CountSketch for ``nnz=1``): each input
  coordinate is sent to ``nnz`` random output coordinates with random signs ``±1/√nnz``. Its
  inner-product estimates are unbiased with the same variance as the dense projection
  (``(‖x‖²‖y‖² + ⟨x,y⟩² − 2Σxᵢ²yᵢ²)/dim``) but it costs ``O(n_params × nnz)`` per example.

Example:
    >>> import torch
    >>> p = get_projector("sparse", dim=64, seed=0)
    >>> x = {"a": torch.randn(3, 1000), "b": torch.randn(3, 10)}
    >>> out = p.project(x)
    >>> out.shape, torch.equal(out, get_projector("sparse", dim=64, seed=0).project(x))
    (torch.Size([3, 64]), True)
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from targetsel.errors import ConfigurationError
from targetsel.registry import Registry

__all__ = [
    "PROJECTORS",
    "DenseProjector",
    "Projector",
    "SparseProjector",
    "block_seed",
    "exact_index_add",
    "get_projector",
]

#: Projectors by name (``sparse``, ``dense``).
PROJECTORS: Registry[type[Projector]] = Registry("projector")


def block_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed derived from ``seed`` and the parts (e.g. block name, tile index); stable across runs.

    Example:
        >>> block_seed(0, "w", 1) == block_seed(0, "w", 1) != block_seed(1, "w", 1)
        True
    """
    key = ":".join(str(p) for p in (seed, *parts)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") & (2**63 - 1)


def _generator(seed: int) -> Any:
    import torch

    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    return g


class Projector(ABC):
    """Linear map from named gradient blocks to ``dim`` values, defined by ``seed`` alone.

    Args:
        dim: Output dimension.
        seed: Projection seed.
    """

    name: ClassVar[str]
    #: Short name in reports.
    label: ClassVar[str]

    def __init__(self, dim: int = 8192, seed: int = 0) -> None:
        if int(dim) <= 0:
            raise ConfigurationError(f"projection dimension must be positive, got {dim}")
        self.dim = int(dim)
        self.seed = int(seed)

    @abstractmethod
    def project_block(self, name: str, x: Any) -> Any:
        """Project one block: ``x`` shape ``(batch, n_block)`` → ``(batch, dim)`` float32."""

    def project(self, blocks: Mapping[str, Any], out: Any = None) -> Any:
        """Sum of the projections of all blocks (visited in sorted-name order), ``(batch, dim)``.

        Args:
            blocks: Block name → tensor ``(batch, n_block)`` (any float dtype; computed in float32).
            out: Optional ``(batch, dim)`` float32 accumulator added to in place.
        """
        import torch

        for name in sorted(blocks):
            x = blocks[name]
            y = self.project_block(name, x.reshape(x.shape[0], -1).float())
            out = y if out is None else out.add_(y)
        if out is None:
            raise ConfigurationError("nothing to project: no gradient blocks")
        return out if out.dtype == torch.float32 else out.float()

    def params(self) -> dict[str, Any]:
        """What defines the map (recorded in store manifests)."""
        return {"projector": self.name, "dim": self.dim, "seed": self.seed}


def register_projector(cls: type[Projector]) -> type[Projector]:
    """Class decorator: make a projector available by its ``name`` (a taken name is an error)."""
    return PROJECTORS.register(cls)


@register_projector
class DenseProjector(Projector):
    """Dense Rademacher projection ``±1/√dim``, generated in tiles of ``tile_rows`` input coordinates.

    Args:
        dim: Output dimension.
        seed: Projection seed.
        tile_rows: Input coordinates per generated tile (part of the map's definition).
        cache_bytes: Keep generated tiles up to this many bytes (0: regenerate on every call).

    Example:
        >>> import torch
        >>> p = DenseProjector(dim=16, seed=1, tile_rows=4)
        >>> p.project({"w": torch.eye(10)}).shape  # rows of the (10 × 16) matrix
        torch.Size([10, 16])
    """

    name = "dense"
    label = "DENSE"

    def __init__(self, dim: int = 8192, seed: int = 0, *, tile_rows: int = 1024, cache_bytes: int = 1 << 30) -> None:
        super().__init__(dim, seed)
        if tile_rows <= 0:
            raise ConfigurationError(f"tile_rows must be positive, got {tile_rows}")
        self.tile_rows = int(tile_rows)
        self.cache_bytes = int(cache_bytes)
        self._cache: dict[tuple[str, int, str], Any] = {}
        self._cached = 0

    def tile(self, name: str, index: int, rows: int, device: Any = "cpu") -> Any:
        """Tile ``index`` of block ``name``: the ``(rows, dim)`` float32 matrix rows it covers."""
        import torch

        key = (name, index, str(device))
        hit = self._cache.get(key)
        if hit is not None and hit.shape[0] == rows:
            return hit
        # 8 signs per random byte: generation, not the matmul, dominates the dense projection's cost.
        words = torch.randint(
            0,
            256,
            (rows, -(-self.dim // 8)),
            generator=_generator(block_seed(self.seed, name, index)),
            dtype=torch.uint8,
        )
        bits = (words.unsqueeze(-1) >> torch.arange(8, dtype=torch.uint8)) & 1
        scale = self.dim**-0.5
        t = bits.reshape(rows, -1)[:, : self.dim].to(torch.float32).mul_(2 * scale).sub_(scale).to(device)
        size = t.numel() * 4
        if self._cached + size <= self.cache_bytes:
            self._cache[key] = t
            self._cached += size
        return t

    def project_block(self, name: str, x: Any) -> Any:
        import torch

        out = torch.zeros((x.shape[0], self.dim), dtype=torch.float32, device=x.device)
        n = x.shape[1]
        for i, lo in enumerate(range(0, n, self.tile_rows)):
            hi = min(n, lo + self.tile_rows)
            out.addmm_(x[:, lo:hi], self.tile(name, i, hi - lo, x.device))
        return out

    def params(self) -> dict[str, Any]:
        return {**super().params(), "tile_rows": self.tile_rows}


@register_projector
class SparseProjector(Projector):
    """Sparse JL projection: each input coordinate adds ``±x/√nnz`` to ``nnz`` random outputs.

    Hash tables (indices and signs, ``nnz × n_block`` each) are generated once per block from
    ``(seed, block name)`` and kept (a few bytes per parameter, not ``dim`` floats per parameter).

    Args:
        dim: Output dimension.
        seed: Projection seed.
        nnz: Non-zeros per input coordinate (1 = CountSketch).

    Example:
        >>> import torch
        >>> p = SparseProjector(dim=4096, seed=0)
        >>> x = torch.randn(2, 100_000)
        >>> y = p.project({"w": x})
        >>> bool(abs((y[0] @ y[1]) - (x[0] @ x[1])) < 0.1 * x[0].norm() * x[1].norm())
        True
    """

    name = "sparse"
    label = "SPARSE"

    def __init__(self, dim: int = 8192, seed: int = 0, *, nnz: int = 1) -> None:
        super().__init__(dim, seed)
        if nnz <= 0:
            raise ConfigurationError(f"nnz must be positive, got {nnz}")
        self.nnz = int(nnz)
        self._tables: dict[tuple[str, str], tuple[Any, Any]] = {}

    def table(self, name: str, n: int, device: Any = "cpu") -> tuple[Any, Any]:
        """``(indices, signs)`` of block ``name``: shapes ``(nnz, n)`` (int64, float32)."""
        import torch

        key = (name, str(device))
        hit = self._tables.get(key)
        if hit is not None and hit[0].shape[1] == n:
            return hit
        g = _generator(block_seed(self.seed, name, "sparse", self.nnz))
        idx = torch.randint(0, self.dim, (self.nnz, n), generator=g)
        sign = torch.randint(0, 2, (self.nnz, n), generator=g).to(torch.float32).mul_(2.0).sub_(1.0)
        sign.mul_(self.nnz**-0.5)
        hit = (idx.to(device), sign.to(device))
        self._tables[key] = hit
        return hit

    def project_block(self, name: str, x: Any) -> Any:
        import torch

        idx, sign = self.table(name, x.shape[1], x.device)
        if x.is_cuda:
            return exact_index_add(x, idx, sign, self.dim)
        out = torch.zeros((x.shape[0], self.dim), dtype=torch.float32, device=x.device)
        for k in range(self.nnz):
            out.index_add_(1, idx[k], x * sign[k])
        return out

    def params(self) -> dict[str, Any]:
        return {**super().params(), "nnz": self.nnz}


#: Fixed-point bits below a block's largest magnitude in :func:`exact_index_add`.
_FIXED_BITS = 40


def exact_index_add(x: Any, idx: Any, sign: Any, dim: int) -> Any:
    """``Σ_k`` scatter-add of ``x * sign[k]`` into ``dim`` columns, the same bits in any summation order.

    On a GPU a float scatter-add sums with atomics, in a different order each run, so the last
    bits of the result change between runs. Here the values are taken to 64-bit fixed point first:
    scaled by a power of two (exact) so the block's largest magnitude is about ``2**40``, rounded to
    integers (an absolute error of at most ``2**-41`` of that magnitude per value), and summed as
    int64, which is associative: every order gives the same integers. A block may hold up to
    ``2**22`` values per output before the sum could overflow. The result is the integer sum scaled
    back, in float32 (one rounding of a more precise sum than float32 atomics give).

    Args:
        x: ``(batch, n)`` float values of one block.
        idx: ``(nnz, n)`` int64 output column of each value.
        sign: ``(nnz, n)`` float32 signs (``±1/√nnz``).
        dim: Output columns.

    Returns:
        ``(batch, dim)`` float32.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, 2.0, 3.0]])
        >>> exact_index_add(x, torch.tensor([[0, 1, 0]]), torch.tensor([[1.0, -1.0, 1.0]]), 2).tolist()
        [[4.0, -2.0]]
    """
    import torch

    out = torch.zeros((x.shape[0], dim), dtype=torch.int64, device=x.device)
    vals = x.double()
    top = vals.abs().amax()
    # 2**(40 - e) with top = m·2**e, 0.5 <= m < 1: a power of two, so the scaling is exact; all on
    # the device (no synchronisation)
    _, exp = torch.frexp(torch.where(top > 0, top, torch.ones_like(top)))
    scale = torch.ldexp(torch.ones_like(top), (_FIXED_BITS - exp).to(torch.float64))
    for k in range(idx.shape[0]):
        fixed = torch.round(vals * sign[k].double() * scale).to(torch.int64)
        out.index_add_(1, idx[k], fixed)
    return (out.double() / scale).float()


def get_projector(name: str, *, dim: int = 8192, seed: int = 0, **options: Any) -> Projector:
    """Build a registered projector (``sparse``, the default, or ``dense``).

    Example:
        >>> get_projector("dense", dim=32, seed=3).params()
        {'projector': 'dense', 'dim': 32, 'seed': 3, 'tile_rows': 1024}
    """
    return PROJECTORS.get(name)(dim=dim, seed=seed, **options)
