"""Which tokens carry the loss: LESS's conventions (``loss_tokens=less``) and ours (``assistant``),
spelled out token by token on a two-turn conversation, and LESS's masking rule re-derived from
its description on demo rows."""

from __future__ import annotations

import copy
import json

import pytest

from targetsel.chat import IGNORE_INDEX, tokenize_example
from targetsel.errors import ConfigurationError

TWO_TURNS = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "And 3+3?"},
    {"role": "assistant", "content": "6"},
]
NL, U, A, EOS = "\n", "<|user|>", "<|assistant|>", "</s>"
PROMPT_1 = ["<s>", U, NL, "What", " is", " 2", "+", "2", "?", NL, A, NL]
PROMPT_2 = [U, NL, "A", "nd", " 3", "+", "3", "?", NL, A, NL]


@pytest.fixture(scope="module")
def tulu_tok(tiny_tokenizer):
    tok = copy.deepcopy(tiny_tokenizer)
    tok.chat_template = None  # the Tulu format, as LESS uses it
    return tok


def spelled(tok, enc) -> list[tuple[str, bool]]:
    return [(tok.decode([i]), lab != IGNORE_INDEX) for i, lab in zip(enc["input_ids"], enc["labels"], strict=True)]


def no_loss(tokens: list[str]) -> list[tuple[str, bool]]:
    return [(t, False) for t in tokens]


def test_less_candidate_labels_token_by_token(tulu_tok) -> None:
    enc = tokenize_example(tulu_tok, TWO_TURNS, loss_on="all_assistant", loss_tokens="less")
    # the newline after the first </s> carries loss; the text is stripped, so the last turn ends at </s>
    assert spelled(tulu_tok, enc) == [
        *no_loss(PROMPT_1), ("4", True), (EOS, True), (NL, True),
        *no_loss(PROMPT_2), ("6", True), (EOS, True),
    ]  # fmt: skip


def test_less_query_labels_token_by_token(tulu_tok) -> None:
    enc = tokenize_example(tulu_tok, TWO_TURNS, loss_on="last_assistant", loss_tokens="less")
    # LESS's query is prompt + answer: no </s> after the answer, loss on the answer only
    assert spelled(tulu_tok, enc) == [*no_loss([*PROMPT_1, "4", EOS, NL, *PROMPT_2]), ("6", True)]


def test_assistant_candidate_labels_token_by_token(tulu_tok) -> None:
    enc = tokenize_example(tulu_tok, TWO_TURNS, loss_on="all_assistant", loss_tokens="assistant")
    assert spelled(tulu_tok, enc) == [
        *no_loss(PROMPT_1), ("4", True), (EOS, True), (NL, False),
        *no_loss(PROMPT_2), ("6", True), (EOS, True), (NL, False),
    ]  # fmt: skip


def test_assistant_query_labels_token_by_token(tulu_tok) -> None:
    enc = tokenize_example(tulu_tok, TWO_TURNS, loss_on="last_assistant", loss_tokens="assistant")
    assert spelled(tulu_tok, enc) == [
        *no_loss([*PROMPT_1, "4", EOS, NL, *PROMPT_2]), ("6", True), (EOS, True), (NL, False),
    ]  # fmt: skip


def _less_reference(tok, messages) -> tuple[list[int], list[int]]:
    """LESS / open-instruct's candidate labels, from their description: tokenise the stripped Tulu
    text (with BOS), then mask, per non-assistant message, the tokens from the length of the
    conversation before it to the length including it (and the next assistant header)."""

    def concat(msgs) -> str:
        out = ""
        for m in msgs:
            if m["role"] == "assistant":
                out += f"<|assistant|>\n{m['content'].strip()}{tok.eos_token}\n"
            else:
                out += f"<|{m['role']}|>\n{m['content'].strip()}\n"
        return out

    def n_tokens(text: str) -> int:
        return len(tok(tok.bos_token + text, add_special_tokens=False)["input_ids"])

    ids = tok(tok.bos_token + concat(messages).strip(), add_special_tokens=False)["input_ids"]
    labels = list(ids)
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            continue
        start = 0 if i == 0 else n_tokens(concat(messages[:i]))
        upto = concat(messages[: i + 1])
        if i + 1 < len(messages) and messages[i + 1]["role"] == "assistant":
            upto += "<|assistant|>\n"
        for j in range(start, min(len(labels), n_tokens(upto))):
            labels[j] = IGNORE_INDEX
    return ids, labels


def test_less_labels_match_less_masking_rule_on_demo_rows(tulu_tok) -> None:
    from targetsel.demo import demo_pool_path

    with open(demo_pool_path(), encoding="utf-8") as fh:
        single = [json.loads(line)["messages"] for line, _ in zip(fh, range(40), strict=False)]
    # multi-turn conversations: consecutive rows joined (with a system turn on some)
    multi = [single[i] + single[i + 1] for i in range(0, 20, 2)]
    multi += [[{"role": "system", "content": "Be brief."}, *single[i], *single[i + 1]] for i in range(20, 30, 2)]
    for msgs in multi + single:
        ids, labels = _less_reference(tulu_tok, msgs)
        enc = tokenize_example(tulu_tok, msgs, max_length=10_000, loss_on="all_assistant", loss_tokens="less")
        assert enc["input_ids"] == ids
        assert enc["labels"] == labels


def test_less_needs_the_tulu_format(tiny_tokenizer) -> None:
    with pytest.raises(ConfigurationError, match="chat template"):
        tokenize_example(tiny_tokenizer, TWO_TURNS, loss_tokens="less")
    with pytest.raises(ConfigurationError, match="loss_tokens"):
        tokenize_example(tiny_tokenizer, TWO_TURNS, loss_tokens="eos")


def test_gradient_representation_defaults_and_manifest(tiny_llama_dir, tiny_pool, tmp_path) -> None:
    import shutil

    from targetsel.represent.gradient import GradientRepresentation

    opts = {"dim": 64, "max_length": 64, "lora_r": 4, "lora_alpha": 8.0, "candidate_gradient": "sgd"}
    rows = tiny_pool.select(range(2))
    # the test tokenizer has a (Tulu-shaped) chat template: today's convention stays the default
    templated = GradientRepresentation(str(tiny_llama_dir), **opts)
    assert templated.resolved_loss_tokens() == "assistant"
    assert templated.spec(rows).params["loss_tokens"] == "assistant"
    # without a template (the Tulu format) LESS's convention is the default
    plain = tmp_path / "plain"
    shutil.copytree(tiny_llama_dir, plain)
    cfg = json.loads((plain / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(cfg))
    for f in plain.glob("chat_template*"):
        f.unlink()
    rep = GradientRepresentation(str(plain), **opts)
    assert rep.resolved_loss_tokens() == "less"
    feats = rep.encode(rows, role="query", store=tmp_path / "store")
    assert feats.manifest["params"]["loss_tokens"] == "less"
    forced = GradientRepresentation(str(plain), loss_tokens="assistant", **opts)
    assert forced.resolved_loss_tokens() == "assistant"
    with pytest.raises(ConfigurationError, match="loss_tokens"):
        GradientRepresentation(str(plain), loss_tokens="eos", **opts)
