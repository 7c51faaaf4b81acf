"""``targetsel store``: work with feature stores (convert a float store to int8 or bit)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from targetsel.cli._app import app
from targetsel.cli._common import QUIET, apply_quiet, check_choice

__all__ = ["store_app"]

store_app = typer.Typer(help="Work with feature stores: compress one to int8 or 1-bit.", no_args_is_help=True)
app.add_typer(store_app, name="store")

_COMPRESS_HELP = """Write an int8 or 1-bit copy of a finished float32/float16 feature store, without re-encoding.

`int8`: symmetric per-row absmax (0.25× the bytes of float32, cosine Pearson ≈ 0.9999 on LESS
features); `bit`: sign bits, 8 per byte, plus each row's norm (1/32 of the bytes). Scoring reads
the compressed shards directly (`targetsel select --store-dir`, or pass the store to
`targetsel.score.score`). The conversion streams shard by shard and resumes after an
interruption (rerun the same command). The bytes equal those of `encode --param
feature_dtype=int8|bit` on the same examples (from a float32 store).

**Examples**

* `targetsel store compress stores/pool-grad/checkpoint-epoch-1 stores/pool-grad-bit/checkpoint-epoch-1 --dtype bit`
* `targetsel store compress stores/pool-embed stores/pool-embed-int8 --dtype int8 --quiet`
"""


@store_app.command("compress", help=_COMPRESS_HELP)
def compress_cmd(
    source: Path = typer.Argument(..., help="A complete float32 or float16 feature store."),
    target: Path = typer.Argument(..., help="Directory of the compressed store (resumed if partial)."),
    dtype: str = typer.Option(..., "--dtype", help="int8 or bit."),
    chunk_rows: int = typer.Option(16384, "--chunk-rows", help="Rows quantised at a time (bounds memory)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a store at TARGET written for other inputs."),
    quiet: bool = QUIET,
) -> None:
    from targetsel.store import compress_store

    apply_quiet(quiet)
    check_choice("--dtype", dtype, ("int8", "bit"))
    store = compress_store(source, target, dtype, chunk_rows=chunk_rows, overwrite=overwrite)
    if not quiet:
        src_bytes = sum(p.stat().st_size for p in source.glob("*.npy"))
        dst_bytes = sum(p.stat().st_size for p in target.glob("*.npy"))
        Console().print(
            f"[bold]{store.path}[/]: {store.num_rows} rows × {store.dim} as {dtype}, "
            f"{dst_bytes:,} bytes ({dst_bytes / max(1, src_bytes):.3f}× the source's {src_bytes:,})"
        )
