"""RDS+ hidden-state representation: pooling maths and batching invariance on a tiny Llama."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from targetsel.errors import ConfigurationError
from targetsel.represent.hidden import HiddenRepresentation, position_weighted_mean


def test_position_weighted_mean_matches_hand_computation():
    h = torch.tensor(
        [
            [[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]],
            [[2.0, 2.0], [9.0, 9.0], [9.0, 9.0]],  # one token, then padding
        ]
    )
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    got = position_weighted_mean(h, mask, normalize=False)
    # weights 1/6, 2/6, 3/6 for the first row; 1 for the single token of the second
    first = (1 * torch.tensor([1.0, 0.0]) + 2 * torch.tensor([0.0, 2.0]) + 3 * torch.tensor([3.0, 3.0])) / 6
    torch.testing.assert_close(got, torch.stack([first, torch.tensor([2.0, 2.0])]))
    unit = position_weighted_mean(h, mask)
    torch.testing.assert_close(unit.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(unit[0], first / first.norm())


def test_left_padding_gives_the_same_pooling():
    h = torch.randn(1, 4, 3)
    right = position_weighted_mean(h[:, :3], torch.tensor([[1, 1, 1]]))
    left = position_weighted_mean(torch.cat([torch.zeros(1, 1, 3), h[:, :3]], dim=1), torch.tensor([[0, 1, 1, 1]]))
    torch.testing.assert_close(right, left)


def test_hidden_features_match_a_manual_forward(tiny_llama_dir, tiny_pool):
    from transformers import AutoModelForCausalLM

    from targetsel.chat import tokenize_example
    from targetsel.models import load_tokenizer

    rows = tiny_pool.select(range(3))
    feats = HiddenRepresentation(str(tiny_llama_dir), max_length=64).encode(rows).to_array()
    lm = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    tok = load_tokenizer(str(tiny_llama_dir))
    for i, msgs in enumerate(rows.iter_messages()):
        ids = torch.tensor([tokenize_example(tok, msgs, max_length=64)["input_ids"]])
        with torch.no_grad():
            h = lm(input_ids=ids, output_hidden_states=True).hidden_states[-1][0]
        w = torch.arange(1, h.shape[0] + 1, dtype=torch.float32)
        v = (h * w[:, None]).sum(0) / w.sum()
        np.testing.assert_allclose(feats[i], (v / v.norm()).numpy(), rtol=1e-4, atol=1e-5)


def test_batching_does_not_change_features(tiny_llama_dir, tiny_pool):
    rows = tiny_pool.select(range(11))
    one = HiddenRepresentation(str(tiny_llama_dir), batch_size=1, max_length=96).encode(rows).to_array()
    many = HiddenRepresentation(str(tiny_llama_dir), batch_size=4, max_length=96).encode(rows).to_array()
    assert one.shape == (11, 64)
    np.testing.assert_allclose(one, many, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(many, axis=1), 1.0, rtol=1e-5)


def test_hidden_spec_and_validation(tiny_llama_dir, tiny_pool):
    rep = HiddenRepresentation(str(tiny_llama_dir))
    spec = rep.spec(tiny_pool)
    assert spec.representation == "hidden" and spec.dim == 64 and spec.normalized
    with pytest.raises(ConfigurationError):
        HiddenRepresentation(str(tiny_llama_dir), batch_size=0)


def test_cli_encode_hidden(tiny_llama_dir, tiny_pool, tmp_path):
    import json

    from targetsel.cli import main
    from targetsel.store import FeatureStore

    rows = tmp_path / "rows.jsonl"
    with open(rows, "w", encoding="utf-8") as fh:
        for row in tiny_pool.select(range(5)).rows():
            fh.write(json.dumps({"messages": row["messages"]}) + "\n")
    args = ["encode", str(rows), "-r", "hidden", "-m", str(tiny_llama_dir), "--store", str(tmp_path / "s"),
            "-p", "batch_size=2", "-p", "max_length=64", "--quiet"]  # fmt: skip
    assert main(args) == 0
    fs = FeatureStore.open(tmp_path / "s")
    assert fs.num_rows == 5 and fs.dim == 64 and fs.manifest["representation"] == "hidden"
    np.testing.assert_allclose(np.linalg.norm(fs.to_array(), axis=1), 1.0, rtol=1e-5)
