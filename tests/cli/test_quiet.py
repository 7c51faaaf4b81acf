"""``--quiet`` silences third-party progress bars and log lines too, for every input format.

One fresh Python process (a new ``datasets`` cache, so the "Generating train split" bars of
Parquet input really appear) runs the CLI several times and captures file descriptor 2 of each
run: a run without ``--quiet`` shows the ``datasets`` bar (so the check can see one), and quiet
runs on JSONL, JSON, Parquet, Arrow and a ``datasets`` directory, through ``lexical``, ``embed``
(sentence-transformers) and ``hidden`` (transformers), write nothing to stderr at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _rows(n: int, offset: int = 0) -> list[dict]:
    return [
        {
            "id": f"r{i}",
            "source": "math" if i % 2 else "code",
            "messages": [
                {"role": "user", "content": f"what is {i} plus {i}"},
                {"role": "assistant", "content": str(2 * i)},
            ],
        }
        for i in range(offset, offset + n)
    ]


def _inputs(tmp: Path) -> dict[str, Path]:
    import datasets

    paths = {}
    for name, offset in (("control", 0), ("parquet", 100), ("parquet_q", 200)):
        paths[name] = tmp / f"{name}.parquet"
        datasets.Dataset.from_list(_rows(12 if name != "parquet_q" else 3, offset)).to_parquet(str(paths[name]))
    ds = datasets.Dataset.from_list(_rows(12, 300))
    paths["dir"] = tmp / "pool_ds"
    ds.save_to_disk(str(paths["dir"]))
    paths["arrow"] = next(paths["dir"].glob("*.arrow"))
    paths["jsonl"] = tmp / "q.jsonl"
    paths["jsonl"].write_text("\n".join(json.dumps(r) for r in _rows(3, 400)) + "\n")
    paths["json"] = tmp / "pool.json"
    paths["json"].write_text(json.dumps(_rows(12, 500)))
    return paths


def test_quiet_runs_print_nothing_on_stderr(tmp_path: Path, tiny_llama_dir: Path, cli_in_fresh_process) -> None:
    p = _inputs(tmp_path)
    sel = ["select", "-b", "3", "--no-store"]
    runs = [
        [
            *sel,
            "--pool",
            str(p["control"]),
            "--query",
            str(p["parquet_q"]),
            "-r",
            "lexical",
            "-o",
            str(tmp_path / "o0"),
        ],
        [
            *sel,
            "--pool",
            str(p["parquet"]),
            "--query",
            str(p["jsonl"]),
            "-r",
            "hidden",
            "-m",
            str(tiny_llama_dir),
            "--param",
            "batch_size=4",
            "-o",
            str(tmp_path / "o1"),
            "--quiet",
        ],
        [
            *sel,
            "--pool",
            str(p["dir"]),
            "--query",
            str(p["parquet_q"]),
            "-r",
            "embed",
            "-o",
            str(tmp_path / "o2"),
            "--quiet",
        ],
        ["encode", str(p["arrow"]), "-r", "lexical", "--store", str(tmp_path / "s1"), "--quiet"],
        ["encode", str(p["json"]), "-r", "lexical", "--store", str(tmp_path / "s2"), "--quiet"],
    ]
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hf-datasets"), "TARGETSEL_CACHE": str(tmp_path / "c")}
    from targetsel.progress import _ENV

    for key in [*_ENV, "TQDM_DISABLE"]:  # a quiet run earlier in this process may have set them
        env.pop(key, None)
    results = cli_in_fresh_process(runs, env, timeout=600)
    assert [rc for rc, _ in results] == [0] * len(runs), results
    assert "Generating train split" in results[0][1]  # the bar the quiet runs must not show
    for argv, (_, err) in zip(runs[1:], results[1:], strict=True):
        assert err == "", (argv, err[-1000:])
