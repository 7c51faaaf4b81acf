"""Chat formatting and tokenisation: loss only on assistant tokens, Tulu fallback, truncation, padding."""

from __future__ import annotations

import copy

import pytest

from targetsel.chat import IGNORE_INDEX, ChatCollator, format_chat, tokenize_example
from targetsel.errors import InvalidDataError

MSGS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2+3?"},
    {"role": "assistant", "content": "It is 5."},
    {"role": "user", "content": "And 4+4?"},
    {"role": "assistant", "content": "8"},
]


def _loss_text(tok, enc) -> str:
    return tok.decode([i for i, lab in zip(enc["input_ids"], enc["labels"], strict=True) if lab != IGNORE_INDEX])


@pytest.fixture()
def tulu_tok(tiny_tokenizer):
    tok = copy.deepcopy(tiny_tokenizer)
    tok.chat_template = None
    return tok


def test_template_and_tulu_render_the_same_text(tiny_tokenizer, tulu_tok):
    expected = (
        "<|system|>\nBe brief.\n<|user|>\nWhat is 2+3?\n<|assistant|>\nIt is 5.</s>\n"
        "<|user|>\nAnd 4+4?\n<|assistant|>\n8</s>\n"
    )
    assert format_chat(tulu_tok, MSGS) == expected
    assert format_chat(tiny_tokenizer, MSGS) == expected  # the fixture's template is the Tulu format
    assert format_chat(tulu_tok, MSGS[:2], add_generation_prompt=True).endswith("<|assistant|>\n")


@pytest.mark.parametrize("which", ["template", "tulu"])
def test_labels_only_on_assistant_tokens(tiny_tokenizer, tulu_tok, which):
    tok = tiny_tokenizer if which == "template" else tulu_tok
    enc = tokenize_example(tok, MSGS)
    assert len(enc["input_ids"]) == len(enc["labels"]) == len(enc["attention_mask"])
    assert _loss_text(tok, enc) == "It is 5.</s>8</s>"
    last = tokenize_example(tok, MSGS, loss_on="last_assistant")
    assert _loss_text(tok, last) == "8</s>"
    assert last["input_ids"] == enc["input_ids"]
    if which == "tulu":
        assert enc["input_ids"][0] == tok.bos_token_id


def test_truncation_keeps_loss_tokens(tiny_tokenizer):
    long_prompt = [{"role": "user", "content": "word " * 400}, {"role": "assistant", "content": "yes"}]
    enc = tokenize_example(tiny_tokenizer, long_prompt, max_length=32)
    assert len(enc["input_ids"]) == 32
    assert any(lab != IGNORE_INDEX for lab in enc["labels"])
    short = tokenize_example(tiny_tokenizer, MSGS, max_length=12)
    assert len(short["input_ids"]) == 12


def test_no_assistant_turn_is_an_error(tiny_tokenizer):
    with pytest.raises(InvalidDataError):
        tokenize_example(tiny_tokenizer, [{"role": "user", "content": "hi"}])


def test_collator_pads_right_with_ignored_labels(tiny_tokenizer):
    a = tokenize_example(tiny_tokenizer, MSGS)
    b = tokenize_example(tiny_tokenizer, MSGS[1:3])
    batch = ChatCollator(tiny_tokenizer, pad_to_multiple_of=8)([a, b])
    n = batch["input_ids"].shape[1]
    assert n % 8 == 0 and n >= len(a["input_ids"])
    k = len(b["input_ids"])
    assert batch["attention_mask"][1, :k].all() and not batch["attention_mask"][1, k:].any()
    assert (batch["input_ids"][1, k:] == tiny_tokenizer.pad_token_id).all()
    assert (batch["labels"][1, k:] == IGNORE_INDEX).all()
