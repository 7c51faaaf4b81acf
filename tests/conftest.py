"""Session-scoped fixtures shared by the whole suite: a tiny random Llama and its offline tokenizer.

Nothing here downloads anything: the tokenizer is a small BPE trained in-process on the bundled
demo pool text, and the model is a 2-layer, 64-wide ``LlamaForCausalLM`` built from a config.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Nothing downloads while tests run: the built-in model's first-use fetch is off (a test that needs
# the real model skips unless it is cached: `targetsel models fetch`).
os.environ.setdefault("TARGETSEL_OFFLINE", "1")

TULU_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}<|assistant|>\n{{ m['content'] }}</s>\n"
    "{% else %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]


def build_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer trained on the demo pool, wrapped as ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from targetsel.demo import demo_pool_path

    texts = []
    with open(demo_pool_path(), encoding="utf-8") as fh:
        for line in fh:
            for m in json.loads(line)["messages"]:
                texts.append(m["content"])
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"],
    )
    fast.chat_template = TULU_TEMPLATE
    return fast


def build_tiny_llama(tokenizer, *, seed: int = 0, hidden: int = 64, layers: int = 2, heads: int = 4):
    """A randomly initialised ``LlamaForCausalLM`` (2 layers, hidden 64) matching ``tokenizer``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg)


@pytest.fixture
def smollm2() -> str:
    """The built-in SmolLM2-135M-Instruct's name; skips the test when its weights are not cached."""
    from targetsel.models import list_models

    entry = next(e for e in list_models() if e.name == "smollm2-135m")
    if entry.state == "not cached":
        pytest.skip("needs the built-in smollm2-135m in the cache: targetsel models fetch smollm2-135m")
    return entry.name


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """The offline tiny tokenizer (has pad/eos and a Tulu chat template)."""
    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    """Directory of a saved tiny random Llama + tokenizer, loadable with ``from_pretrained``."""
    path = tmp_path_factory.mktemp("tiny-llama")
    build_tiny_llama(tiny_tokenizer).save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


TINY_WARMUP = {
    "lora_r": 8,
    "lora_alpha": 32.0,
    "epochs": 2,
    "effective_batch_size": 8,
    "per_device_batch_size": 4,
    "max_length": 96,
    "learning_rate": 1e-3,
}


@pytest.fixture(scope="session")
def tiny_pool():
    """The first 40 rows of the bundled demo pool."""
    from targetsel.data import load_pool
    from targetsel.demo import demo_pool_path

    return load_pool(demo_pool_path()).select(range(40))


@pytest.fixture(scope="session")
def tiny_warmup_dir(tmp_path_factory, tiny_llama_dir, tiny_pool) -> Path:
    """LESS warmup (LoRA r=8, 2 epochs) of the tiny Llama on 16 pool rows: checkpoint-epoch-{1,2}."""
    from targetsel.train import TrainConfig, warmup

    out = tmp_path_factory.mktemp("tiny-warmup")
    warmup(str(tiny_llama_dir), tiny_pool, out, fraction=0.4, seed=0, config=TrainConfig(**TINY_WARMUP), quiet=True)
    return out


#: Three made-up topics of ten pool rows each, and each target's three queries (``{i}`` numbers them).
TINY_TOPICS = {
    "algebra": "solve the equation for x when two x plus {i} equals nine and check the answer",
    "code": "write a python function that returns the sum of a list of {i} integers",
    "chat": "tell me a short story about a friendly dog named rex number {i}",
}
TINY_TARGET_QUERIES = {
    "math": [
        "solve for x: three x plus {i} equals twelve",
        "find x when x minus {i} equals four",
        "solve two x equals {i}",
    ],
    "code": [
        "write a python function to reverse a list of {i}",
        "python function counting {i} words",
        "sum a list {i}",
    ],
    "chat": ["tell a story about a dog {i}", "a friendly story about rex {i}", "short dog story number {i}"],
}


@pytest.fixture(scope="session")
def tiny_targets(tmp_path_factory) -> dict[str, Path]:
    """Files of several targets on a tiny pool: ``pool`` (30 rows, ``source`` = topic), one query file
    per target of :data:`TINY_TARGET_QUERIES` (3 rows each) and ``code_other`` (another code query
    set, 1 row). Small enough that selecting, diagnosing and exploring take a second on lexical features."""
    root = tmp_path_factory.mktemp("tiny-targets")

    def write(name: str, rows: list[dict]) -> Path:
        path = root / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    pool = [
        {"prompt": text.format(i=i), "completion": f"answer {i}", "source": topic}
        for topic, text in TINY_TOPICS.items()
        for i in range(10)
    ]
    files = {"pool": write("pool", pool)}
    for name, texts in TINY_TARGET_QUERIES.items():
        files[name] = write(name, [{"prompt": t.format(i=7), "completion": "x"} for t in texts])
    files["code_other"] = write("code_other", [{"prompt": "write python code", "completion": "y"}])
    return files
