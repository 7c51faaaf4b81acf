"""``evals-mix``: a seeded, per-task-capped sample of the OpenAI Evals registry as a candidate pool.

Read from the ``evals==3.0.1.post1`` wheel (MIT; per-dataset licenses in its ``LICENSE.md``):

* **Tasks kept.** The eval specs (``evals/registry/evals/*.yaml``) say which class scores each
  ``samples_jsonl`` file. A task folder ``evals/registry/data/<task>/`` is kept when its files are
  scored by gold-answer classes only (``Match``, ``Includes``, ``FuzzyMatch``); model-graded tasks
  (no gold answer), programmatic evals (agents, games, custom classes) and files no spec names are
  dropped. Rows must be chat with gold — ``input`` a list of ``{"role", "content"}`` turns ending
  in a non-assistant turn and ``ideal`` a non-empty string (a list: its first item); a task whose
  sampled rows are more than 10% otherwise is dropped, other bad rows are skipped.
* **Per-task cap.** Each task's files are read as streams from the zip (never whole) and sampled
  by reservoir sampling (Algorithm R) with a random generator seeded by ``seed`` and the task
  name: a uniform sample of ``cap`` rows over the whole task, in one pass, deterministic; only
  the sampled lines are parsed. (A first-N of a shuffled prefix would favour the start of files
  sorted by difficulty.)
* **Size.** When the capped rows exceed ``size``, a seeded uniform sample of ``size`` of them is
  kept. Rows are written ordered by task and position in the task.

Row: ``{"id": "evals/<task>/<file path in the task>:<line>", "source": "evals/<task>", "task": "<task>",
"license", "messages": input + [assistant: ideal], "answer": ideal}``.
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
import zipfile
from typing import Any

from targetsel.data.real.base import DataSpec, Rows, register
from targetsel.progress import progress

logger = logging.getLogger(__name__)

__all__ = ["GOLD_CLASSES", "convert_evals_mix", "gold_task_files", "task_licenses"]

_DATA = "evals/registry/data/"
_SPECS = "evals/registry/evals/"
#: Eval classes that score a sample against its ``ideal`` answer.
GOLD_CLASSES = frozenset(
    {
        "evals.elsuite.basic.match:Match",
        "evals.elsuite.basic.includes:Includes",
        "evals.elsuite.basic.fuzzy_match:FuzzyMatch",
    }
)
_MAX_BAD_FRACTION = 0.1


def gold_task_files(zf: zipfile.ZipFile) -> dict[str, list[str]]:
    """Task folder → its sample files (paths in the zip) that only gold-answer classes score."""
    import yaml

    names = set(zf.namelist())
    classes: dict[str, set[str]] = {}
    for name in sorted(names):
        if not (name.startswith(_SPECS) and name.endswith((".yaml", ".yml"))):
            continue
        try:
            doc = yaml.safe_load(zf.read(name))
        except yaml.YAMLError as exc:
            logger.warning("skipping the unreadable eval spec %s: %s", name, exc)
            continue
        for value in (doc or {}).values() if isinstance(doc, dict) else ():
            if not isinstance(value, dict) or "class" not in value:
                continue
            samples = (value.get("args") or {}).get("samples_jsonl")
            for path in [samples] if isinstance(samples, str) else samples or []:
                if isinstance(path, str):
                    classes.setdefault(_DATA + path, set()).add(str(value["class"]))
    tasks: dict[str, list[str]] = {}
    for path, used in sorted(classes.items()):
        if path in names and used <= GOLD_CLASSES:
            tasks.setdefault(path[len(_DATA) :].split("/")[0], []).append(path)
    bad_tasks = {
        p[len(_DATA) :].split("/")[0] for p, used in classes.items() if p in names and not used <= GOLD_CLASSES
    }
    return {t: files for t, files in tasks.items() if t not in bad_tasks}


def task_licenses(zf: zipfile.ZipFile, default: str) -> dict[str, str]:
    """Task folder → the license(s) ``LICENSE.md`` gives for it; tasks it does not name get ``default``."""
    text = next(
        (zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if n.endswith(".dist-info/LICENSE.md")), ""
    )
    out: dict[str, str] = {}
    for section in re.split(r"^#### ", text, flags=re.MULTILINE)[1:]:
        locations = re.findall(r"\*\*Location\*\*:\s*evals/registry/data/([^\s/]+)", section)
        found = []
        for lic in re.findall(r"\*\*License\*\*:\s*(.+)", section):
            name = re.sub(r"https?://\S+", "", lic).strip(" :")
            if name and name not in found:
                found.append(name)
        for task in locations:
            out[task] = "; ".join(found) or default
    return out


def _reservoir(zf: zipfile.ZipFile, files: list[str], k: int, rng: random.Random) -> list[tuple[str, int, str]]:
    """Algorithm R over the non-blank lines of ``files``: ``k`` uniform ``(file, line number, text)``."""
    sample: list[tuple[str, int, str]] = []
    seen = 0
    for path in files:
        with zf.open(path) as raw:
            for lineno, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8", errors="replace"), 1):
                if not line.strip():
                    continue
                seen += 1
                if len(sample) < k:
                    sample.append((path, lineno, line))
                else:
                    j = rng.randrange(seen)
                    if j < k:
                        sample[j] = (path, lineno, line)
    return sample


def _chat_with_gold(row: Any) -> tuple[list[dict[str, str]], str] | None:
    """``(turns, gold)`` of an Evals sample in chat form with a gold answer, else ``None``."""
    if not isinstance(row, dict):
        return None
    ideal = row.get("ideal")
    if isinstance(ideal, list):
        ideal = ideal[0] if ideal else None
    turns = row.get("input")
    if not isinstance(ideal, str) or not ideal.strip() or not isinstance(turns, list) or not turns:
        return None
    out = []
    for turn in turns:
        if not isinstance(turn, dict) or turn.get("role") not in ("system", "user", "assistant"):
            return None
        if not isinstance(turn.get("content"), str):
            return None
        out.append({"role": turn["role"], "content": turn["content"]})
    if out[-1]["role"] == "assistant":
        return None
    return out, ideal


def convert_evals_mix(zf: zipfile.ZipFile, options: dict[str, Any]) -> Rows:
    """The ``evals-mix`` pool from the ``evals`` wheel (see the module docstring for the rules)."""
    cap, size, seed = options["cap"], options["size"], options["seed"]
    tasks = gold_task_files(zf)
    licenses = task_licenses(zf, DATASETS_LICENSE)
    rows: list[dict[str, Any]] = []
    dropped = 0
    with progress(total=len(tasks), desc="evals-mix: sampling tasks", unit="task") as bar:
        for task, files in sorted(tasks.items()):
            bar.update(1)
            kept, bad = [], 0
            for path, lineno, line in sorted(_reservoir(zf, files, cap, random.Random(f"{seed}:{task}"))):
                try:
                    parsed = _chat_with_gold(json.loads(line))
                except json.JSONDecodeError:
                    parsed = None
                if parsed is None:
                    bad += 1
                    continue
                turns, gold = parsed
                kept.append(
                    {
                        "id": f"evals/{path[len(_DATA) :].removesuffix('.jsonl')}:{lineno}",
                        "source": f"evals/{task}",
                        "task": task,
                        "license": licenses.get(task, DATASETS_LICENSE),
                        "messages": [*turns, {"role": "assistant", "content": gold}],
                        "answer": gold,
                    }
                )
            if not kept or bad > _MAX_BAD_FRACTION * (len(kept) + bad):
                dropped += 1
                logger.info(
                    "evals-mix: dropping %s (%d of %d sampled rows are not chat with gold)", task, bad, bad + len(kept)
                )
                continue
            rows.extend(kept)
    logger.info(
        "evals-mix: %d tasks kept, %d dropped, %d rows before the size cap", len(tasks) - dropped, dropped, len(rows)
    )
    if len(rows) > size:
        chosen = sorted(random.Random(seed).sample(range(len(rows)), size))
        rows = [rows[i] for i in chosen]
    return {"pool": rows}


#: The package's license, for tasks its LICENSE.md does not list.
DATASETS_LICENSE = "MIT"

register(
    DataSpec(
        name="evals-mix",
        kind="pool",
        package="evals",
        license="MIT (per task: LICENSE.md of evals)",
        converter=convert_evals_mix,
        options={"cap": 50, "size": 15000, "seed": 0},
        rows={"pool": 15000},
        description="OpenAI Evals registry: gold-answer chat tasks, ≤ cap rows per task (--cap, --size, --seed)",
    )
)
