"""Chat formatting and tokenisation for language-model representations and training.

A conversation (canonical ``messages``) is rendered with the tokenizer's chat template when it
has one, else in the Tulu format used by LESS and open-instruct::

    <|user|>
    {user}
    <|assistant|>
    {assistant}</s>

Tokenisation marks which tokens carry loss: every assistant turn (``all_assistant``, the
default, used for candidates and training) or only the last one (``last_assistant``, used for
queries: the loss of the completion given the prompt). Other tokens get label ``-100``.

Which tokens of a turn count (``loss_tokens``):

* ``assistant`` (default): the turn's content and its end-of-turn marker (``</s>``), for
  candidates and queries alike;
* ``less``: LESS's own encoding, in the Tulu format only (no chat template), token for token
  as LESS's code computes it (``less/data_selection``). A candidate is LESS's
  ``encode_with_messages_format``: the contents are stripped, the turns concatenated (each
  assistant turn followed by ``</s>`` and a newline; the text itself is not stripped), and every
  token carries loss except the non-assistant messages with the header of the assistant turn
  that follows them, masked by the token counts of the conversation prefixes. So each
  assistant turn's loss covers its content, its ``</s>`` and the newline after it, the last
  turn's included. A query is LESS's validation ``tokenize``: prompt + answer, concatenated as
  given (the answer is not stripped and not followed by ``</s>``), and the tokens after the
  tokenised prompt carry loss.

Example:
    >>> from targetsel.chat import format_chat
    >>> class Tok:  # any tokenizer without a chat template
    ...     chat_template = None
    ...     eos_token = "</s>"
    >>> format_chat(Tok(), [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}])
    '<|user|>\\n2+2?\\n<|assistant|>\\n4</s>\\n'
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any, Literal

from targetsel.errors import ConfigurationError, InvalidDataError

__all__ = [
    "IGNORE_INDEX",
    "LOSS_TOKENS",
    "LOSS_TOKENS_REVISION",
    "ChatCollator",
    "LossOn",
    "LossTokens",
    "assistant_spans",
    "format_chat",
    "prompt_messages",
    "prompt_text",
    "tokenize_example",
]

IGNORE_INDEX = -100
LossOn = Literal["all_assistant", "last_assistant"]
LossTokens = Literal["assistant", "less"]
LOSS_TOKENS = ("assistant", "less")
#: Revision of each loss-token rule changed since its first release, recorded with it in store
#: manifests so that features encoded under an earlier rule are never taken for current ones.
#: ``less`` 2: the last candidate turn's newline after ``</s>`` carries loss (LESS does not strip
#: its text), a query's answer is not stripped, and boundaries are LESS's prefix token counts.
LOSS_TOKENS_REVISION = {"less": 2}


def _has_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _tulu(messages: Sequence[dict[str, str]], eos: str, *, generation_prompt: bool = False) -> str:
    parts = []
    for m in messages:
        if m["role"] == "assistant":
            parts.append(f"<|assistant|>\n{m['content']}{eos}\n")
        else:
            parts.append(f"<|{m['role']}|>\n{m['content']}\n")
    if generation_prompt:
        parts.append("<|assistant|>\n")
    return "".join(parts)


def format_chat(tokenizer: Any, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = False) -> str:
    """Render a conversation as the model's training text.

    Args:
        tokenizer: A Hugging Face tokenizer; its ``chat_template`` is used when set.
        messages: Canonical ``{"role", "content"}`` turns.
        add_generation_prompt: Append the header that opens an assistant turn (for generation).

    Returns:
        The formatted text (special tokens written out as text, no BOS added).

    Example:
        >>> class Tok:
        ...     chat_template = None
        ...     eos_token = None
        >>> format_chat(Tok(), [{"role": "user", "content": "hi"}], add_generation_prompt=True)
        '<|user|>\\nhi\\n<|assistant|>\\n'
    """
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    if _has_template(tokenizer):
        text: str = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt)
        return text
    return _tulu(msgs, getattr(tokenizer, "eos_token", None) or "</s>", generation_prompt=add_generation_prompt)


def prompt_messages(messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The turns before the last assistant turn (what the model must answer).

    Example:
        >>> prompt_messages([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])
        [{'role': 'user', 'content': 'q'}]
    """
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=len(messages))
    head = list(messages[:last])
    if not head:
        raise InvalidDataError("an evaluation example needs a prompt turn before its answer")
    return head


def prompt_text(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """The text a model is asked to continue: the prompt turns and the header of the assistant turn.

    Both evaluators (our greedy generation and the lm-eval adapter) feed the model exactly this
    text, so they see the same input. Like training, the Tulu format starts with BOS; chat
    templates write their own.

    Args:
        tokenizer: A Hugging Face tokenizer; its ``chat_template`` is used when set.
        messages: Canonical turns; the prompt is every turn before the last assistant turn.

    Returns:
        The formatted prompt, ending with the assistant header.

    Example:
        >>> class Tok:
        ...     chat_template = None
        ...     eos_token = "</s>"
        ...     bos_token = "<s>"
        >>> prompt_text(Tok(), [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}])
        '<s><|user|>\\n2+2?\\n<|assistant|>\\n'
    """
    text = format_chat(tokenizer, prompt_messages(messages), add_generation_prompt=True)
    bos = getattr(tokenizer, "bos_token", None)
    if not _has_template(tokenizer) and bos and not text.startswith(bos):
        text = bos + text
    return text


def _bos_prefix(tokenizer: Any, text: str) -> str:
    """The BOS text the Tulu format starts with (chat templates write their own)."""
    bos = getattr(tokenizer, "bos_token", None)
    return bos if not _has_template(tokenizer) and bos and not text.startswith(bos) else ""


def _less_encode(tokenizer: Any, messages: Sequence[dict[str, str]], loss_on: LossOn) -> tuple[list[int], list[int]]:
    """Token ids and labels by LESS's rules (module docstring), before truncation.

    Boundaries are token counts of separately tokenised prefixes, as in LESS (not character
    offsets), each with the BOS that LESS's Llama tokenizer adds to every text.
    """
    if _has_template(tokenizer):
        raise ConfigurationError(
            "loss_tokens=less follows LESS's Tulu format, but the tokenizer has a chat template; "
            "use loss_tokens=assistant (or remove the template: tokenizer.chat_template = None)"
        )
    eos = getattr(tokenizer, "eos_token", None) or "</s>"
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if not turns:
        raise InvalidDataError("a conversation needs at least one assistant turn to carry loss")

    def ids_of(text: str) -> list[int]:
        return list(tokenizer(_bos_prefix(tokenizer, text) + text, add_special_tokens=False)["input_ids"])

    msgs = [{"role": m["role"], "content": m["content"].strip()} for m in messages]
    if loss_on == "last_assistant":
        # validation `tokenize`: the prompt ends with the assistant header; the answer follows as given
        last = turns[-1]
        prompt = _tulu(msgs[:last], eos, generation_prompt=True)
        ids = ids_of(prompt + messages[last]["content"])
        n_prompt = len(ids_of(prompt))
        return ids, [IGNORE_INDEX] * min(n_prompt, len(ids)) + ids[n_prompt:]
    # `encode_with_messages_format`: mask each non-assistant message (and the header of the
    # assistant turn after it) between the token counts of the prefixes around it
    ids = ids_of(_tulu(msgs, eos))
    labels = list(ids)
    for i, m in enumerate(msgs):
        if m["role"] == "assistant":
            continue
        start = 0 if i == 0 else len(ids_of(_tulu(msgs[:i], eos)))
        header = i + 1 < len(msgs) and msgs[i + 1]["role"] == "assistant"
        stop = len(ids_of(_tulu(msgs[: i + 1], eos, generation_prompt=header)))
        labels[start:stop] = [IGNORE_INDEX] * len(labels[start:stop])
    return ids, labels


def assistant_spans(
    tokenizer: Any,
    messages: Sequence[dict[str, str]],
    *,
    loss_on: LossOn = "all_assistant",
) -> tuple[str, list[tuple[int, int]]]:
    """The formatted text and the character spans ``[start, stop)`` that carry loss (``loss_tokens="assistant"``).

    A span covers an assistant turn's content and the end-of-turn marker that follows it (so
    the model learns to stop), found by rendering the conversation prefix up to that turn.
    (``loss_tokens="less"`` is defined on tokens, not characters: :func:`tokenize_example`.)

    Example:
        >>> class Tok:
        ...     chat_template = None
        ...     eos_token = "</s>"
        >>> msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
        >>> text, spans = assistant_spans(Tok(), msgs)
        >>> text[spans[0][0]:spans[0][1]]
        'b</s>'
    """
    if loss_on not in ("all_assistant", "last_assistant"):
        raise ConfigurationError(f"loss_on must be all_assistant or last_assistant, got {loss_on!r}")
    text = format_chat(tokenizer, messages)
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if not turns:
        raise InvalidDataError("a conversation needs at least one assistant turn to carry loss")
    if loss_on == "last_assistant":
        turns = turns[-1:]
    spans = []
    for i in turns:
        head = format_chat(tokenizer, messages[:i], add_generation_prompt=True)
        upto = format_chat(tokenizer, messages[: i + 1])
        if not text.startswith(upto) or not upto.startswith(head):
            raise ConfigurationError(
                "the tokenizer's chat template does not render conversation prefixes as prefixes of the "
                "whole conversation, so assistant tokens cannot be located; remove the template "
                "(tokenizer.chat_template = None) to use the Tulu format"
            )
        stop = len(upto.rstrip())
        spans.append((len(head), max(stop, len(head))))
    return text, spans


def tokenize_example(
    tokenizer: Any,
    messages: Sequence[dict[str, str]],
    *,
    max_length: int = 512,
    loss_on: LossOn = "all_assistant",
    loss_tokens: LossTokens = "assistant",
) -> dict[str, list[int]]:
    """Tokenise a conversation with labels only on assistant tokens.

    Truncation keeps the first ``max_length`` tokens. When that would leave no token with loss
    (a prompt longer than ``max_length``), the window is moved so that the first loss-carrying
    token sits in its middle instead, so every example keeps a gradient signal.

    Args:
        tokenizer: A Hugging Face tokenizer (a fast one gives exact character offsets).
        messages: Canonical turns with at least one assistant turn.
        max_length: Maximum number of tokens.
        loss_on: ``all_assistant`` (candidates, training) or ``last_assistant`` (queries).
        loss_tokens: ``assistant`` or ``less`` (which tokens of a turn count; module docstring).

    Returns:
        ``input_ids``, ``attention_mask`` and ``labels`` (``-100`` outside assistant tokens), lists
        of equal length ``<= max_length``.

    Example:
        >>> # with a tokenizer `tok`: tokenize_example(tok, msgs, max_length=256)["labels"][:3]
        >>> # [-100, -100, -100]
    """
    if max_length <= 1:
        raise ConfigurationError(f"max_length must be at least 2, got {max_length}")
    if loss_tokens not in LOSS_TOKENS:
        raise ConfigurationError(f"loss_tokens must be one of {', '.join(LOSS_TOKENS)}, got {loss_tokens!r}")
    if loss_tokens == "less":
        if loss_on not in ("all_assistant", "last_assistant"):
            raise ConfigurationError(f"loss_on must be all_assistant or last_assistant, got {loss_on!r}")
        ids, labels = _less_encode(tokenizer, messages, loss_on)
    else:
        text, spans = assistant_spans(tokenizer, messages, loss_on=loss_on)
        prefix = _bos_prefix(tokenizer, text)
        ids, labels = _tokenize_with_labels(
            tokenizer, prefix + text, [(a + len(prefix), b + len(prefix)) for a, b in spans]
        )
    if len(ids) > max_length:
        start = 0
        if not any(lab != IGNORE_INDEX for lab in labels[:max_length]):
            first = next((i for i, lab in enumerate(labels) if lab != IGNORE_INDEX), 0)
            start = max(0, min(first - max_length // 2, len(ids) - max_length))
        ids, labels = ids[start : start + max_length], labels[start : start + max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def _tokenize_with_labels(tokenizer: Any, text: str, spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        starts = [s for s, _ in spans]
        labels = []
        for tok, (a, b) in zip(ids, enc["offset_mapping"], strict=True):
            k = bisect.bisect_right(starts, a) - 1
            inside = k >= 0 and a < spans[k][1] and b > spans[k][0] and b > a
            labels.append(tok if inside else IGNORE_INDEX)
        return ids, labels
    # Slow tokenizers: tokenise the pieces between span boundaries separately.
    ids, labels, pos = [], [], 0
    for a, b in spans:
        for piece, loss in ((text[pos:a], False), (text[a:b], True)):
            if piece:
                p = tokenizer(piece, add_special_tokens=False)["input_ids"]
                ids.extend(p)
                labels.extend(p if loss else [IGNORE_INDEX] * len(p))
        pos = b
    if pos < len(text):
        p = tokenizer(text[pos:], add_special_tokens=False)["input_ids"]
        ids.extend(p)
        labels.extend([IGNORE_INDEX] * len(p))
    return ids, labels


class ChatCollator:
    """Pad tokenised examples into a batch of tensors (right padding; labels padded with -100).

    Args:
        pad_token_id: Id used for padding ``input_ids`` (or pass a tokenizer).
        pad_to_multiple_of: Round the padded length up to a multiple of this.

    Example:
        >>> c = ChatCollator(0)
        >>> b = c([{"input_ids": [5, 6], "attention_mask": [1, 1], "labels": [-100, 6]},
        ...        {"input_ids": [7], "attention_mask": [1], "labels": [7]}])
        >>> b["input_ids"].tolist(), b["labels"].tolist()
        ([[5, 6], [7, 0]], [[-100, 6], [7, -100]])
    """

    def __init__(self, pad_token_id: Any, *, pad_to_multiple_of: int | None = None) -> None:
        if not isinstance(pad_token_id, int):
            tok = pad_token_id
            pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
            if pad_token_id is None:
                raise ConfigurationError("the tokenizer has neither a pad nor an eos token; set tokenizer.pad_token")
        self.pad_token_id = int(pad_token_id)
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        n = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            n = -(-n // self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids = torch.full((len(features), n), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(features), n), dtype=torch.long)
        labels = torch.full((len(features), n), IGNORE_INDEX, dtype=torch.long)
        for i, f in enumerate(features):
            k = len(f["input_ids"])
            ids[i, :k] = torch.as_tensor(list(f["input_ids"]), dtype=torch.long)
            mask[i, :k] = torch.as_tensor(list(f.get("attention_mask") or [1] * k), dtype=torch.long)
            if "labels" in f:
                labels[i, :k] = torch.as_tensor(list(f["labels"]), dtype=torch.long)
        out = {"input_ids": ids, "attention_mask": mask}
        if any("labels" in f for f in features):
            out["labels"] = labels
        return out
