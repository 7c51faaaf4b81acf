"""Loading pools and query sets into one canonical chat schema, with validation and stable ids.

Accepted inputs:

* a local ``.jsonl`` / ``.json`` (optionally ``.gz``) file, a ``.parquet`` file, an ``.arrow`` file,
  or a directory written by ``datasets.Dataset.save_to_disk``;
* a name the ``datasets`` library resolves (``Harvard-DCML/tulu-v2-197K-processed``; needs network);
  ``name:config`` selects a config and ``--split`` a split.

Canonical schema: ``messages``, a list of ``{"role", "content"}`` turns with roles ``system``,
``user`` and ``assistant`` and at least one assistant turn. Rows in another shape are converted:
``prompt``/``completion``, ``prompts``/``labels`` (the paper's query sets) and Alpaca-style
``instruction``/``input``/``output``. Every original column is kept.

Example:
    >>> import json, tempfile, os
    >>> rows = [{"prompt": "2+2?", "completion": "4"}, {"instruction": "Say hi", "output": "hi"}]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "pool.jsonl")
    ...     _ = open(p, "w").write("\\n".join(json.dumps(r) for r in rows))
    ...     pool = load_pool(p)
    >>> len(pool), pool.messages(1)[0]["content"]
    (2, 'Say hi')
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from targetsel.errors import ConfigurationError, InvalidDataError, MissingArtifactError

logger = logging.getLogger(__name__)

__all__ = [
    "ROLES",
    "ExampleSet",
    "TextTurns",
    "load_examples",
    "load_pool",
    "load_queries",
    "normalize_row",
    "render_text",
]

ROLES = ("system", "user", "assistant")
TextTurns = Literal["all", "user", "assistant", "first_user"]


@dataclass
class ExampleSet:
    """A validated pool or query set.

    Attributes:
        dataset: A ``datasets.Dataset`` with every original column plus canonical ``messages``.
        ids: Stable example ids, one per row (the ``id`` column, or a content hash).
        source: Where the rows came from (path or dataset name).
        skipped: Row numbers (1-based) skipped as invalid with ``skip_invalid=True``.
        json_columns: Columns held as JSON text because their values have no common type
            (restored by :meth:`rows`).

    Example:
        >>> es = ExampleSet.from_records([{"messages": [{"role": "user", "content": "hi"},
        ...                                             {"role": "assistant", "content": "hello"}]}])
        >>> len(es), len(es.fingerprint)
        (1, 64)
    """

    dataset: Any
    ids: list[str]
    source: str = "<memory>"
    skipped: list[int] = field(default_factory=list)
    json_columns: list[str] = field(default_factory=list)
    _fingerprint: str | None = field(default=None, repr=False)

    @classmethod
    def from_records(
        cls, records: Sequence[dict[str, Any]], *, source: str = "<memory>", skip_invalid: bool = False
    ) -> ExampleSet:
        """Validate and wrap in-memory rows (dicts)."""
        return _build(iter(enumerate(records, start=1)), source=source, skip_invalid=skip_invalid)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"ExampleSet(source={self.source!r}, rows={len(self)}, skipped={len(self.skipped)})"

    @property
    def fingerprint(self) -> str:
        """SHA-256 over ids and canonical message content, row by row; identifies the data exactly."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for i, msgs in enumerate(self.dataset["messages"]):
                h.update(self.ids[i].encode("utf-8"))
                h.update(b"\x00")
                h.update(_canonical_json(msgs).encode("utf-8"))
                h.update(b"\x01")
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    @property
    def column_names(self) -> list[str]:
        return list(self.dataset.column_names)

    def messages(self, index: int) -> list[dict[str, str]]:
        """Canonical chat turns of row ``index``."""
        return self.dataset[int(index)]["messages"]

    def iter_messages(self) -> Iterator[list[dict[str, str]]]:
        yield from self.dataset["messages"]

    def texts(self, turns: TextTurns = "all") -> list[str]:
        """Every row rendered as text (see :func:`render_text`)."""
        return [render_text(m, turns) for m in self.dataset["messages"]]

    def rows(self, indices: Iterable[int] | None = None) -> Iterator[dict[str, Any]]:
        """Original rows (every column, JSON-text columns decoded), optionally at ``indices``."""
        ds = self.dataset if indices is None else self.dataset.select([int(i) for i in indices])
        for row in ds:
            for c in self.json_columns:
                if row.get(c) is not None:
                    row[c] = json.loads(row[c])
            yield row

    def column(self, name: str) -> list[Any] | None:
        """Values of a column, or ``None`` when absent."""
        return self.dataset[name] if name in self.dataset.column_names else None

    def select(self, indices: Iterable[int]) -> ExampleSet:
        """A new set with the rows at ``indices`` (in that order)."""
        idx = [int(i) for i in indices]
        return ExampleSet(
            self.dataset.select(idx),
            [self.ids[i] for i in idx],
            source=self.source,
            json_columns=self.json_columns,
        )


def render_text(messages: Sequence[dict[str, str]], turns: TextTurns = "all") -> str:
    """Render chat turns as plain text for text encoders.

    Args:
        messages: Canonical turns.
        turns: ``all`` (every turn, prefixed by its role), ``user`` (user turns only),
            ``assistant`` (assistant turns only) or ``first_user`` (the first user turn).

    Example:
        >>> render_text([{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}])
        'User: 2+2?\\nAssistant: 4'
    """
    if turns == "all":
        return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)
    if turns in ("user", "assistant"):
        return "\n".join(m["content"] for m in messages if m["role"] == turns)
    if turns == "first_user":
        return next((m["content"] for m in messages if m["role"] == "user"), "")
    raise ConfigurationError(f"text turns must be one of all, user, assistant, first_user; got {turns!r}")


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def normalize_row(row: dict[str, Any]) -> list[dict[str, str]]:
    """Return the canonical ``messages`` of one row, converting other layouts.

    Raises:
        ValueError: with a short reason, when the row cannot be turned into valid messages.

    Example:
        >>> normalize_row({"instruction": "Add", "input": "1 and 2", "output": "3"})[0]["content"]
        'Add\\n\\n1 and 2'
    """
    if not isinstance(row, dict):
        raise ValueError(f"row is a JSON {type(row).__name__}, expected an object")
    if "messages" in row and row["messages"] is not None:
        raw = row["messages"]
        if not isinstance(raw, list):
            raise ValueError("`messages` is not a list")
        msgs = raw
    elif "prompt" in row or "completion" in row:
        msgs = _pair(row, "prompt", "completion")
    elif "prompts" in row or "labels" in row:
        msgs = _pair(row, "prompts", "labels")
    elif "instruction" in row or "output" in row:
        instr, inp, out = row.get("instruction"), row.get("input"), row.get("output")
        if not _nonempty_str(instr):
            raise ValueError("`instruction` is missing or empty")
        if inp not in (None, "") and not isinstance(inp, str):
            raise ValueError("`input` is not a string")
        user = instr if not inp else f"{instr}\n\n{inp}"
        msgs = [{"role": "user", "content": user}, {"role": "assistant", "content": out}]
    else:
        raise ValueError("no `messages` field (nor prompt/completion, prompts/labels, instruction/output)")
    if not msgs:
        raise ValueError("`messages` is empty")
    out_msgs: list[dict[str, str]] = []
    for t, m in enumerate(msgs, start=1):
        if not isinstance(m, dict):
            raise ValueError(f"turn {t} is not an object with role and content")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise ValueError(f"turn {t} has unknown role {role!r} (expected one of {', '.join(ROLES)})")
        if not _nonempty_str(content):
            raise ValueError(f"turn {t} ({role}) has empty or non-string content")
        out_msgs.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in out_msgs):
        raise ValueError("no assistant turn")
    return out_msgs


def _pair(row: dict[str, Any], pk: str, ck: str) -> list[dict[str, Any]]:
    p, c = row.get(pk), row.get(ck)
    if isinstance(p, list) and len(p) == 1:
        p = p[0]
    if isinstance(c, list) and len(c) == 1:
        c = c[0]
    return [{"role": "user", "content": p}, {"role": "assistant", "content": c}]


def _content_id(msgs: list[dict[str, str]]) -> str:
    return hashlib.sha1(_canonical_json(msgs).encode("utf-8")).hexdigest()[:16]


def _build(rows: Iterator[tuple[int, Any]], *, source: str, skip_invalid: bool) -> ExampleSet:
    """Validate numbered rows and build the :class:`ExampleSet`."""

    kept: list[dict[str, Any]] = []
    row_numbers: list[int] = []
    skipped: list[int] = []
    reasons: dict[str, int] = {}

    def reject(lineno: int, reason: str) -> None:
        if not skip_invalid:
            raise InvalidDataError(f"{source}: row {lineno}: {reason} (use --skip-invalid to skip bad rows)")
        skipped.append(lineno)
        reasons[reason.split(" (")[0]] = reasons.get(reason.split(" (")[0], 0) + 1

    for lineno, row in rows:
        if isinstance(row, _BadLine):
            reject(lineno, row.reason)
            continue
        try:
            msgs = normalize_row(row)
        except ValueError as exc:
            reject(lineno, str(exc))
            continue
        rec = dict(row)
        rec["messages"] = msgs
        kept.append(rec)
        row_numbers.append(lineno)

    # Ids: the `id` column when present, else a content hash made unique by occurrence count.
    ids: list[str] = []
    has_id = any("id" in r for r in kept)
    seen: dict[str, int] = {}
    final: list[dict[str, Any]] = []
    for rec, lineno in zip(kept, row_numbers, strict=True):
        if has_id:
            raw = rec.get("id")
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                reject(lineno, "missing `id` (other rows have one)")
                continue
            if not isinstance(raw, (str, int)) or isinstance(raw, bool):
                reject(lineno, f"`id` must be a string or integer, got {type(raw).__name__}")
                continue
            ex_id = str(raw)
            if ex_id in seen:
                reject(lineno, f"duplicate id {ex_id!r} (first seen at row {seen[ex_id]})")
                continue
            seen[ex_id] = lineno
        else:
            base = _content_id(rec["messages"])
            n = seen.get(base, 0)
            seen[base] = n + 1
            ex_id = base if n == 0 else f"{base}-{n + 1}"
        ids.append(ex_id)
        final.append(rec)

    if not final:
        raise InvalidDataError(
            f"{source}: no valid rows" + (f" ({len(skipped)} skipped as invalid)" if skipped else "")
        )
    if skipped:
        detail = ", ".join(f"{n}× {r}" for r, n in sorted(reasons.items(), key=lambda x: -x[1]))
        logger.warning("%s: skipped %d invalid rows (%s)", source, len(skipped), detail)
    ds, json_columns = _to_dataset(final, source)
    return ExampleSet(ds, ids, source=source, skipped=skipped, json_columns=json_columns)


def _to_dataset(rows: list[dict[str, Any]], source: str) -> tuple[Any, list[str]]:
    """Build an Arrow-backed dataset; columns whose values have no common Arrow type (free-form
    metadata) are stored as JSON text and listed, so exports can restore the original values."""
    import datasets
    import pyarrow as pa

    try:
        return datasets.Dataset.from_list(rows), []
    except (pa.ArrowException, TypeError, ValueError):
        pass
    names = list(dict.fromkeys(k for r in rows for k in r))
    json_columns = []
    for name in names:
        if name == "messages":
            continue
        try:
            pa.array([r.get(name) for r in rows])
        except (pa.ArrowException, TypeError, ValueError):
            json_columns.append(name)
    converted = [{**r, **{c: _canonical_json(r[c]) if c in r else None for c in json_columns}} for r in rows]
    try:
        return datasets.Dataset.from_list(converted), json_columns
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidDataError(f"{source}: cannot build a table from the rows ({type(exc).__name__}: {exc})") from exc


@dataclass
class _BadLine:
    reason: str


def _iter_json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            # a UTF-8 byte-order mark (Windows editors, spreadsheet exports) is skipped; CRLF line
            # ends need nothing: JSON allows the trailing \r
            start = 3 if fh.read(3) == b"\xef\xbb\xbf" else 0
            fh.seek(start)
            head = fh.read(1)
            while head in (b" ", b"\n", b"\r", b"\t"):
                head = fh.read(1)
            fh.seek(start)
            if head == b"[" and path.name.lower().endswith((".json", ".json.gz")):
                # A JSON array file: one row per element.
                try:
                    data = json.loads(fh.read().decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise InvalidDataError(f"{path}: invalid JSON ({exc})") from exc
                yield from enumerate(data, start=1)
                return
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    yield lineno, _BadLine("not valid UTF-8")
                    continue
                try:
                    yield lineno, json.loads(text)
                except json.JSONDecodeError as exc:
                    yield lineno, _BadLine(f"invalid JSON ({exc.msg} at column {exc.colno})")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InvalidDataError(f"{path}: cannot read ({exc})") from exc


def _iter_dataset(ds: Any) -> Iterator[tuple[int, Any]]:
    for i in range(len(ds)):
        yield i + 1, ds[i]


def load_examples(
    source: str | os.PathLike[str],
    *,
    split: str | None = None,
    skip_invalid: bool = False,
) -> ExampleSet:
    """Load, validate and normalise a pool or query set.

    Args:
        source: Local file/directory, or a ``datasets`` name (``name`` or ``name:config``).
        split: Split to take from a ``datasets`` name or ``DatasetDict`` directory (default: the
            only split, or ``train``).
        skip_invalid: Skip invalid rows (counted and logged) instead of stopping at the first one.

    Raises:
        MissingArtifactError: a local path that does not exist.
        InvalidDataError: an invalid row (names the file and 1-based row), or no valid row.

    Example:
        >>> from targetsel.demo import demo_pool_path
        >>> pool = load_examples(demo_pool_path())
        >>> len(pool) > 2000
        True
    """
    import datasets

    text = os.fspath(source)
    path = Path(text)
    if path.exists():
        name = path.name.lower()
        if path.is_dir():
            try:
                ds = datasets.load_from_disk(str(path))
            except (FileNotFoundError, ValueError) as exc:
                raise InvalidDataError(f"{path}: not a saved `datasets` directory ({exc})") from exc
            ds = _pick_split(ds, split, text)
            return _build(_iter_dataset(ds), source=text, skip_invalid=skip_invalid)
        if name.endswith((".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson")):
            return _build(_iter_json_lines(path), source=text, skip_invalid=skip_invalid)
        if name.endswith((".parquet", ".arrow")):
            try:
                if name.endswith(".parquet"):
                    ds = datasets.Dataset.from_parquet(str(path))
                else:
                    ds = datasets.Dataset.from_file(str(path))
            except Exception as exc:
                raise InvalidDataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
            return _build(_iter_dataset(ds), source=text, skip_invalid=skip_invalid)
        raise InvalidDataError(
            f"{path}: unknown file type; use .jsonl, .json, .parquet, .arrow or a datasets directory"
        )
    looks_local = text.startswith((".", "/", "~")) or text.endswith((".jsonl", ".json", ".parquet", ".arrow", ".gz"))
    if looks_local or text.count("/") != 1:
        raise MissingArtifactError(f"{text}: no such file or directory")
    repo, _, config = text.partition(":")
    try:
        ds = datasets.load_dataset(repo, config or None, split=split or "train")
    except Exception as exc:
        raise MissingArtifactError(
            f"{text}: could not load it with the `datasets` library ({type(exc).__name__}: {exc})"
        ) from exc
    return _build(_iter_dataset(ds), source=text, skip_invalid=skip_invalid)


def _pick_split(ds: Any, split: str | None, source: str) -> Any:
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            if len(ds) == 1:
                return next(iter(ds.values()))
            split = "train"
        if split not in ds:
            raise ConfigurationError(f"{source}: no split {split!r}; available: {', '.join(ds)}")
        return ds[split]
    return ds


def load_pool(source: str | os.PathLike[str], **kwargs: Any) -> ExampleSet:
    """Load a candidate pool (see :func:`load_examples`).

    Example:
        >>> from targetsel.demo import demo_pool_path
        >>> load_pool(demo_pool_path()).column_names[:2]
        ['id', 'source']
    """
    return load_examples(source, **kwargs)


def load_queries(source: str | os.PathLike[str], **kwargs: Any) -> ExampleSet:
    """Load a target-task query set (see :func:`load_examples`).

    Example:
        >>> from targetsel.demo import demo_query_path
        >>> len(load_queries(demo_query_path("math")))
        50
    """
    return load_examples(source, **kwargs)
