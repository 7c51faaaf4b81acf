"""The canonical chat schema: rows in any accepted layout → ``messages``, and ``messages`` → text.

Canonical schema: ``messages``, a list of ``{"role", "content"}`` turns with roles ``system``,
``user`` and ``assistant`` and at least one assistant turn. :func:`normalize_row` converts
``prompt``/``completion``, ``prompts``/``labels`` (the paper's query sets) and Alpaca-style
``instruction``/``input``/``output`` rows; :func:`render_text` renders turns for text encoders.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from targetsel.errors import ConfigurationError

__all__ = [
    "ROLES",
    "TextTurns",
    "canonical_json",
    "canonical_messages_json",
    "content_id",
    "normalize_row",
    "render_text",
]

ROLES = ("system", "user", "assistant")
TextTurns = Literal["all", "user", "assistant", "first_user"]


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


def canonical_json(obj: Any) -> str:
    """JSON text with sorted keys and no spaces: the one form fingerprints and content ids hash.

    Example:
        >>> canonical_json({"b": 1, "a": "é"})
        '{"a":"é","b":1}'
    """
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


#: How :func:`canonical_json` writes a string (``json.dumps(s, ensure_ascii=False)``).
_JSON_STRING = json.JSONEncoder(ensure_ascii=False).encode


def canonical_messages_json(column: Any) -> Iterator[str]:
    """:func:`canonical_json` of each row of an Arrow ``messages`` column (chunked or not), in order.

    Turns stored as ``{role, content}`` strings, the canonical layout, are written from Arrow's
    string arrays without building a dict per turn (the cost of hashing a large pool); any other
    layout goes through Python objects. Both give :func:`canonical_json`'s text exactly.

    Example:
        >>> import pyarrow as pa
        >>> col = pa.array([[{"role": "user", "content": 'say "hé"'}, {"role": "assistant", "content": "hé"}]])
        >>> list(canonical_messages_json(col)) == [canonical_json(col.to_pylist()[0])]
        True
    """
    for chunk in getattr(column, "chunks", [column]):
        fast = _plain_turns_json(chunk)
        yield from (canonical_json(m) for m in chunk.to_pylist()) if fast is None else fast


def _plain_turns_json(chunk: Any) -> list[str] | None:
    """Each row's JSON when ``chunk`` is a null-free list of ``{role, content}`` string structs, else ``None``."""
    import pyarrow as pa

    kind = chunk.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) or chunk.null_count:
        return None
    turn = kind.value_type
    names = [turn.field(i).name for i in range(turn.num_fields)] if pa.types.is_struct(turn) else []
    if sorted(names) != ["content", "role"]:
        return None
    turns = chunk.flatten()  # this chunk's turns (its slice offset applied)
    fields = dict(zip(names, turns.flatten(), strict=True))
    if turns.null_count or any(
        a.null_count or not (pa.types.is_string(a.type) or pa.types.is_large_string(a.type)) for a in fields.values()
    ):
        return None
    enc = _JSON_STRING  # sorted keys: content before role
    text = [
        f'{{"content":{enc(c)},"role":{enc(r)}}}'
        for c, r in zip(fields["content"].to_pylist(), fields["role"].to_pylist(), strict=True)
    ]
    out, at = [], 0
    for n in chunk.value_lengths().to_pylist():
        out.append("[" + ",".join(text[at : at + n]) + "]")
        at += n
    return out


def content_id(msgs: list[dict[str, str]]) -> str:
    """The 16-hex-digit id of a row without an ``id`` column: a hash of its canonical messages.

    Example:
        >>> len(content_id([{"role": "user", "content": "hi"}]))
        16
    """
    return hashlib.sha1(canonical_json(msgs).encode("utf-8")).hexdigest()[:16]


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _raw_messages(row: dict[str, Any]) -> list[Any]:
    """The row's turns before checking them, from whichever layout it has."""
    if "messages" in row and row["messages"] is not None:
        raw = row["messages"]
        if not isinstance(raw, list):
            raise ValueError("`messages` is not a list")
        return raw
    if "prompt" in row or "completion" in row:
        return _pair(row, "prompt", "completion")
    if "prompts" in row or "labels" in row:
        return _pair(row, "prompts", "labels")
    if "instruction" in row or "output" in row:
        instr, inp, out = row.get("instruction"), row.get("input"), row.get("output")
        if not _nonempty_str(instr):
            raise ValueError("`instruction` is missing or empty")
        if inp not in (None, "") and not isinstance(inp, str):
            raise ValueError("`input` is not a string")
        user = instr if not inp else f"{instr}\n\n{inp}"
        return [{"role": "user", "content": user}, {"role": "assistant", "content": out}]
    raise ValueError("no `messages` field (nor prompt/completion, prompts/labels, instruction/output)")


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
    msgs = _raw_messages(row)
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
        out_msgs.append({"role": str(role), "content": str(content)})
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
