"""One LoRA settings model: its defaults reach training, the gradient representation and the planners."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from targetsel.errors import ConfigurationError
from targetsel.lora import LESS_LORA, LoraSettings


def test_less_values() -> None:
    assert dataclasses.astuple(LESS_LORA) == (128, 512.0, 0.1, ("q_proj", "k_proj", "v_proj", "o_proj"))


def test_every_user_takes_its_defaults_from_the_one_model() -> None:
    from targetsel.plan.costs import model_shapes
    from targetsel.represent.gradient import GradientRepresentation
    from targetsel.represent.gradient.memory import plan_memory
    from targetsel.train import LESS_WARMUP, TrainConfig

    assert TrainConfig().lora_settings == LESS_WARMUP.lora_settings == LESS_LORA
    for f in dataclasses.fields(LoraSettings):
        assert getattr(TrainConfig(), f.name) == getattr(LESS_LORA, f.name)
        assert next(t for t in dataclasses.fields(TrainConfig) if t.name == f.name).metadata == f.metadata
    rep = inspect.signature(GradientRepresentation).parameters
    assert {k: rep[k].default for k in ("lora_r", "lora_alpha", "target_modules")} == {
        "lora_r": LESS_LORA.lora_r,
        "lora_alpha": LESS_LORA.lora_alpha,
        "target_modules": LESS_LORA.target_modules,
    }
    assert GradientRepresentation("smollm2-135m").lora == LESS_LORA
    for planner in (plan_memory, model_shapes):
        assert inspect.signature(planner).parameters["lora"].default is LESS_LORA


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"lora_r": 0}, "lora_r must be positive, got 0"),
        ({"lora_alpha": -1.0}, "lora_alpha must be positive, got -1.0"),
        ({"lora_dropout": 1.0}, "lora_dropout must be in [0, 1), got 1.0"),
        ({"target_modules": []}, "target_modules must name at least one module"),
    ],
)
def test_out_of_range_values_are_named_as_users_set_them(bad: dict, message: str) -> None:
    from targetsel.represent.gradient import GradientRepresentation
    from targetsel.train import TrainConfig

    for build in (LoraSettings, TrainConfig):
        with pytest.raises(ConfigurationError) as exc:
            build(**bad)
        assert str(exc.value) == message
    if "lora_dropout" not in bad:  # the representation has no dropout parameter
        with pytest.raises(ConfigurationError, match="must"):
            GradientRepresentation("smollm2-135m", **bad)


def test_pick_and_the_peft_config() -> None:
    lora = LoraSettings.pick({"lora_r": 8, "lora_alpha": 16.0, "target_modules": ["q_proj"], "dim": 64})
    assert lora == LoraSettings(8, 16.0, 0.1, ("q_proj",))
    peft = lora.peft_config(task_type="CAUSAL_LM")
    assert (peft.r, peft.lora_alpha, peft.lora_dropout, set(peft.target_modules)) == (8, 16.0, 0.1, {"q_proj"})
    assert str(peft.task_type.value if hasattr(peft.task_type, "value") else peft.task_type) == "CAUSAL_LM"


def test_build_lora_model_takes_the_settings_or_a_train_config() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from targetsel.train import TrainConfig, build_lora_model

    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    counts = []
    for settings in (
        LoraSettings(lora_r=2, target_modules=("q_proj",)),
        TrainConfig(lora_r=2, target_modules=["q_proj"]),
    ):
        lm = build_lora_model(LlamaForCausalLM(cfg), settings)
        counts.append(sum(p.numel() for n, p in lm.named_parameters() if "lora_" in n))
    assert counts == [2 * (16 + 16)] * 2
