"""``uot``: rank candidates by the mass they receive in unbalanced entropic optimal transport.

The problem (the seed paper's UOT selector): transport the uniform query measure ``a = 1/M``
onto the uniform candidate measure ``b = 1/N`` with cost ``C = (1 − S) / 2`` (in ``[0, 1]`` for
cosine ``S``), minimising

``⟨γ, C⟩ + ε·KL(γ | a bᵀ) + λ_q·KL(γ 1 | a) + λ_c·KL(γᵀ 1 | b)``

with ``ε = 0.01``, ``λ_q = ∞`` (every query ships all its mass) and ``λ_c = 1e-4`` (candidates
may receive any amount) by default. This is POT's ``ot.unbalanced.sinkhorn_unbalanced`` with
``reg_type="kl"``. Candidates are ranked by received mass ``(γᵀ 1)_j``, ties towards the lower
index.

Two solvers reach the same fixed point of the generalised Sinkhorn iteration
``u = (a / K v)^{τ_q}, v = (b / Kᵀ u)^{τ_c}``, ``τ = λ / (λ + ε)``:

* ``pot``: POT's log-stabilised solver (``method="sinkhorn_stabilized"``) on the dense matrix.
  Memory: about :func:`pot_memory_bytes` ``= 8 · 8 · M · N`` bytes (float64 cost, Gibbs kernel,
  plan and temporaries): 6.4 GB at (500, 200K), 10 GB at (80, 2M). POT's stabilised solver does
  not converge for every penalty setting at ε = 0.01 (its absorption loop stalls, e.g. with
  finite penalties on both sides); ``auto`` then falls back to ``stream``, ``pot`` raises.
* ``stream``: our log-domain solver over candidate chunks. It never holds an ``(M, N)`` array:
  memory is ``O(M·chunk + N)`` (:func:`stream_memory_bytes`). It reads the dense scores chunk by
  chunk, or — when the scores were computed in streaming top-k form — recomputes each chunk of
  similarities from the feature views (:meth:`targetsel.score.FeatureViews.chunks`, which
  :func:`targetsel.pipeline.run_selection` passes). Per iteration it does
  one pass: ``log v`` of the chunk from the current ``log u`` (column log-sum-exp), then
  accumulates the row log-sum-exp that gives the next ``log u``. With ``λ_c ≪ ε`` the
  candidate update is strongly damped (``τ_c ≈ 0.01``) and it converges in a few passes.

Nothing underflows: both work with log-potentials (POT absorbs them into its kernel).
``solver="auto"`` uses ``pot`` when its memory estimate fits under ``memory_limit_gb`` and the
scores are dense, else ``stream``. Convergence (iterations, final error, converged flag) is logged
and recorded in the ranking's ``params``.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.score import FeatureViews, Scores
from targetsel.select.base import Ranking, Selector, register_selector

logger = logging.getLogger(__name__)

__all__ = ["UnbalancedOT", "pot_memory_bytes", "stream_memory_bytes", "uot_mass_pot", "uot_mass_stream"]


def pot_memory_bytes(m: int, n: int) -> int:
    """Peak extra memory of the POT solver on an ``(m, n)`` problem, in bytes (8 float64 arrays).

    Measured (tracemalloc) at about 7.2 float64 ``(M, N)`` arrays: the float64 cost, POT's
    shifted cost and Gibbs kernel, the plan and the temporaries of its absorption step.

    Example:
        >>> round(pot_memory_bytes(500, 200_000) / 1e9, 1)
        6.4
    """
    return 8 * 8 * m * n


def stream_memory_bytes(m: int, n: int, chunk_rows: int = 16384) -> int:
    """Peak extra memory of the streaming solver, in bytes: a few chunk blocks plus ``O(N)`` vectors.

    Example:
        >>> stream_memory_bytes(500, 2_000_000) < 2**30
        True
    """
    c = min(chunk_rows, n)
    return 4 * 4 * m * c + 3 * 8 * n + 8 * 8 * m


def _tau(reg_m: float, reg: float) -> float:
    return 1.0 if math.isinf(reg_m) else reg_m / (reg_m + reg)


def uot_mass_pot(
    sim: np.ndarray, reg: float, reg_m: tuple[float, float], max_iter: int = 1000, tol: float = 1e-6
) -> tuple[np.ndarray, dict[str, Any]]:
    """Received candidate mass with POT's stabilised unbalanced Sinkhorn on dense similarities.

    Args:
        sim: ``(M, N)`` similarities; the cost is ``(1 − sim) / 2``.
        reg: Entropic ε.
        reg_m: ``(λ_query, λ_candidate)`` marginal KL penalties (``inf`` allowed).
        max_iter: Iteration cap.
        tol: POT's stopping threshold.

    Returns:
        ``(mass (N,) float64, info)`` with ``iterations``, ``error``, ``converged``.

    Example:
        >>> mass, info = uot_mass_pot(np.array([[0.9, 0.1], [0.8, 0.2]]), 0.01, (float("inf"), 1e-4))
        >>> bool(mass[0] > mass[1]), info["converged"]
        (True, True)
    """
    import ot

    m, n = sim.shape
    cost = (1.0 - np.asarray(sim, dtype=np.float64)) / 2.0
    a, b = np.full(m, 1.0 / m), np.full(n, 1.0 / n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan, log = ot.unbalanced.sinkhorn_unbalanced(
            a, b, cost, reg, reg_m, method="sinkhorn_stabilized", numItermax=max_iter, stopThr=tol, log=True
        )
    del cost
    mass = np.asarray(plan.sum(axis=0), dtype=np.float64)
    errs = log.get("err", [])
    err = float(errs[-1]) if len(errs) else float("nan")
    numerical = any("Numerical errors" in str(w.message) for w in caught)
    converged = bool(err <= tol) and not numerical and bool(np.isfinite(mass).all())
    return mass, {
        "solver": "pot",
        "iterations": len(errs) * 10,  # POT records its error every 10 iterations
        "error": err,
        "converged": converged,
    }


def _dense_chunks(sim: np.ndarray, chunk_rows: int) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, sim.shape[1], chunk_rows):
        yield start, sim[:, start : start + chunk_rows]


def uot_mass_stream(
    chunks: Any,
    m: int,
    n: int,
    reg: float,
    reg_m: tuple[float, float],
    max_iter: int = 1000,
    tol: float = 1e-6,
    log: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Received candidate mass with a log-domain unbalanced Sinkhorn over similarity chunks.

    Args:
        chunks: Callable returning a fresh iterator of ``(start, block (M, c))`` similarity chunks
            covering candidates ``0..N`` in order.
        m: Number of queries.
        n: Number of candidates.
        reg: Entropic ε.
        reg_m: ``(λ_query, λ_candidate)``.
        max_iter: Pass cap.
        tol: Stop when the largest change of ``log u`` is below ``tol``.
        log: Return the natural log of the mass instead (never underflows).

    Returns:
        ``(mass (N,) float64, info)``.

    Example:
        >>> sim = np.array([[0.9, 0.1], [0.8, 0.2]])
        >>> mass, info = uot_mass_stream(lambda: iter([(0, sim)]), 2, 2, 0.01, (float("inf"), 1e-4))
        >>> bool(mass[0] > mass[1]), info["converged"]
        (True, True)
    """
    tq, tc = _tau(reg_m[0], reg), _tau(reg_m[1], reg)
    log_a, log_b = -math.log(m), -math.log(n)
    lu = np.zeros(m, np.float64)
    lv = np.zeros(n, np.float64)
    log_mass = np.zeros(n, np.float64)
    err, it = float("inf"), 0
    scale = np.float32(1.0 / (2.0 * reg))
    while it < max_iter:
        it += 1
        row_max = np.full(m, -np.inf)
        row_sum = np.zeros(m, np.float64)
        lu32 = lu.astype(np.float32)
        for start, block in chunks():
            stop = start + block.shape[1]
            z = (np.asarray(block, dtype=np.float32) - np.float32(1.0)) * scale  # −C/ε, (M, c)
            t = z + lu32[:, None]
            cmax = t.max(axis=0)
            col = cmax.astype(np.float64) + np.log(np.exp(t - cmax[None, :]).sum(axis=0, dtype=np.float64))
            lvc = tc * (log_b - (log_a + log_b + col))
            lv[start:stop] = lvc
            log_mass[start:stop] = log_a + log_b + lvc + col
            t = z + lvc.astype(np.float32)[None, :]
            bmax = t.max(axis=1).astype(np.float64)
            new_max = np.maximum(row_max, bmax)
            row_sum = row_sum * np.exp(row_max - new_max) + np.exp(t - new_max.astype(np.float32)[:, None]).sum(
                axis=1, dtype=np.float64
            )
            row_max = new_max
        row = row_max + np.log(row_sum)
        lu_new = tq * (log_a - (log_a + log_b + row))
        err = float(np.max(np.abs(lu_new - lu)))
        lu = lu_new
        if err < tol:
            break
    converged = err < tol and bool(np.isfinite(log_mass).all())
    info = {"solver": "stream", "iterations": it, "error": err, "converged": converged}
    return (log_mass if log else np.exp(log_mass)), info


@register_selector
class UnbalancedOT(Selector):
    """Unbalanced entropic OT from queries to candidates; rank by received mass (the paper's UOT).

    Args:
        reg: Entropic regularisation ε.
        reg_m_query: KL penalty on the query marginal (``inf``: exact).
        reg_m_candidate: KL penalty on the candidate marginal.
        solver: ``auto``, ``pot`` (dense, POT) or ``stream`` (chunked log-domain, O(M·chunk + N)).
        max_iter: Iteration cap.
        tol: Convergence threshold.
        chunk_rows: Candidates per chunk of the streaming solver.
        memory_limit_gb: ``auto`` uses POT only when its estimate fits under this.

    Example:
        >>> import numpy as np
        >>> from targetsel.score import Scores
        >>> s = Scores.from_matrix(np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.1]]))
        >>> UnbalancedOT().rank(s, 3).indices.tolist()
        [0, 2, 1]
    """

    name = "uot"
    label = "UOT"
    requires_features = "streaming"  # the similarities, chunk by chunk, when scores are top-k only
    supports_streaming = True

    def __init__(
        self,
        reg: float = 0.01,
        reg_m_query: float = float("inf"),
        reg_m_candidate: float = 1e-4,
        solver: str = "auto",
        max_iter: int = 1000,
        tol: float = 1e-6,
        chunk_rows: int = 16384,
        memory_limit_gb: float = 2.0,
    ) -> None:
        for key, val in (("reg", reg), ("reg_m_query", reg_m_query), ("reg_m_candidate", reg_m_candidate)):
            if isinstance(val, bool) or not isinstance(val, (int, float, np.number)) or not val > 0:
                raise ConfigurationError(f"{key} must be a positive number (inf allowed for penalties), got {val!r}")
        if math.isinf(reg):
            raise ConfigurationError("reg must be finite")
        if solver not in ("auto", "pot", "stream"):
            raise ConfigurationError(f"uot solver must be auto, pot or stream, got {solver!r}")
        if not isinstance(max_iter, int) or max_iter <= 0 or not isinstance(chunk_rows, int) or chunk_rows <= 0:
            raise ConfigurationError("max_iter and chunk_rows must be positive integers")
        self.reg = float(reg)
        self.reg_m_query = float(reg_m_query)
        self.reg_m_candidate = float(reg_m_candidate)
        self.solver = solver
        self.max_iter = max_iter
        self.tol = float(tol)
        self.chunk_rows = chunk_rows
        self.memory_limit_gb = float(memory_limit_gb)

    def _rank(self, scores: Scores | None, budget: int, features: FeatureViews | None) -> Ranking:
        assert scores is not None
        m, n = scores.shape
        reg_m = (self.reg_m_query, self.reg_m_candidate)
        solver = self.solver
        if solver == "auto":
            fits = pot_memory_bytes(m, n) <= self.memory_limit_gb * 2**30
            solver = "pot" if scores.is_dense and fits else "stream"
        if solver == "pot":
            mass, info = uot_mass_pot(scores.dense(), self.reg, reg_m, self.max_iter, self.tol)
            if not info["converged"]:
                if self.solver == "pot":
                    raise ConfigurationError(
                        f"POT's stabilised unbalanced Sinkhorn did not converge ({info}); "
                        "use solver='stream' (log-domain) or a larger reg"
                    )
                logger.warning("uot: POT did not converge (%s); switching to the log-domain stream solver", info)
                solver = "stream"
        if solver == "stream":
            if scores.is_dense:
                sim = scores.dense()

                def chunks() -> Iterator[tuple[int, np.ndarray]]:
                    return _dense_chunks(sim, self.chunk_rows)
            else:
                assert features is not None  # checked by Selector.rank (requires_features)
                views = features

                def chunks() -> Iterator[tuple[int, np.ndarray]]:
                    # the same blocks, bit for bit, as the scoring pass (the block buffer is reused)
                    return views.chunks(self.chunk_rows)

            log_mass, info = uot_mass_stream(chunks, m, n, self.reg, reg_m, self.max_iter, self.tol, log=True)
        else:
            with np.errstate(divide="ignore"):
                log_mass = np.log(mass)
        if np.isnan(log_mass).any() or np.isposinf(log_mass).any():
            raise ConfigurationError(f"uot produced non-finite masses ({info}); use a larger reg")
        (logger.info if info["converged"] else logger.warning)(
            "uot (%s): %d iterations, error %.3g, converged=%s",
            info["solver"],
            info["iterations"],
            info["error"],
            info["converged"],
        )
        # ranked by log-mass, so masses that underflow float64 (tiny ε) still order correctly
        order = np.lexsort((np.arange(n), -log_mass))[:budget]
        mass = np.exp(log_mass[order])
        return self._ranking(order, None, mass, n, info, mass=mass, log_mass=log_mass[order])
