"""The explorer page in a real browser: headless Chromium driven by Selenium.

Skipped, with the reason, where Chromium, its driver or Selenium is missing (Debian:
``apt-get install -y chromium chromium-driver``; ``pip install selenium``, in the ``test`` extra).
The second test builds a 100,000-row page and prints the load time measured in the browser
(``pytest -s``, or the captured output of a failure).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from targetsel.cli import main
from targetsel.data import load_examples
from targetsel.explore import write_page

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-extensions",
    "--window-size=1280,1600",
)


def _binary(env: str, *names: str) -> str | None:
    if os.environ.get(env):
        return os.environ[env]
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    chromium = _binary("TARGETSEL_CHROMIUM", "chromium", "chromium-browser", "google-chrome")
    driver_path = _binary("TARGETSEL_CHROMEDRIVER", "chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("no headless Chromium here (apt-get install -y chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(driver, page: Path) -> dict:
    """Load ``page`` and wait until its script has drawn everything; returns its timings."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.resolve().as_uri())
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.documentElement.dataset.ready"))
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    return driver.execute_script(
        "var n = performance.getEntriesByType('navigation')[0];"
        "return Object.assign({dom_content_loaded_ms: n.domContentLoadedEventEnd}, window.exploreTiming);"
    )


def _texts(driver, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def _picks_shown(driver) -> list[dict]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#picks tr.pick')).map(function (tr) {"
        " var c = tr.children; return {rank: +c[0].textContent, id: c[2].textContent, query: c[4].textContent,"
        " score: c[5].textContent}; });"
    )


def test_demo_selection_page_in_the_browser(browser, demo_selection: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "explore.html"
    args = ["explore", str(demo_selection), "-o", str(page), "--diagnose", "-r", "lexical", "--no-store"]
    assert main([*args, "--random-subsets", "3", "-q"]) == 0
    _open(browser, page)
    meta = json.loads((demo_selection / "budget-100" / "selection.json").read_text(encoding="utf-8"))
    subset = load_examples(demo_selection / "budget-100" / "subset.jsonl")

    # header
    header = browser.find_element(By.ID, "header").text
    assert "round_robin" in header and "lexical" in header
    assert browser.find_element(By.ID, "h-budgets").text == "20, 50, 100"
    assert browser.find_element(By.ID, "h-pool").text == "2,470 rows"
    assert browser.find_element(By.ID, "h-queries").text == "50 rows"

    # composition: one bar per source (subset and pool), and the budget slider changes it
    labels = _texts(browser, "#composition-bars .label")
    assert labels[0] == "arithmetic_word_problems" and len(labels) == 10
    assert len(browser.find_elements(By.CSS_SELECTOR, "#composition-bars .bar.pool")) == 10
    assert browser.find_elements(By.CSS_SELECTOR, "#composition-trend svg path")
    first = [s for s in subset.column("source")[:20]].count("arithmetic_word_problems")
    browser.find_element(By.CSS_SELECTOR, "#budget-marks button[data-budget='20']").click()
    assert browser.find_element(By.ID, "budget-value").text == "20 of 100"
    assert _texts(browser, "#composition-bars .num")[0].startswith(f"{first} · ")

    # the distance against random subsets, one row per budget
    assert len(browser.find_elements(By.CSS_SELECTOR, "#diagnosis-body svg circle")) == 3
    rows = browser.find_elements(By.CSS_SELECTOR, "#diagnosis-body .diag-table tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows[1:]] == ["20", "50", "100"]

    # a query's picks, in order, with the scores selection.json records
    browser.find_element(By.CSS_SELECTOR, "#budget-marks button[data-budget='100']").click()
    browser.find_element(By.CSS_SELECTOR, "#queries li.query[data-query='2']").click()
    assert "Query #2" in browser.find_element(By.ID, "query-detail").text
    expected = [p for p in meta["picks"] if p["query_index"] == 2]
    shown = _picks_shown(browser)
    assert [s["rank"] for s in shown] == [p["rank"] + 1 for p in expected]
    assert [s["id"] for s in shown] == [p["id"] for p in expected]
    assert [float(s["score"]) for s in shown] == pytest.approx([p["score"] for p in expected], abs=1e-4)
    assert {s["query"] for s in shown} == {"#2"}

    # one pick's full conversation, on click
    browser.find_element(By.CSS_SELECTOR, "#picks tr.pick").click()
    detail = browser.find_element(By.CSS_SELECTOR, "#picks tr.detail:not([hidden]) .conversation")
    rank = expected[0]["rank"]
    for m in subset.messages(rank):
        assert " ".join(m["content"].split()) in " ".join(detail.text.split())

    # search over every pick: back to all queries, then type a word from one conversation
    browser.find_element(By.CSS_SELECTOR, "#queries li.query-all").click()
    needle = "victor"
    box = browser.find_element(By.ID, "search")
    box.send_keys(needle.upper())
    want = [
        i
        for i, (ex_id, msgs, src) in enumerate(
            zip(subset.ids, subset.iter_messages(), subset.column("source"), strict=True)
        )
        if needle in "\n".join([ex_id, src, *(m["content"] for m in msgs)]).lower()
    ]
    assert want, "the needle should occur in the demo picks"
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 5).until(lambda d: len(_picks_shown(d)) == min(50, len(want)))
    assert [s["rank"] - 1 for s in _picks_shown(browser)] == want[:50]
    assert browser.find_element(By.ID, "pick-count").text.startswith(f"{len(want)} pick")
    box.clear()
    box.send_keys("no-such-text-anywhere")
    WebDriverWait(browser, 5).until(lambda d: "No pick matches" in d.find_element(By.ID, "picks").text)


def test_100k_row_page_loads_fast_in_the_browser(browser, synthetic_selection, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    n = 100_000
    folder = synthetic_selection(tmp_path / "big", n)
    t = time.perf_counter()
    page = write_page(folder)
    build_s = time.perf_counter() - t
    size_mb = page.stat().st_size / 1e6
    timing = _open(browser, page)
    assert timing["rows"] == n
    assert len(browser.find_elements(By.CSS_SELECTOR, "#picks tr.pick")) == 50  # one page of picks, not 100,000
    # interactions on the full subset: a budget change, a query, a search (each timed in the browser)
    moved = browser.execute_script(
        "var t = performance.now(), r = document.getElementById('budget'); r.value = 40000;"
        "r.dispatchEvent(new Event('input')); return new Promise(function (done) {"
        " requestAnimationFrame(function () { requestAnimationFrame(function () {"
        " done(performance.now() - t); }); }); });"
    )
    assert browser.find_element(By.ID, "budget-value").text == "40,000 of 100,000"
    t0 = browser.execute_script("return performance.now()")
    browser.find_element(By.CSS_SELECTOR, "#queries li.query[data-query='7']").click()
    query_ms = browser.execute_script("return performance.now()") - t0
    assert browser.find_element(By.ID, "pick-count").text.startswith("200 picks")
    t0 = browser.execute_script("return performance.now()")
    browser.find_element(By.ID, "search").send_keys("row-000207")
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "pick-count").text.startswith("1 pick"))
    search_ms = browser.execute_script("return performance.now()") - t0
    t = timing
    print(
        f"\nexplore page, {n:,} rows: {size_mb:.1f} MB written in {build_s:.1f} s; in Chromium, after navigation: "
        f"drawn at {t['ready_since_navigation_ms']:.0f} ms, DOMContentLoaded at {t['dom_content_loaded_ms']:.0f} ms "
        f"(JSON parse {t['parse_ms']:.0f} ms, first render {t['render_ms']:.0f} ms); budget change {moved:.0f} ms, "
        f"query {query_ms:.0f} ms, first search {search_ms:.0f} ms (incl. the 120 ms debounce)"
    )
    assert timing["ready_since_navigation_ms"] < 20_000  # a generous bound: the figure above is the measurement


def _visible(driver, css: str, attr: str) -> list[str]:
    """``data-<attr>`` of the elements matching ``css`` that are laid out (not hidden)."""
    return driver.execute_script(
        "var css = arguments[0], key = arguments[1];"
        "return Array.from(document.querySelectorAll(css)).filter(function (e) { return e.offsetParent !== null; })"
        ".map(function (e) { return e.dataset[key]; });",
        css,
        attr,
    )


def test_target_selector_in_the_browser(browser, tiny_targets: dict[str, Path], tmp_path: Path) -> None:
    """A selection of three targets: choosing one shows only its picks, queries, composition and distances."""
    from selenium.webdriver.common.by import By

    sel, page = tmp_path / "sel", tmp_path / "explore.html"
    queries = [a for t in ("math", "code", "chat") for a in ("--query", f"{t}={tiny_targets[t]}")]
    lexical = ["-r", "lexical", "-p", "dim=256", "--no-store"]
    select = ["select", "--pool", str(tiny_targets["pool"]), *queries, "--mix", "weights:math=2,code=1,chat=1"]
    assert main([*select, *lexical, "--budgets", "8,16", "--no-decontaminate", "-o", str(sel), "-q"]) == 0
    assert main(["explore", str(sel), "-o", str(page), "--diagnose", *lexical, "--random-subsets", "0", "-q"]) == 0
    _open(browser, page)
    picks = json.loads((sel / "budget-16" / "selection.json").read_text(encoding="utf-8"))["picks"]
    button = lambda name: browser.find_element(By.CSS_SELECTOR, f"#target-buttons button[data-target='{name}']")  # noqa: E731

    # every target at first; the selector shows each target's picks within the budget
    assert _texts(browser, "#target-buttons button") == ["all targets 16", "math 8", "code 4", "chat 4"]
    assert browser.find_element(By.ID, "pick-count").text.startswith("16 picks")
    assert len(_visible(browser, "#queries li.query", "target")) == 9

    # one target: the picks table, the query list, the composition and the distances are its own
    button("code").click()
    assert "on" in button("code").get_attribute("class")
    code = [p for p in picks if p["target"] == "code"]
    assert [s["id"] for s in _picks_shown(browser)] == [p["id"] for p in code]
    assert browser.find_element(By.ID, "pick-count").text.startswith("4 picks")
    assert _visible(browser, "#queries li.query", "target") == ["code"] * 3
    assert "the 4 picks of target code" in browser.find_element(By.ID, "composition-by").text
    assert _texts(browser, "#composition-bars .num")[0].startswith("4 · 100.0%")  # the code topic only
    assert "code picks" in _texts(browser, "#diagnosis-body .diag-table th")
    rows = browser.find_elements(By.CSS_SELECTOR, "#diagnosis-body .diag-table tr")
    assert [[td.text for td in r.find_elements(By.TAG_NAME, "td")][:2] for r in rows[1:]] == [["8", "2"], ["16", "4"]]
    assert "of target code" in browser.find_element(By.ID, "diagnosis-target").text

    # one of its queries (listed after math's three): the picks it chose, named in code's own numbering
    q = code[0]["query_index"]
    browser.find_element(By.CSS_SELECTOR, f"#queries li.query[data-query='{3 + q}']").click()
    assert f"Query code #{q}" in browser.find_element(By.ID, "query-detail").text
    assert [s["id"] for s in _picks_shown(browser)] == [p["id"] for p in code if p["query_index"] == q]

    # the budget slider still applies; "all targets" brings every pick back
    browser.find_element(By.CSS_SELECTOR, "#queries li.query-all").click()
    assert "All picks of target code" in browser.find_element(By.ID, "query-detail").text
    browser.find_element(By.CSS_SELECTOR, "#budget-marks button[data-budget='8']").click()
    assert _texts(browser, "#target-buttons button")[2] == "code 2"
    assert browser.find_element(By.ID, "pick-count").text.startswith("2 picks")
    button("").click()
    assert browser.find_element(By.ID, "pick-count").text.startswith("8 picks")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#diagnosis-body svg circle")) == 2  # union W1 per budget
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
