"""``targetsel encode``: featurise a pool or query set into a resumable feature store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import typer
from rich.console import Console

from targetsel.cli._app import app
from targetsel.cli._common import (
    QUIET,
    apply_quiet,
    check_choice,
    check_representation,
    load_data,
    parse_shard,
    representation_from_cli,
)
from targetsel.cli.components import representations_help

if TYPE_CHECKING:
    from targetsel.represent.base import Role

__all__ = ["encode_cmd"]

_HELP = """Encode examples into a feature store (a directory of `.npy` shards + `manifest.json`).

Rerunning the same command resumes an interrupted run (complete shards are kept). When the
pool changed (rows appended, edited, reordered or removed) and every other setting is the same,
only the shards whose rows changed are encoded again; the others are reused as they are. A store
written for other settings (representation, model, parameters, checkpoints, dtype, shard size),
or one none of whose shards can be reused, is refused unless `--overwrite` is given. `--shard
i/n` encodes only shards `i, i+n, ...` so several processes or machines can fill one store.

**Examples**

* `targetsel encode pool.jsonl --store stores/pool-embed`
* `targetsel encode queries.jsonl --role query --store stores/q-embed --quiet`
* `targetsel encode pool.parquet --representation lexical --store stores/pool-lex --shard 0/4`
* `targetsel encode pool.jsonl --store s/ --param batch_size=128 --param text_turns=user`
* `targetsel encode pool.jsonl -r gradient -m smollm2-135m --checkpoints warmup/ --store stores/pool-grad`
  (LESS: one store per checkpoint, `stores/pool-grad/checkpoint-epoch-E`)
* `targetsel encode q.jsonl --role query -r gradient --checkpoints warmup/ --store stores/q-grad`
* `targetsel encode pool.jsonl -r hidden -m smollm2-135m --store stores/pool-rds --param batch_size=32`
* `targetsel encode pool.jsonl -r gradient --checkpoints warmup/ --store s/ --param feature_dtype=bit`
  (compressed stores: `int8` a quarter of the float32 bytes, `bit` 1/32; see `targetsel store compress`)
* `torchrun --nproc-per-node 4 -m targetsel encode pool.jsonl -r gradient --checkpoints warmup/ --store s/`
  (each rank fills its own shards of the same stores)
"""


_GENERATED = representations_help()


@app.command("encode", help=_HELP, cls=_GENERATED)
def encode_cmd(
    data: Path = typer.Argument(
        ..., help="Pool or query set: .jsonl/.json/.parquet/.arrow, a datasets directory, or a hub name."
    ),
    store: Path = typer.Option(..., "--store", "-s", help="Feature store directory to create or resume."),
    representation: str = typer.Option(
        "embed", "--representation", "-r", help="A registered representation (listed above)."
    ),
    role: str = typer.Option("candidate", "--role", help="candidate (pool) or query."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model name or path (default: the representation's)."),
    param: list[str] | None = typer.Option(
        None, "--param", "-p", help="Representation parameter key=value (repeatable; see the list above)."
    ),
    checkpoints: list[Path] | None = typer.Option(
        None, "--checkpoints", help="gradient: warmup checkpoint dirs, or a warmup output folder (repeatable)."
    ),
    shard_size: int = typer.Option(4096, "--shard-size", help="Rows per shard (fixed for the store's lifetime)."),
    shard: str | None = typer.Option(None, "--shard", help="Encode only shards i, i+n, ... (format i/n)."),
    split: str | None = typer.Option(None, "--split", help="Split of a datasets directory or hub dataset."),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Skip invalid rows (reported) instead of stopping."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a store written for other inputs."),
    quiet: bool = QUIET,
) -> None:
    apply_quiet(quiet)
    check_representation(representation)
    check_choice("--role", role, ("candidate", "query"))
    examples = load_data(data, split=split, skip_invalid=skip_invalid)
    rep = representation_from_cli(representation, model, param, checkpoints)
    from targetsel.distributed import encode_sharded, world_info

    stores = encode_sharded(
        rep,
        examples,
        role=cast("Role", role),  # one of the two: check_choice above
        store=store,
        shard_size=shard_size,
        overwrite=overwrite,
        shards=parse_shard(shard),
    )
    if not quiet and world_info()[0] == 0:
        for fs in stores:
            done = fs.num_shards - len(fs.missing_shards())
            Console().print(
                f"[bold]{fs.path}[/]: {fs.num_rows} rows × {fs.dim} ({representation}), "
                f"{done}/{fs.num_shards} shards complete ({len(fs.written_shards)} encoded now, "
                f"{len(fs.reused_shards)} reused from the previous pool)"
                + (f", {len(examples.skipped)} invalid rows skipped" if examples.skipped else "")
            )
