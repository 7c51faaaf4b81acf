"""One rank of a torchrun selection, for the tests: ``python ranks_script.py CONFIG.json`` under torchrun's environment.

Every rank loads the same pool, queries and representation; rank 0 runs each selection of the config
through ``run_selection(..., ranks=group)`` and saves the ranking beside the exported folder, the others
serve. ``{rank}`` in ``store_dir`` gives each rank its own store directory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def selection_kwargs(run: dict) -> dict:
    """``run_selection``'s keyword arguments for one run of the config (JSON: settings as plain values)."""
    from targetsel.decontaminate import parse_methods
    from targetsel.select.dedup import DedupSettings

    kw = {k: v for k, v in run.items() if k not in ("name", "queries", "dedup", "decontaminate_by")}
    if "dedup" in run:
        kw["dedup"] = DedupSettings(**run["dedup"])
    if "decontaminate_by" in run:
        kw["decontaminate"] = parse_methods(run["decontaminate_by"])
    return kw


def main(config_path: str) -> int:
    from targetsel.data import load_pool, load_queries
    from targetsel.distributed import rank_path, serve_selection
    from targetsel.errors import RankStoppedError, TargetselError
    from targetsel.pipeline import run_selection
    from targetsel.progress import set_quiet
    from targetsel.represent import LexicalRepresentation
    from targetsel.score.ranks import RankGroup

    cfg = json.loads(Path(config_path).read_text())
    set_quiet(True)
    group = RankGroup.join()
    try:
        with group:
            store_dir = rank_path(cfg["store_dir"], group.rank)
            pool = load_pool(cfg["pool"])
            rep = LexicalRepresentation(**cfg.get("rep", {}))
            if not group.is_driver:
                serve_selection(group, pool, rep, store_dir=store_dir)
                return 0
            for run in cfg["runs"]:
                q = run.get("queries", cfg["queries"])
                queries = {k: load_queries(v) for k, v in q.items()} if isinstance(q, dict) else load_queries(q)
                out = Path(cfg["output"]) / run["name"]
                result = run_selection(pool, queries, rep, store_dir=store_dir, output=out, ranks=group,
                                       **selection_kwargs(run))  # fmt: skip
                r = result.ranking
                np.savez(out / "ranking.npz", indices=r.indices, query_index=r.query_index, scores=r.scores)
                info = {"world": group.world, "row_ranges": group.row_ranges, "received": group.wire.received}
                (out / "ranks.json").write_text(json.dumps(info))
        return 0
    except RankStoppedError:
        return 2
    except TargetselError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
