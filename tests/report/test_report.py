"""Tests of targetsel.report on the paper's published tables (shared/paper_results)."""

from __future__ import annotations

import csv
import math
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from targetsel.errors import InvalidDataError, MissingArtifactError
from targetsel.report import (
    TIDY_COLUMNS,
    budget_table,
    plot_budgets,
    plot_quantiles,
    read_results,
    render_summary,
    spearman_table,
    write_results,
    write_summary,
)

PAPER = Path(__file__).resolve().parents[2].parent / "shared" / "paper_results"
LLAMA2 = PAPER / "tulu_v2" / "llama2-7b"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def paper_dir() -> Path:
    if not LLAMA2.is_dir():
        pytest.skip(f"paper results not found at {LLAMA2}")
    return LLAMA2


@pytest.fixture(scope="module")
def paper(paper_dir: Path) -> pd.DataFrame:
    return read_results(paper_dir)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties get their average rank (written out here, independent of scipy)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _hand_spearman(path: Path, dataset: str, method: str, column: str) -> float:
    rows = [r for r in _csv_rows(path) if r["dataset"] == dataset and r["method"] == method]
    x = _ranks([float(r["bin"]) for r in rows])
    y = _ranks([float(r[column]) for r in rows])
    mx, my = sum(x) / len(x), sum(y) / len(y)
    cov = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Normalise an in-memory frame through the same code as files (write + read)."""
    with tempfile.TemporaryDirectory() as tmp:
        return read_results(write_results(df, Path(tmp) / "r.csv"))


@pytest.mark.parametrize(
    ("name", "experiment", "metrics"),
    [
        ("binning_ce_loss_quantile.csv", "quantile", ["dev_loss", "test_loss"]),
        ("binning_true_metric_quantile.csv", "quantile", ["true_metric"]),
        ("budget_ce_loss_budget.csv", "budget", ["dev_loss", "test_loss"]),
        ("budget_true_metric_budget.csv", "budget", ["true_metric"]),
        ("budget_ce_loss_zero_shot.csv", "zero_shot", ["dev_loss", "test_loss"]),
        ("budget_true_metric_zero_shot.csv", "zero_shot", ["true_metric"]),
        ("sub_bin0_focus_ce_loss_quantile.csv", "quantile_focus", ["dev_loss", "test_loss"]),
        ("sub_bin0_focus_true_metric_quantile.csv", "quantile_focus", ["true_metric"]),
    ],
)
def test_read_each_paper_file_kind(paper_dir: Path, name: str, experiment: str, metrics: list[str]) -> None:
    path = paper_dir / name
    source = _csv_rows(path)
    df = read_results(path)
    assert tuple(df.columns) == TIDY_COLUMNS
    assert len(df) == len(source) * len(metrics)
    assert set(df["experiment"]) == {experiment}
    assert sorted(set(df["metric"])) == sorted(metrics)
    for metric in metrics:
        assert (df["metric"] == metric).sum() == len(source)
    if experiment == "budget":
        assert df["budget"].notna().all() and df["bin"].isna().all() and df["seed"].notna().all()
        assert sorted(set(df["budget"].astype(int))) == sorted({int(r["num_samples"]) for r in source})
        first = source[0]
        row = df[
            (df["dataset"] == first["dataset"])
            & (df["method"] == first["method"])
            & (df["budget"] == int(first["num_samples"]))
            & (df["seed"] == int(first["seed"]))
            & (df["metric"] == metrics[-1])
        ]
        column = {"dev_loss": "dev", "test_loss": "test", "true_metric": "true_metric"}[metrics[-1]]
        assert row["value"].item() == pytest.approx(float(first[column]))
    elif experiment == "zero_shot":
        assert set(df["method"]) == {"Zero-shot"}
        assert df["budget"].isna().all() and df["bin"].isna().all()
    else:
        assert df["bin"].notna().all() and df["budget"].isna().all()
        assert set(df["bin"].astype(int)) == {int(r["bin"]) for r in source}


def test_read_directory_concatenates_every_file(paper: pd.DataFrame, paper_dir: Path) -> None:
    expected = 0
    for path in paper_dir.glob("*.csv"):
        rows = _csv_rows(path)
        expected += len(rows) * sum(c in rows[0] for c in ("dev", "test", "true_metric"))
    assert len(paper) == expected
    assert set(paper["experiment"]) == {"budget", "quantile", "quantile_focus", "zero_shot"}
    assert str(paper["budget"].dtype) == "Int64" and paper["value"].dtype == float


def test_tidy_round_trip_and_inferred_experiment(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "dataset": ["gsm8k", "gsm8k", "gsm8k"],
            "method": ["LESS (RR)", "LESS (RR)", "Zero-shot"],
            "budget": [500, None, None],
            "bin": [None, 3, None],
            "seed": [0, None, None],
            "metric": ["dev_loss", "subset_distance", "dev_loss"],
            "value": [0.7, 0.12, 0.95],
        }
    )
    out = write_results(rows, tmp_path / "sub" / "results.csv")
    assert [p.name for p in out.parent.iterdir()] == ["results.csv"]  # no temp file left behind
    back = read_results(out)
    assert tuple(back.columns) == TIDY_COLUMNS
    assert back["experiment"].tolist() == ["budget", "quantile", "zero_shot"]
    assert back["value"].tolist() == [0.7, 0.12, 0.95]
    again = read_results(write_results(back, tmp_path / "again.csv"))
    pd.testing.assert_frame_equal(back, again)


@pytest.mark.parametrize(
    ("dataset", "method"),
    [("tydiqa", "LESS (RR)"), ("bbh", "LESS (RR)"), ("codex", "RDS+ (RR)"), ("codex", "EMBED (RR)")],
)
def test_spearman_matches_hand_computation(paper: pd.DataFrame, paper_dir: Path, dataset: str, method: str) -> None:
    path = paper_dir / "binning_ce_loss_quantile.csv"
    table = spearman_table(paper, metric="dev_loss", experiment="quantile")
    got = table[(table["dataset"] == dataset) & (table["method"] == method)]
    assert got["n_bins"].item() == 10
    assert got["rho"].item() == pytest.approx(_hand_spearman(path, dataset, method, "dev"), abs=1e-12)
    test = spearman_table(paper, metric="test_loss")
    got_test = test[(test["dataset"] == dataset) & (test["method"] == method)]["rho"].item()
    assert got_test == pytest.approx(_hand_spearman(path, dataset, method, "test"), abs=1e-12)


def test_spearman_pinned_values_and_paper_claim(paper: pd.DataFrame) -> None:
    table = spearman_table(paper, metric="dev_loss")
    rho = {(d, m): r for d, m, r in zip(table["dataset"], table["method"], table["rho"], strict=True)}
    assert rho[("tydiqa", "LESS (RR)")] == pytest.approx(1.0)
    assert rho[("bbh", "LESS (RR)")] == pytest.approx(151 / 165)  # 0.915...
    assert round(rho[("codex", "RDS+ (RR)")], 2) == 0.22
    # The paper: LESS +0.92..+1.00 across tasks; RDS+ and EMBED -0.66..+0.68 (query-set loss).
    less = table[table["method"] == "LESS (RR)"]["rho"].round(2)
    others = table[table["method"] != "LESS (RR)"]["rho"].round(2)
    assert (less.min(), less.max()) == (0.92, 1.0)
    assert (others.min(), others.max()) == (-0.66, 0.68)
    assert (table["p_value"] >= 0).all()


def test_spearman_averages_seeds_first() -> None:
    rows = [("d", "M", b, s, v) for b, vals in enumerate([(1, 3), (5, 5), (2, 4)]) for s, v in enumerate(vals)]
    df = pd.DataFrame(rows, columns=["dataset", "method", "bin", "seed", "value"]).assign(metric="dev_loss")
    table = spearman_table(_normalise(df), metric="dev_loss")
    # Means per bin are 2, 5, 3 → ranks 1, 3, 2 against bins 1, 2, 3.
    assert table["rho"].item() == pytest.approx(0.5)


def test_budget_table_mean_sem_and_zero_shot(paper: pd.DataFrame, paper_dir: Path) -> None:
    table = budget_table(paper, "true_metric")
    vals = [
        float(r["true_metric"])
        for r in _csv_rows(paper_dir / "budget_true_metric_budget.csv")
        if r["dataset"] == "gsm8k" and r["method"] == "Random" and r["num_samples"] == "1000"
    ]
    mean = sum(vals) / len(vals)
    sem = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) / math.sqrt(len(vals))
    row = table[(table["dataset"] == "gsm8k") & (table["method"] == "Random") & (table["budget"] == 1000)]
    assert row["mean"].item() == pytest.approx(mean)
    assert row["sem"].item() == pytest.approx(sem)
    assert row["n_seeds"].item() == 3
    zero = table[table["method"] == "Zero-shot"]
    assert len(zero) == 5 and zero["budget"].isna().all()
    gsm = [r for r in _csv_rows(paper_dir / "budget_true_metric_zero_shot.csv") if r["dataset"] == "gsm8k"]
    assert zero[zero["dataset"] == "gsm8k"]["mean"].item() == pytest.approx(float(gsm[0]["true_metric"]))


def _assert_png(path: Path) -> None:
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 5_000


def test_figures_are_written(paper: pd.DataFrame, tmp_path: Path) -> None:
    quantile = plot_quantiles(paper, tmp_path, metrics=["dev_loss"], reference=paper)
    budget = plot_budgets(paper, tmp_path, metrics=["true_metric"])
    assert [p.name for p in quantile] == ["quantile_dev_loss.png"]
    assert [p.name for p in budget] == ["budget_true_metric.png"]
    for path in quantile + budget:
        _assert_png(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["budget_true_metric.png", "quantile_dev_loss.png"]
    assert plot_budgets(paper[paper["experiment"] == "quantile"], tmp_path / "none") == []


def test_summary_has_rho_table_and_baselines(paper: pd.DataFrame, tmp_path: Path) -> None:
    text = render_summary(paper)
    assert "### quantile: dev_loss" in text
    assert "| dataset | EMBED (RR) | LESS (RR) | RDS+ (RR) |" in text
    assert "| tydiqa | +0.43 | +1.00 | +0.22 |" in text
    assert "| best method | best | Random | Zero-shot |" in text
    assert "### true_metric (higher is better)" in text
    path = write_summary(paper, tmp_path / "summary.md")
    assert path.read_text(encoding="utf-8") == text


def test_missing_column_is_invalid_data(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("dataset,method,metric\ngsm8k,Random,dev_loss\n", encoding="utf-8")
    with pytest.raises(InvalidDataError, match=r"bad\.csv.*value"):
        read_results(bad)
    wide = tmp_path / "wide.csv"
    wide.write_text("dataset,bin,dev\ngsm8k,0,1.0\n", encoding="utf-8")
    with pytest.raises(InvalidDataError, match=r"wide\.csv.*method"):
        read_results(wide)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InvalidDataError, match=r"other\.csv"):
        read_results(other)


def test_bad_values_are_invalid_data(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("dataset,method,budget,metric,value\ngsm8k,Random,5.5,dev_loss,1.0\n", encoding="utf-8")
    with pytest.raises(InvalidDataError, match="budget"):
        read_results(path)
    path.write_text("dataset,method,budget,metric,value\ngsm8k,Random,500,dev_loss,abc\n", encoding="utf-8")
    with pytest.raises(InvalidDataError, match="value"):
        read_results(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(InvalidDataError, match="empty"):
        read_results(path)


def test_missing_path_is_missing_artifact(tmp_path: Path) -> None:
    with pytest.raises(MissingArtifactError, match=r"nope\.csv"):
        read_results(tmp_path / "nope.csv")
    with pytest.raises(MissingArtifactError, match=r"no \*\.csv"):
        read_results(tmp_path)


def test_cli_report_on_paper_folder(paper_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from targetsel.cli import app

    # A reduced copy of the paper folder keeps the test fast (fewer figures).
    folder = tmp_path / "paper"
    folder.mkdir()
    for name in (
        "binning_ce_loss_quantile.csv",
        "budget_true_metric_budget.csv",
        "budget_true_metric_zero_shot.csv",
    ):
        shutil.copy(paper_dir / name, folder / name)
    prefix = ["report"]
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [*prefix, str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "LESS (RR)" in result.output and "+1.00" in result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "budget_true_metric.png",
        "quantile_dev_loss.png",
        "quantile_test_loss.png",
        "spearman.csv",
        "summary.md",
    ]
    assert "| dataset | EMBED (RR) | LESS (RR) | RDS+ (RR) |" in (out / "summary.md").read_text(encoding="utf-8")
    rho = pd.read_csv(out / "spearman.csv")
    assert set(rho["metric"]) == {"dev_loss", "test_loss"}

    quiet = CliRunner().invoke(app, [*prefix, str(folder / "binning_ce_loss_quantile.csv"), "-o", str(out), "-q"])
    assert quiet.exit_code == 0 and quiet.output == ""

    missing = CliRunner().invoke(app, [*prefix, str(tmp_path / "nope"), "-o", str(tmp_path / "o2")])
    assert isinstance(missing.exception, MissingArtifactError)
    assert not (tmp_path / "o2").exists()  # nothing written on bad input


def _cells_frame() -> pd.DataFrame:
    """Tidy rows of trained cells: LESS's loss rises with its distance, EMBED's does not."""
    rows = []
    less = [(0.10, 1.00), (0.15, 1.10), (0.20, 1.30), (0.30, 1.35), (0.40, 1.60)]
    embed = [(0.10, 1.30), (0.15, 1.00), (0.20, 1.40), (0.30, 1.10), (0.40, 1.20)]
    for method, pairs in (("LESS (RR)", less), ("EMBED (RR)", embed)):
        for b, (dist, loss) in enumerate(pairs):
            for seed in (0, 1):  # two seeds per bin: each (bin, seed) is its own cell
                key = ("quantile", "math", method, None, b, seed)
                rows.append((*key, "subset_distance", dist + 0.001 * seed))
                rows.append((*key, "dev_loss", loss + 0.002 * seed))
                rows.append((*key, "test_loss", 2 * loss))
    # a budget cell (bin empty) of LESS with a distance but no loss: not a cell of the table
    rows.append(("budget", "math", "LESS (RR)", 100, None, 0, "subset_distance", 0.5))
    # zero-shot rows have no distance
    rows.append(("zero_shot", "math", "Zero-shot", None, None, None, "dev_loss", 2.0))
    return pd.DataFrame(rows, columns=list(TIDY_COLUMNS))


def test_distance_loss_table_pinned_against_scipy(tmp_path: Path) -> None:
    from scipy.stats import spearmanr

    from targetsel.report import distance_loss_table

    df = _cells_frame()
    path = write_results(df, tmp_path / "results.csv")
    table = distance_loss_table(read_results(path))
    assert list(table.columns) == ["dataset", "method", "metric", "spearman", "p_value", "n_cells"]
    got = table.set_index(["method", "metric"])
    for method in ("LESS (RR)", "EMBED (RR)"):
        cells = df[(df["method"] == method) & (df["experiment"] == "quantile")]
        dist = cells[cells["metric"] == "subset_distance"]["value"].to_numpy()
        for metric in ("dev_loss", "test_loss"):
            loss = cells[cells["metric"] == metric]["value"].to_numpy()
            assert got.loc[(method, metric), "spearman"] == pytest.approx(spearmanr(dist, loss).statistic)
            assert got.loc[(method, metric), "n_cells"] == 10
    assert got.loc[("LESS (RR)", "dev_loss"), "spearman"] > 0.9
    assert abs(got.loc[("EMBED (RR)", "dev_loss"), "spearman"]) < 0.5
    # no distance rows: an empty table, and no section in the summary
    assert distance_loss_table(df[df["metric"] != "subset_distance"]).empty
    assert "Does distance predict loss?" in render_summary(df)
    assert "Does distance predict loss?" not in render_summary(df[df["metric"] != "subset_distance"])


def test_cli_report_writes_distance_vs_loss(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from targetsel.cli import app

    path = write_results(_cells_frame(), tmp_path / "results.csv")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["report", str(path), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    with open(out / "distance_vs_loss.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {"dataset", "method", "metric", "spearman", "n_cells"} <= set(rows[0])
    less = next(r for r in rows if r["method"] == "LESS (RR)" and r["metric"] == "dev_loss")
    assert float(less["spearman"]) > 0.9 and less["n_cells"] == "10"
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "### subset distance vs dev_loss" in summary and "(n=10)" in summary


def _as_demo_tasks(df: pd.DataFrame) -> pd.DataFrame:
    names = {"gsm8k": "math", "bbh": "dates", "codex": "humaneval"}
    out = df[df["dataset"].isin(list(names))].copy()
    out["dataset"] = out["dataset"].map(names)
    return out


def test_reference_table_pairs_demo_tasks_with_the_papers(paper: pd.DataFrame) -> None:
    from targetsel.report import reference_table, spearman_table

    ours = _as_demo_tasks(paper)
    ours.loc[(ours["dataset"] == "math") & (ours["method"] == "LESS (RR)"), "value"] *= -1  # ρ flips sign
    t = reference_table(ours, paper)  # default pairing: math→gsm8k, dates→bbh, humaneval→codex
    assert set(zip(t["dataset"], t["reference_dataset"], strict=True)) == {
        ("math", "gsm8k"),
        ("dates", "bbh"),
        ("humaneval", "codex"),
    }
    paper_rho = spearman_table(paper, "dev_loss").set_index(["dataset", "method"])["rho"]
    dev = t[(t["metric"] == "dev_loss") & (t["experiment"] == "quantile")].set_index(["dataset", "method"])
    assert dev.loc[("math", "LESS (RR)"), "reference_rho"] == pytest.approx(paper_rho[("gsm8k", "LESS (RR)")])
    assert dev.loc[("math", "LESS (RR)"), "rho"] == pytest.approx(-paper_rho[("gsm8k", "LESS (RR)")])
    assert dev.loc[("dates", "EMBED (RR)"), "rho"] == pytest.approx(dev.loc[("dates", "EMBED (RR)"), "reference_rho"])
    assert (dev["n_bins"] == dev["reference_n_bins"]).all()
    # An explicit pairing replaces the default; unpaired tasks drop out.
    only = reference_table(ours, paper, {"math": "tydiqa"})
    assert set(only["reference_dataset"]) == {"tydiqa"}


def test_cli_report_writes_spearman_vs_reference(paper_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from targetsel.cli import app
    from targetsel.errors import ConfigurationError

    paper = read_results(paper_dir / "binning_ce_loss_quantile.csv")
    ours = write_results(_as_demo_tasks(paper), tmp_path / "results.csv")
    ref = tmp_path / "ref"
    ref.mkdir()
    shutil.copy(paper_dir / "binning_ce_loss_quantile.csv", ref)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["report", str(ours), "-o", str(out), "--reference", str(ref), "-q"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out / "spearman_vs_reference.csv")
    assert len(rows) == 3 * 3 * 2  # 3 tasks x 3 methods x {dev, test} loss
    assert (rows["rho"] - rows["reference_rho"]).abs().max() < 1e-12
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "## Spearman ρ beside the reference" in summary and "| math | gsm8k | LESS (RR) | +0.94 | +0.94 |" in summary

    bad = CliRunner().invoke(
        app, ["report", str(ours), "-o", str(tmp_path / "o2"), "--reference", str(ref), "--reference-dataset", "math"]
    )
    assert isinstance(bad.exception, ConfigurationError) and "OURS=THEIRS" in str(bad.exception)
    assert not (tmp_path / "o2").exists()


def _mixture_frame() -> pd.DataFrame:
    """A mixture run: per (method, budget, seed) one subset for math and dates, rows per task."""
    rows = [("zero_shot", t, "Zero-shot", None, None, None, "dev_loss", 3.0) for t in ("math", "dates")]
    for seed in (0, 1):
        for budget in (10, 20):
            for method, base in (("Random", 2.5), ("EMBED (RR)", 2.0)):
                for task in ("math", "dates"):
                    loss = base - budget / 100 + seed / 10 + (task == "dates") / 5
                    rows.append(("mixture", task, method, budget, None, seed, "dev_loss", loss))
                    if method != "Random":
                        share = 0.5 if budget == 20 else (0.6 if task == "math" else 0.4)
                        rows.append(("mixture", task, method, budget, None, seed, "subset_share", share))
    return pd.DataFrame(rows, columns=list(TIDY_COLUMNS))


def test_mixture_rows_get_the_budget_figures_per_task_and_a_composition_table(tmp_path: Path) -> None:
    df = read_results(write_results(_mixture_frame(), tmp_path / "results.csv"))
    assert set(df["experiment"]) == {"mixture", "zero_shot"}
    table = budget_table(df, "dev_loss", experiment="mixture")
    embed = table[(table["method"] == "EMBED (RR)") & (table["dataset"] == "math") & (table["budget"] == 10)]
    assert embed["mean"].item() == pytest.approx(1.95) and embed["n_seeds"].item() == 2
    assert budget_table(df, "dev_loss")["budget"].isna().all()  # no budget-sweep rows: zero-shot only
    paths = plot_budgets(df, tmp_path / "fig", experiment="mixture")
    assert [p.name for p in paths] == ["mixture_dev_loss.png"]  # the composition is a table, not a figure
    _assert_png(paths[0])
    assert plot_budgets(df, tmp_path / "fig") == []
    text = render_summary(df)
    assert "## Several tasks trained together: best method per budget" in text
    assert "## Best method per budget" not in text and "## Zero-shot baseline" not in text
    assert "| math | 10 | EMBED (RR) | 1.950 ± 0.050 | 2.450 ± 0.050 | 3.000 |" in text
    assert "### Share of each subset picked for each task" in text
    assert "| EMBED (RR) | 10 | 0.60 | 0.40 |" in text and "subset_share (" not in text
