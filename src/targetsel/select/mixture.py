"""Several targets, one budget: how the targets share the picks, and the merge of their rankings.

Each target is ranked on its own queries; :func:`interleave` merges the rankings by the targets'
shares without repeats. The slot rule is deterministic: slot ``k`` goes to the target whose
``(picks so far + 1) / weight`` is smallest (ties to the lower target index), and that target gives
its next candidate not already picked. Which target owns a slot does not depend on the candidates,
so every prefix of the merged ranking holds each target's share of its length to within one pick,
and the merged ranking for a length is a prefix of the merged ranking for any larger one (the
rankings merged being prefixes of one another's, as every selector's are): one run still serves
every budget.

The weights are kept as given (not normalised) and ``j / w`` is compared as a float64 quotient.
With integer weights (``equal``, ``proportional``, ``weights:math=2,code=1``) that decides exactly as
fractions would: a correctly rounded quotient keeps the order, and two equal ratios round to the same
float, so their tie goes to the lower index.

Example:
    >>> mix = MixSettings.parse("weights:math=2,code=1")
    >>> mix.weights_for(["math", "code"], [10, 10]).tolist()
    [2.0, 1.0]
    >>> merged = interleave([np.array([0, 1, 2, 3]), np.array([1, 4, 5])], [2.0, 1.0], 5)
    >>> merged.indices.tolist(), merged.target.tolist()
    ([0, 1, 4, 2, 3], [0, 0, 1, 0, 0])
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from targetsel.errors import ConfigurationError
from targetsel.select.base import Ranking

if TYPE_CHECKING:
    from targetsel.data import ExampleSet

__all__ = [
    "MIX_KINDS",
    "Interleaved",
    "MixSettings",
    "check_distinct_queries",
    "interleave",
    "merge_rankings",
    "slot_targets",
    "targets_record",
]

#: The ``--mix`` kinds: ``equal`` shares, ``proportional`` to query-set size, given ``weights``,
#: or ``joint`` (the union of the query sets ranked as one query set).
MIX_KINDS: tuple[str, ...] = ("equal", "proportional", "weights", "joint")


def check_distinct_queries(targets: Sequence[tuple[str, ExampleSet]]) -> None:
    """Refuse two target names given the same query set (same fingerprint).

    Raises:
        ConfigurationError: ``targets 'a' and 'b' have the same query set (SOURCE); give it once``.
    """
    seen: dict[str, str] = {}
    for name, es in targets:
        if es.fingerprint in seen:
            raise ConfigurationError(
                f"targets {seen[es.fingerprint]!r} and {name!r} have the same query set ({es.source}); give it once"
            )
        seen[es.fingerprint] = name


@dataclass(frozen=True)
class MixSettings:
    """How several targets share one budget.

    Attributes:
        kind: One of :data:`MIX_KINDS`.
        weights: ``name -> weight`` (positive), only with ``kind == "weights"``.

    Example:
        >>> MixSettings.parse("proportional").weights_for(["a", "b"], [30, 10]).tolist()
        [30.0, 10.0]
    """

    kind: str = "equal"
    weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in MIX_KINDS:
            raise ConfigurationError(
                f"--mix must be one of {', '.join(MIX_KINDS)} (weights:NAME=W,...), got {self.kind!r}"
            )
        if self.kind == "weights" and not self.weights:
            raise ConfigurationError("--mix weights needs the weights: --mix weights:math=2,code=1")
        if self.kind != "weights" and self.weights:
            raise ConfigurationError(f"--mix {self.kind} takes no weights; use --mix weights:NAME=W,...")
        for name, w in self.weights.items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
                raise ConfigurationError(f"--mix weight of {name!r} must be a positive number, got {w!r}")

    @classmethod
    def parse(cls, text: str | MixSettings | None) -> MixSettings:
        """``equal``, ``proportional``, ``joint`` or ``weights:NAME=W,NAME=W``."""
        if text is None:
            return cls()
        if isinstance(text, MixSettings):
            return text
        kind, _, rest = str(text).strip().partition(":")
        weights: dict[str, float] = {}
        for item in (t.strip() for t in rest.split(",") if t.strip()):
            name, eq, value = item.partition("=")
            name = name.strip()
            if not eq or not name:
                raise ConfigurationError(f"--mix weight {item!r} must be NAME=WEIGHT, e.g. weights:math=2,code=1")
            if name in weights:
                raise ConfigurationError(f"--mix gives a weight for {name!r} twice")
            try:
                w = float(value)
            except ValueError:
                raise ConfigurationError(
                    f"--mix weight of {name!r} must be a positive number, got {value.strip()!r}"
                ) from None
            if not math.isfinite(w) or w <= 0:
                raise ConfigurationError(f"--mix weight of {name!r} must be a positive number, got {value.strip()!r}")
            weights[name] = w
        if kind.strip() == "weights" and rest.strip() and not weights:
            raise ConfigurationError("--mix weights needs the weights: --mix weights:math=2,code=1")
        return cls(kind.strip(), weights)

    def describe(self) -> str:
        """The setting as ``--mix`` writes it."""
        if self.kind != "weights":
            return self.kind
        return "weights:" + ",".join(f"{k}={v:g}" for k, v in self.weights.items())

    def weights_for(self, names: Sequence[str], sizes: Sequence[int]) -> np.ndarray:
        """``(T,)`` float64 weights of the targets (``joint``: by query-set size, as the union holds them).

        Raises:
            ConfigurationError: a weight for a target not given, or a target without a weight.
        """
        if self.kind == "equal":
            return np.ones(len(names))
        if self.kind in ("proportional", "joint"):
            return np.asarray(sizes, dtype=np.float64)
        unknown = [n for n in self.weights if n not in names]
        if unknown:
            raise ConfigurationError(
                f"--mix gives a weight for {unknown[0]!r}, which is not a target; the targets are {', '.join(names)}"
            )
        missing = [n for n in names if n not in self.weights]
        if missing:
            raise ConfigurationError(
                f"--mix weights gives no weight for target {missing[0]!r}; give one for each target"
            )
        return np.asarray([self.weights[n] for n in names], dtype=np.float64)


@dataclass(frozen=True)
class Interleaved:
    """The merge of the targets' rankings (candidate rows and where each pick came from).

    Attributes:
        indices: ``(L,)`` int64 merged candidate rows, no repeats.
        target: ``(L,)`` int64 target index that took each pick.
        position: ``(L,)`` int64 position of each pick in its target's ranking.
        dry: The target whose ranking ran out before ``length`` (``None``: complete); rank it longer.
    """

    indices: np.ndarray
    target: np.ndarray
    position: np.ndarray
    dry: int | None = None


def slot_targets(weights: Sequence[float] | np.ndarray, length: int) -> np.ndarray:
    """``(length,)`` int64: the target owning each slot (smallest ``(picks + 1) / weight``, ties to the lower index).

    Example:
        >>> slot_targets([1.0, 1.0, 1.0], 5).tolist()
        [0, 1, 2, 0, 1]
    """
    w = [float(x) for x in weights]
    heap = [(1 / wt, t) for t, wt in enumerate(w)]
    heapq.heapify(heap)
    counts = [1] * len(w)
    out = np.empty(length, dtype=np.int64)
    for k in range(length):
        _, t = heapq.heappop(heap)
        out[k] = t
        counts[t] += 1
        heapq.heappush(heap, (counts[t] / w[t], t))
    return out


def interleave(
    rankings: Sequence[np.ndarray], weights: Sequence[float] | np.ndarray, length: int, n: int | None = None
) -> Interleaved:
    """Merge the targets' rankings by their weights, without repeats.

    Args:
        rankings: One ``(L_t,)`` array of candidate rows per target, each without repeats.
        weights: ``(T,)`` positive weights (shares up to a common factor).
        length: Picks wanted.
        n: Pool size (default: one past the largest row in the rankings).

    Returns:
        :class:`Interleaved`; shorter than ``length`` (with ``dry`` set) when a target's ranking
        runs out first, or when the rankings together hold fewer distinct rows.
    """
    if len(rankings) != len(weights) or not rankings:
        raise ConfigurationError("give one weight per ranking, and at least one ranking")
    n = n if n is not None else int(max((int(r.max()) for r in rankings if len(r)), default=-1)) + 1
    taken = np.zeros(n, dtype=bool)
    pointer = [0] * len(rankings)
    ranks = [np.asarray(r, dtype=np.int64) for r in rankings]
    slots = slot_targets(weights, length)
    indices = np.empty(length, dtype=np.int64)
    position = np.empty(length, dtype=np.int64)
    for k, t in enumerate(slots.tolist()):
        r, p = ranks[t], pointer[t]
        while p < len(r) and taken[r[p]]:
            p += 1
        if p == len(r):
            pointer[t] = p
            return Interleaved(indices[:k], slots[:k].copy(), position[:k], dry=t)
        taken[r[p]] = True
        indices[k], position[k] = r[p], p
        pointer[t] = p + 1
    return Interleaved(indices, slots, position)


def merge_rankings(rankings: Sequence[Ranking], merged: Interleaved) -> Ranking:
    """The merged :class:`Ranking`: each pick's query and score from its target's ranking; ``target`` extra.

    ``query_index`` is the query of that target's query set. Per-pick extras common to every
    ranking are carried over.
    """
    first = rankings[0]
    pos, tgt = merged.position, merged.target
    q = np.empty(len(pos), dtype=np.int64)
    s = np.empty(len(pos), dtype=np.float32)
    keys = [k for k in first.extra if all(k in r.extra for r in rankings)]
    extra: dict[str, np.ndarray] = {}
    for key in keys:
        extra[key] = np.empty(len(pos), dtype=first.extra[key].dtype)
    for t, r in enumerate(rankings):
        m = tgt == t
        q[m] = r.query_index[pos[m]]
        s[m] = r.scores[pos[m]]
        for key in keys:
            extra[key][m] = r.extra[key][pos[m]]
    extra["target"] = tgt.astype(np.int64)
    return Ranking(merged.indices, q, s, first.method, first.params, first.n_candidates, extra)


def targets_record(
    mix: MixSettings, targets: Sequence[tuple[str, ExampleSet]], picked_by: np.ndarray, budget: int
) -> dict[str, Any]:
    """``selection.json``'s ``targets`` block for the first ``budget`` picks: the mix and, per target,
    its query set, share and picks (``share`` is ``None`` for ``joint``, which has no set shares).

    Args:
        mix: How the targets shared the picks.
        targets: ``(name, query set)`` of each target, in order.
        picked_by: ``(n_picks,)`` the target name that took each pick (the ranking's ``target`` extra).
        budget: The prefix length described.

    Example:
        >>> from targetsel.data import ExampleSet
        >>> sets = [(n, ExampleSet.from_records([{"prompt": n, "completion": "a"}])) for n in ("a", "b")]
        >>> block = targets_record(MixSettings.parse("equal"), sets, np.array(["a", "b", "a"]), 3)
        >>> [(t["name"], t["share"], t["picks"]) for t in block["targets"]]
        [('a', 0.5, 2), ('b', 0.5, 1)]
    """
    names = [name for name, _ in targets]
    weights = mix.weights_for(names, [len(es) for _, es in targets])
    counts = Counter(np.asarray(picked_by)[:budget].tolist())
    return {
        "mix": mix.describe(),
        "targets": [
            {
                "name": name,
                "source": es.source,
                "rows": len(es),
                "fingerprint": es.fingerprint,
                "share": None if mix.kind == "joint" else round(float(w / weights.sum()), 7),
                "picks": int(counts.get(name, 0)),
            }
            for (name, es), w in zip(targets, weights, strict=True)
        ],
    }
