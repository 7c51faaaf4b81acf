"""What the fine-tuning libraries people use read: the rows and entries :mod:`targetsel.export` writes.

Pure functions over rows and names; :func:`targetsel.export.export` writes the files.

* **LLaMA-Factory** reads a dataset registered in a ``dataset_info.json`` in its ``dataset_dir``
  (``data/README.md`` of LLaMA-Factory: the ``dataset_info.json`` keys, "Sharegpt Format" and
  "OpenAI Format"). We use its ``sharegpt`` formatting with OpenAI-style ``role``/``content``
  turns and declare the tags (``role_tag: role``, ``content_tag: content``, ``user_tag: user``,
  ``assistant_tag: assistant``, ``system_tag: system``) rather than its default
  ``from``/``value`` with ``human``/``gpt``: the turns are then the very ``messages`` that TRL and
  axolotl read, and the file stays readable by every tool that takes OpenAI messages (targetsel's
  own loader included). The system prompt goes into a separate ``system`` column
  (``columns.system``), as the sharegpt section documents, and the turns that remain must
  alternate user/assistant from a user turn and end on an assistant turn ("human ... in odd
  positions, gpt ... in even positions"): LLaMA-Factory's converter (``SharegptDatasetConverter``)
  silently skips a conversation that does not, so :func:`to_sharegpt_row` refuses it instead.
* **axolotl** reads a ``datasets:`` entry of ``type: chat_template`` (axolotl
  ``docs/dataset-formats/conversation.qmd``, "chat_template", and the ``SFTDataset`` settings:
  ``field_messages``, ``message_property_mappings``, ``roles``, ``roles_to_train``): the
  messages JSONL needs no conversion, only the entry naming it.
* **TRL**'s ``SFTTrainer`` takes the messages JSONL as a conversational dataset as it is.

Example:
    >>> row = {"id": "a", "messages": [{"role": "system", "content": "Be brief."},
    ...        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
    >>> lf = to_sharegpt_row(row)
    >>> lf["system"], [m["role"] for m in lf["messages"]]
    ('Be brief.', ['user', 'assistant'])
    >>> from_sharegpt_row(lf) == row
    True
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AXOLOTL_ROLES",
    "LLAMAFACTORY_TAGS",
    "axolotl_dataset_entry",
    "from_sharegpt_row",
    "llamafactory_dataset_info",
    "to_sharegpt_row",
]

#: The column of LLaMA-Factory rows holding the system prompt (``columns.system``).
SYSTEM_COLUMN = "system"
#: The turn keys and role names of the messages, declared to LLaMA-Factory (its ``tags``).
LLAMAFACTORY_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "system_tag": "system",
}
#: axolotl's ``roles``: each chat-template role and the message roles mapped to it.
AXOLOTL_ROLES = {"user": ["user"], "assistant": ["assistant"], "system": ["system"]}


def to_sharegpt_row(row: dict[str, Any]) -> dict[str, Any]:
    """One row as LLaMA-Factory's sharegpt formatting reads it: leading system turn moved to ``system``.

    Every other column is kept as it is (``id``, ``source``, ``target``...); ``system`` is ``""``
    when the conversation has no system turn (LLaMA-Factory then uses its template's default).

    Raises:
        ValueError: the row already has a ``system`` column, or its turns are not one optional
            system turn then user/assistant pairs (LLaMA-Factory would skip the row).

    Example:
        >>> to_sharegpt_row({"messages": [{"role": "user", "content": "hi"},
        ...                               {"role": "assistant", "content": "hello"}], "target": "math"})["system"]
        ''
    """
    if SYSTEM_COLUMN in row:
        raise ValueError(
            f"it has a `{SYSTEM_COLUMN}` column, where LLaMA-Factory's system prompt goes; rename that column"
        )
    msgs = list(row["messages"])
    system = ""
    if msgs and msgs[0]["role"] == "system":
        system, msgs = msgs[0]["content"], msgs[1:]
    roles = [m["role"] for m in msgs]
    expected = ["user", "assistant"] * (len(msgs) // 2)
    if not msgs or roles != expected or len(msgs) % 2:
        raise ValueError(
            "LLaMA-Factory's sharegpt format needs user/assistant turns in pairs from a user turn "
            f"(after one optional leading system turn), got {', '.join(m['role'] for m in row['messages'])}"
        )
    out = dict(row)
    out["messages"] = msgs
    out[SYSTEM_COLUMN] = system
    return out


def from_sharegpt_row(row: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`to_sharegpt_row`: the system prompt back as the leading turn.

    Example:
        >>> from_sharegpt_row({"messages": [{"role": "user", "content": "hi"}], "system": ""})
        {'messages': [{'role': 'user', 'content': 'hi'}]}
    """
    out = dict(row)
    system = out.pop(SYSTEM_COLUMN, None)
    if system:
        out["messages"] = [{"role": "system", "content": system}, *out["messages"]]
    return out


def llamafactory_dataset_info(dataset_name: str, file_name: str) -> dict[str, Any]:
    """The ``dataset_info.json`` content registering ``file_name`` (beside it) as ``dataset_name``.

    Example:
        >>> llamafactory_dataset_info("sel", "subset.json")["sel"]["columns"]
        {'messages': 'messages', 'system': 'system'}
    """
    return {
        dataset_name: {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "messages", SYSTEM_COLUMN: SYSTEM_COLUMN},
            "tags": dict(LLAMAFACTORY_TAGS),
        }
    }


def axolotl_dataset_entry(path: str) -> dict[str, Any]:
    """One axolotl ``datasets:`` entry reading the messages JSONL at ``path`` with the chat template.

    Loss on the assistant turns (``roles_to_train``), as ``targetsel train`` computes it.

    Example:
        >>> axolotl_dataset_entry("subset.jsonl")["type"]
        'chat_template'
    """
    return {
        "path": path,
        "ds_type": "json",
        "type": "chat_template",
        "field_messages": "messages",
        "message_property_mappings": {"role": "role", "content": "content"},
        "roles": {k: list(v) for k, v in AXOLOTL_ROLES.items()},
        "roles_to_train": ["assistant"],
    }
