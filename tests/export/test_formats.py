"""Every ``select --format`` loaded back by the reader its trainer uses.

``datasets.load_from_disk`` (hf), TRL's data utilities and ``SFTTrainer`` (jsonl), LLaMA-Factory's
sharegpt schema from its ``data/README.md`` (llamafactory) and axolotl's ``chat_template`` schema
from its docs (axolotl), plus axolotl's own settings model, loader and chat-template strategy where
axolotl imports. Each selection is made in-process with ``-r lexical`` on the bundled demo pool,
given a ``target`` column (a mixed subset's) and a system turn on some rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import datasets
import numpy as np
import pytest
import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from targetsel.cli import main
from targetsel.data import ExampleSet
from targetsel.demo import demo_pool_path, demo_query_path
from targetsel.errors import ConfigurationError, InvalidDataError
from targetsel.export import SelectionArtifact, export
from targetsel.export.formats import EXPORT_FORMATS, LLAMAFACTORY_DATASET, load_subset
from targetsel.export.layout import (
    AXOLOTL_DATASETS_FILE,
    LLAMAFACTORY_INFO_FILE,
    SELECTION_FILE,
    SUBSET_FILES,
    TRAINER_FILES,
)
from targetsel.select import select

BUDGETS = (20, 50)
SYSTEM = "You are a careful assistant."


def _target(i: int) -> str:
    return ("math", "dates", "code")[i % 3]


@pytest.fixture(scope="module")
def pool_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """The demo pool with a ``target`` column and a system turn on every fourth row, as a file."""
    rows = []
    with open(demo_pool_path(), encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            row = json.loads(line)
            row["target"] = _target(i)
            if i % 4 == 0:
                row["messages"] = [{"role": "system", "content": SYSTEM}, *row["messages"]]
            rows.append(row)
    path = tmp_path_factory.mktemp("pool") / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, {r["id"]: r for r in rows}


@pytest.fixture(scope="module")
def selections(tmp_path_factory: pytest.TempPathFactory, pool_rows) -> dict[str, Path]:
    """One ``targetsel select --budgets 20,50`` output folder per format."""
    pool, _ = pool_rows
    root = tmp_path_factory.mktemp("selections")
    query = demo_query_path("math", "dev")
    out = {}
    for fmt in EXPORT_FORMATS:
        out[fmt] = root / fmt
        argv = ["select", "--pool", str(pool), "--query", str(query), "-r", "lexical", "--no-store"]
        assert main([*argv, "--budgets", ",".join(map(str, BUDGETS)), "--format", fmt, "-o", str(out[fmt]), "-q"]) == 0
    return out


def _picks(folder: Path) -> list[str]:
    return [p["id"] for p in json.loads((folder / SELECTION_FILE).read_text())["picks"]]


def _json_rows(path: Path) -> list[dict[str, Any]]:
    return datasets.load_dataset("json", data_files=str(path), split="train").to_list()


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_each_budget_gets_its_files(selections: dict[str, Path], fmt: str) -> None:
    first = None
    for b in BUDGETS:
        folder = selections[fmt] / f"budget-{b}"
        names = {SELECTION_FILE, SUBSET_FILES[fmt], *([TRAINER_FILES[fmt]] if fmt in TRAINER_FILES else [])}
        assert {p.name for p in folder.iterdir()} == names
        assert SelectionArtifact.open(folder / SELECTION_FILE).find_subset() == folder / SUBSET_FILES[fmt]
        ids = load_subset(folder / SUBSET_FILES[fmt]).ids
        assert ids == _picks(folder) and len(ids) == b
        first = first or ids
    assert ids[: BUDGETS[0]] == first  # budgets are prefixes of one ranking


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_target_and_every_column_pass_through(selections: dict[str, Path], pool_rows, fmt: str) -> None:
    _, by_id = pool_rows
    folder = selections[fmt] / f"budget-{BUDGETS[-1]}"
    subset = load_subset(folder / SUBSET_FILES[fmt])
    rows = list(subset.rows())
    assert [r["target"] for r in rows] == [by_id[i]["target"] for i in subset.ids]
    assert [r["source"] for r in rows] == [by_id[i]["source"] for i in subset.ids]
    # the conversations come back whole, system turns included (LLaMA-Factory's moved to `system` and back)
    assert [r["messages"] for r in rows] == [by_id[i]["messages"] for i in subset.ids]
    assert any(m[0]["role"] == "system" for m in (r["messages"] for r in rows))


def test_hf_is_a_saved_dataset(selections: dict[str, Path], pool_rows) -> None:
    _, by_id = pool_rows
    folder = selections["hf"] / f"budget-{BUDGETS[-1]}"
    ds = datasets.load_from_disk(str(folder / SUBSET_FILES["hf"]))
    assert isinstance(ds, datasets.Dataset) and ds["id"] == _picks(folder)
    assert {"id", "source", "target", "messages", "meta"} <= set(ds.column_names)
    assert ds["target"] == [by_id[i]["target"] for i in ds["id"]]
    assert ds[0]["messages"] == by_id[ds[0]["id"]]["messages"]


def test_jsonl_is_trl_sft_input(selections: dict[str, Path], tiny_tokenizer, tiny_llama_dir, tmp_path: Path) -> None:
    pytest.importorskip("trl", reason="TRL is not installed")
    from trl import SFTConfig, SFTTrainer
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    path = selections["jsonl"] / f"budget-{BUDGETS[0]}" / SUBSET_FILES["jsonl"]
    train = datasets.load_dataset("json", data_files=str(path), split="train")
    assert "target" in train.column_names
    for row in train:
        assert is_conversational(row)
        text = maybe_apply_chat_template(row, tiny_tokenizer)["text"]
        assert all(m["content"] in text for m in row["messages"])
    args = SFTConfig(output_dir=str(tmp_path), report_to=[], max_length=256, max_steps=1, use_cpu=True, logging_steps=1)
    trainer = SFTTrainer(model=str(tiny_llama_dir), args=args, train_dataset=train, processing_class=tiny_tokenizer)
    assert len(trainer.train_dataset) == len(train) and "input_ids" in trainer.train_dataset.column_names
    assert np.isfinite(trainer.train().training_loss)


# --- LLaMA-Factory: the dataset_info.json entry and the rows, as its data/README.md describes them ---


class _LFColumns(BaseModel):
    model_config = ConfigDict(extra="forbid")
    messages: str = "conversations"
    system: str | None = None


class _LFTags(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role_tag: str = "from"
    content_tag: str = "value"
    user_tag: str = "human"
    assistant_tag: str = "gpt"
    system_tag: str = "system"


class _LFEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_name: str
    formatting: Literal["alpaca", "sharegpt"] = "alpaca"
    columns: _LFColumns
    tags: _LFTags

    @model_validator(mode="after")
    def _sharegpt(self) -> _LFEntry:
        assert self.formatting == "sharegpt"
        return self


def _check_sharegpt_row(row: dict[str, Any], entry: _LFEntry) -> None:
    """Turns under ``columns.messages``: user tags in odd positions, assistant tags in even ones, pairs."""
    turns = row[entry.columns.messages]
    t = entry.tags
    assert turns and len(turns) % 2 == 0
    for k, turn in enumerate(turns):
        assert set(turn) == {t.role_tag, t.content_tag}
        assert turn[t.role_tag] == (t.user_tag if k % 2 == 0 else t.assistant_tag)
        assert isinstance(turn[t.content_tag], str) and turn[t.content_tag]
    assert isinstance(row[entry.columns.system], str)


def test_llamafactory_matches_its_documented_schema(selections: dict[str, Path], pool_rows) -> None:
    _, by_id = pool_rows
    folder = selections["llamafactory"] / f"budget-{BUDGETS[-1]}"
    info = json.loads((folder / LLAMAFACTORY_INFO_FILE).read_text())
    entry = _LFEntry.model_validate(info[LLAMAFACTORY_DATASET])
    data = json.loads((folder / entry.file_name).read_text())  # a JSON array, as in the README
    assert isinstance(data, list) and [r["id"] for r in data] == _picks(folder)
    for row in data:
        _check_sharegpt_row(row, entry)
        original = by_id[row["id"]]["messages"]
        system = original[0]["content"] if original[0]["role"] == "system" else ""
        assert row[entry.columns.system] == system and row["target"] == by_id[row["id"]]["target"]
    assert any(r["system"] == SYSTEM for r in data)
    # and `datasets` (what LLaMA-Factory loads a json file with) reads it, extra columns and all
    assert [r["id"] for r in _json_rows(folder / entry.file_name)] == _picks(folder)


def test_llamafactory_loader(selections: dict[str, Path]) -> None:
    """LLaMA-Factory's own parser, loader and sharegpt converter, where the library imports."""
    try:
        from llamafactory.data.loader import _load_single_dataset
        from llamafactory.data.parser import get_dataset_list
        from llamafactory.hparams import DataArguments, ModelArguments
    except Exception as exc:  # not installed, or its data package's imports (e.g. torchaudio) missing
        pytest.skip(f"LLaMA-Factory's data loader does not import here: {type(exc).__name__}: {exc}")
    from transformers import Seq2SeqTrainingArguments

    folder = selections["llamafactory"] / f"budget-{BUDGETS[-1]}"
    attr = get_dataset_list([LLAMAFACTORY_DATASET], str(folder))[0]
    ds = _load_single_dataset(
        attr,
        ModelArguments(model_name_or_path="unused"),
        DataArguments(dataset_dir=str(folder), dataset=LLAMAFACTORY_DATASET),
        Seq2SeqTrainingArguments(output_dir=str(folder / "lf"), report_to=[]),
    )
    rows = json.loads((folder / SUBSET_FILES["llamafactory"]).read_text())
    assert [r["_prompt"] + r["_response"] for r in ds] == [r["messages"] for r in rows]  # none skipped
    assert [r["_system"] for r in ds] == [r["system"] for r in rows]


# --- axolotl: the `datasets:` entry of type chat_template, as its docs describe it ---


class _AxEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    ds_type: Literal["json"]
    type: Literal["chat_template"]
    field_messages: str = "messages"
    message_property_mappings: dict[str, str] = {"role": "role", "content": "content"}
    roles: dict[str, list[str]] | None = None
    roles_to_train: list[str] = ["assistant"]


def _axolotl_entry(folder: Path) -> dict[str, Any]:
    block = yaml.safe_load((folder / AXOLOTL_DATASETS_FILE).read_text())
    assert list(block) == ["datasets"] and len(block["datasets"]) == 1
    return block["datasets"][0]


def test_axolotl_matches_its_documented_schema(selections: dict[str, Path]) -> None:
    folder = selections["axolotl"] / f"budget-{BUDGETS[-1]}"
    entry = _AxEntry.model_validate(_axolotl_entry(folder))
    assert Path(entry.path) == (folder / SUBSET_FILES["axolotl"]).resolve()
    known = {r for sources in (entry.roles or {}).values() for r in sources}
    rows = _json_rows(Path(entry.path))
    assert [r["id"] for r in rows] == _picks(folder) and all("target" in r for r in rows)
    for row in rows:
        for turn in row[entry.field_messages]:
            assert {turn[k] for k in entry.message_property_mappings.values()}
            assert turn[entry.message_property_mappings["role"]] in known
    assert set(entry.roles_to_train) <= set(entry.roles or {})


def test_axolotl_chat_template_strategy(selections: dict[str, Path], tiny_tokenizer) -> None:
    """axolotl's settings model, dataset loader and chat_template strategy, where axolotl imports."""
    try:
        from axolotl.prompt_strategies.chat_template import load
        from axolotl.utils.data.shared import load_dataset_with_config
        from axolotl.utils.dict import DictDefault
        from axolotl.utils.schemas.datasets import SFTDataset
    except Exception as exc:
        pytest.skip(f"axolotl does not import here: {type(exc).__name__}: {exc}")

    folder = selections["axolotl"] / f"budget-{BUDGETS[0]}"
    entry = SFTDataset.model_validate(_axolotl_entry(folder))
    ds = load_dataset_with_config(DictDefault(entry.model_dump()), use_auth_token=False)
    assert ds["id"] == _picks(folder)
    cfg = DictDefault({"chat_template": "tokenizer_default", "sequence_len": 1024, "train_on_inputs": False})
    strategy = load(tiny_tokenizer, cfg, entry.model_dump())
    for row in ds:
        out = strategy.tokenize_prompt(row)
        trained = tiny_tokenizer.decode([t for t in out["labels"] if t != -100])
        answers = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
        assert all(a in trained for a in answers)  # the loss is on the assistant turns
        assert not any(m["content"] in trained for m in row["messages"] if m["role"] != "assistant")


# --- bad input, readers, the library entry point ---


def test_unknown_format_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["select", "-r", "lexical", "--no-store", "--format", "csv", "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("targetsel: error: --format") and "'csv'" in err
    assert all(f in err for f in EXPORT_FORMATS)
    assert not out.exists()


def test_explore_and_diagnose_read_an_hf_selection(selections: dict[str, Path], tmp_path: Path) -> None:
    out = selections["hf"]
    assert main(["explore", str(out), "-o", str(tmp_path / "page.html"), "-q"]) == 0
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    first = load_subset(out / "budget-50" / SUBSET_FILES["hf"]).messages(0)[-1]["content"]
    assert json.dumps(first)[1:30] in page
    diag = tmp_path / "diag"
    argv = ["diagnose", "--selection", str(out / "budget-50"), "-r", "lexical", "--no-store"]
    assert main([*argv, "--random-subsets", "2", "-o", str(diag), "-q"]) == 0
    points = json.loads((diag / "diagnosis.json").read_text())["points"]
    assert [p["budget"] for p in points] == [50]


def _pool(**extra: Any) -> ExampleSet:
    rows = [
        {
            "messages": [
                *([{"role": "system", "content": f"s{i}"}] if i % 2 else []),
                {"role": "user", "content": f"q{i}"},
                {"role": "assistant", "content": f"a{i}"},
            ],
            **extra,
        }
        for i in range(4)
    ]
    return ExampleSet.from_records(rows)


def test_llamafactory_without_ids_reads_back_as_the_pool(tmp_path: Path) -> None:
    pool = _pool()  # no id column: ids are content hashes, system turns included
    ranking = select(np.ones((1, 4)), "random", budget=4, seed=0)
    path, _ = export(pool, ranking, tmp_path, format="llamafactory")
    assert load_subset(path).ids == [pool.ids[i] for i in ranking.indices]


def test_llamafactory_refuses_turns_it_would_skip(tmp_path: Path) -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
                {"role": "assistant", "content": "c"},
            ]
        }
    ]
    ranking = select(np.ones((1, 1)), "random", budget=1)
    with pytest.raises(InvalidDataError, match=r"user, user, assistant.*--format"):
        export(ExampleSet.from_records(rows), ranking, tmp_path / "out", format="llamafactory")
    assert not any((tmp_path / "out").glob("*"))
    with pytest.raises(InvalidDataError, match="`system` column"):
        export(_pool(system="x"), select(np.ones((1, 4)), "random", budget=2), tmp_path / "o2", format="llamafactory")


def test_a_new_export_replaces_the_other_formats_files(tmp_path: Path) -> None:
    pool, ranking = _pool(), select(np.ones((1, 4)), "random", budget=3, seed=1)
    (tmp_path / LLAMAFACTORY_INFO_FILE).write_text(json.dumps({"mine": {"file_name": "mine.json"}}))
    export(pool, ranking, tmp_path, format="llamafactory")
    assert set(json.loads((tmp_path / LLAMAFACTORY_INFO_FILE).read_text())) == {"mine", LLAMAFACTORY_DATASET}
    export(pool, ranking, tmp_path, format="axolotl")
    export(pool, ranking, tmp_path, format="hf")
    assert sorted(p.name for p in tmp_path.iterdir()) == [LLAMAFACTORY_INFO_FILE, SELECTION_FILE, "subset"]
    assert set(json.loads((tmp_path / LLAMAFACTORY_INFO_FILE).read_text())) == {"mine"}  # the user's entry kept
    assert SelectionArtifact.open(tmp_path).find_subset().name == SUBSET_FILES["hf"]
    export(pool, ranking, tmp_path, format="hf")  # over an existing saved dataset
    assert load_subset(tmp_path / "subset").ids == [pool.ids[i] for i in ranking.indices]


def test_folder_formats_refuse_a_file_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="writes a folder"):
        export(_pool(), select(np.ones((1, 4)), "random", budget=2), tmp_path / "sub.jsonl", format="hf")
    assert not any(tmp_path.iterdir())
