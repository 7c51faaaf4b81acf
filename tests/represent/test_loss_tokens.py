"""Which tokens carry the loss: LESS's encoding (``loss_tokens=less``) and ours (``assistant``),
spelled out token by token on a one-turn and a two-turn conversation, and LESS's masking rules
re-derived from its code (``less/data_selection``) on demo rows."""

from __future__ import annotations

import copy
import json

import pytest

from targetsel.chat import IGNORE_INDEX, tokenize_example
from targetsel.errors import ArtifactMismatchError, ConfigurationError

ONE_TURN = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}]
TWO_TURNS = [*ONE_TURN, {"role": "user", "content": "And 3+3?"}, {"role": "assistant", "content": "6"}]
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


def written_out(tok, pieces: list[tuple[str, bool]]) -> tuple[list[int], list[int]]:
    """Token ids and labels of a sequence written token by token (each piece is one token)."""
    ids = []
    for piece, _ in pieces:
        (i,) = tok(piece, add_special_tokens=False)["input_ids"]
        ids.append(i)
    return ids, [i if loss else IGNORE_INDEX for i, (_, loss) in zip(ids, pieces, strict=True)]


def assert_labels(tok, enc, pieces: list[tuple[str, bool]]) -> None:
    ids, labels = written_out(tok, pieces)
    assert spelled(tok, enc) == pieces
    assert enc["input_ids"] == ids
    assert enc["labels"] == labels


# LESS's encode_with_messages_format: the text is the concatenation "<|user|>\n" + content + "\n"
# + "<|assistant|>\n" + content + "</s>" + "\n" per turn, not stripped; labels are the ids with
# [0, len(ids("<s>" + "<|user|>\n...\n<|assistant|>\n"))) masked for the first user message and
# [len(ids(conversation before it)), len(ids(... + it + "<|assistant|>\n"))) for a later one, so
# each assistant turn keeps its content, its </s> and the newline after it -- the last one's too.
def test_less_one_turn_candidate_labels_token_by_token(tulu_tok) -> None:
    enc = tokenize_example(tulu_tok, ONE_TURN, loss_on="all_assistant", loss_tokens="less")
    assert_labels(tulu_tok, enc, [*no_loss(PROMPT_1), ("4", True), (EOS, True), (NL, True)])


def test_less_two_turn_candidate_labels_token_by_token(tulu_tok) -> None:
    enc = tokenize_example(tulu_tok, TWO_TURNS, loss_on="all_assistant", loss_tokens="less")
    assert_labels(
        tulu_tok,
        enc,
        [
            *no_loss(PROMPT_1), ("4", True), (EOS, True), (NL, True),
            *no_loss(PROMPT_2), ("6", True), (EOS, True), (NL, True),
        ],
    )  # fmt: skip


# LESS's validation `tokenize`: ids("<s>" + prompt + answer), nothing stripped and no </s>; the
# first len(ids("<s>" + prompt)) labels masked, where the prompt ends with "<|assistant|>\n"
def test_less_one_turn_query_labels_token_by_token(tulu_tok) -> None:
    enc = tokenize_example(tulu_tok, ONE_TURN, loss_on="last_assistant", loss_tokens="less")
    assert_labels(tulu_tok, enc, [*no_loss(PROMPT_1), ("4", True)])


def test_less_two_turn_query_labels_token_by_token(tulu_tok) -> None:
    enc = tokenize_example(tulu_tok, TWO_TURNS, loss_on="last_assistant", loss_tokens="less")
    assert_labels(tulu_tok, enc, [*no_loss([*PROMPT_1, "4", EOS, NL, *PROMPT_2]), ("6", True)])


def test_less_query_answer_is_not_stripped(tulu_tok) -> None:
    # LESS concatenates prompt and completion as given (its answers start with a space)
    msgs = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": " 4\n"}]
    enc = tokenize_example(tulu_tok, msgs, loss_on="last_assistant", loss_tokens="less")
    assert_labels(tulu_tok, enc, [*no_loss(PROMPT_1), (" 4", True), (NL, True)])
    # candidate contents are stripped (encode_with_messages_format's concat_messages)
    enc = tokenize_example(tulu_tok, msgs, loss_on="all_assistant", loss_tokens="less")
    assert_labels(tulu_tok, enc, [*no_loss(PROMPT_1), ("4", True), (EOS, True), (NL, True)])


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


def _bos_ids(tok, text: str) -> list[int]:
    # LESS's Llama tokenizer puts BOS before every text it tokenises
    return tok(tok.bos_token + text, add_special_tokens=False)["input_ids"]


def _less_concat(tok, msgs) -> str:
    out = ""
    for m in msgs:
        if m["role"] == "assistant":
            out += "<|assistant|>\n" + m["content"].strip() + tok.eos_token + "\n"
        else:
            out += f"<|{m['role']}|>\n" + m["content"].strip() + "\n"
    return out


def _less_candidate(tok, messages) -> tuple[list[int], list[int]]:
    """encode_with_messages_format, re-derived from LESS's code: the concatenation (not stripped)
    tokenised; per non-assistant message, the labels from the token count of the conversation
    before it to that including it (and the next assistant header) masked."""
    ids = _bos_ids(tok, _less_concat(tok, messages))
    labels = list(ids)
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            continue
        start = 0 if i == 0 else len(_bos_ids(tok, _less_concat(tok, messages[:i])))
        upto = _less_concat(tok, messages[: i + 1])
        if i + 1 < len(messages) and messages[i + 1]["role"] == "assistant":
            upto += "<|assistant|>\n"
        for j in range(start, min(len(labels), len(_bos_ids(tok, upto)))):
            labels[j] = IGNORE_INDEX
    return ids, labels


def _less_query(tok, messages) -> tuple[list[int], list[int]]:
    """LESS's validation tokenize(query, completion): ids of query + completion, the first
    len(ids(query)) labels masked; the query ends with the assistant header."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    query = _less_concat(tok, messages[:last]) + "<|assistant|>\n"
    ids = _bos_ids(tok, query + messages[last]["content"])
    n = len(_bos_ids(tok, query))
    return ids, [IGNORE_INDEX] * n + ids[n:]


def _demo_conversations() -> list[list[dict[str, str]]]:
    from targetsel.demo import demo_pool_path

    with open(demo_pool_path(), encoding="utf-8") as fh:
        single = [json.loads(line)["messages"] for line, _ in zip(fh, range(40), strict=False)]
    # multi-turn conversations: consecutive rows joined (with a system turn on some)
    multi = [single[i] + single[i + 1] for i in range(0, 20, 2)]
    multi += [[{"role": "system", "content": "Be brief."}, *single[i], *single[i + 1]] for i in range(20, 30, 2)]
    return multi + single


def test_less_labels_match_less_masking_rules_on_demo_rows(tulu_tok) -> None:
    for msgs in _demo_conversations():
        for loss_on, reference in (("all_assistant", _less_candidate), ("last_assistant", _less_query)):
            ids, labels = reference(tulu_tok, msgs)
            enc = tokenize_example(tulu_tok, msgs, max_length=10_000, loss_on=loss_on, loss_tokens="less")
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
    assert "loss_tokens_revision" not in templated.spec(rows).params  # `assistant` is unchanged
    feats = rep.encode(rows, role="query", store=tmp_path / "store")
    assert feats.manifest["params"]["loss_tokens"] == "less"
    assert feats.manifest["params"]["loss_tokens_revision"] == 2
    # a store encoded under the earlier `less` rule (no revision recorded) is not reused
    mpath = tmp_path / "store" / "manifest.json"
    old = json.loads(mpath.read_text())
    del old["params"]["loss_tokens_revision"]
    mpath.write_text(json.dumps(old))
    with pytest.raises(ArtifactMismatchError, match="loss_tokens_revision"):
        rep.encode(rows, role="query", store=tmp_path / "store")
    forced = GradientRepresentation(str(plain), loss_tokens="assistant", **opts)
    assert forced.resolved_loss_tokens() == "assistant"
    with pytest.raises(ConfigurationError, match="loss_tokens"):
        GradientRepresentation(str(plain), loss_tokens="eos", **opts)
