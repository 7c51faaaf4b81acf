"""Make the README's screenshot of the selection explorer (``docs/explore.png``) with headless Chromium.

Runs a demo selection (the bundled pool, the HumanEval task, embed + round-robin, three budgets),
writes its explorer page with a diagnosis, opens it in headless Chromium through Selenium, opens
one query and one of its picks, and saves the window as a small palette PNG.

Needs ``chromium`` and ``chromium-driver`` (Debian packages), ``selenium`` and Pillow::

    python -m tools.explore_screenshot docs/explore.png
    python -m tools.explore_screenshot docs/explore.png --selection out/   # an existing selection
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from targetsel.cli import main as targetsel

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-extensions",
    "--hide-scrollbars",
)


def demo_page(work: Path) -> Path:
    """Select on the demo (HumanEval, budgets 50/200/500) and write its page with a diagnosis."""
    stores, out = work / "stores", work / "selection"
    common = ["--store-dir", str(stores), "-q"]
    if targetsel(["select", "--task", "humaneval", "--budgets", "50,200,500", "-o", str(out), *common]) != 0:
        raise SystemExit("the demo selection failed")
    if targetsel(["explore", str(out), "--diagnose", *common]) != 0:
        raise SystemExit("writing the explorer page failed")
    return out / "explore.html"


def screenshot(page: Path, png: Path, *, width: int = 1200, height: int = 1900, colors: int = 96) -> Path:
    """Open ``page``, show one query's picks and one conversation, save a ``colors``-colour PNG."""
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in (*FLAGS, f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"), options=options)
    try:
        driver.get(page.resolve().as_uri())
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.documentElement.dataset.ready"))
        driver.find_element(By.CSS_SELECTOR, "#budget-marks button[data-budget='200']").click()
        driver.find_element(By.CSS_SELECTOR, "#queries li.query[data-query='1']").click()
        driver.find_element(By.CSS_SELECTOR, "#picks tr.pick").click()
        raw = png.with_suffix(".raw.png")
        driver.save_screenshot(str(raw))
    finally:
        driver.quit()
    with Image.open(raw) as img:
        img.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
    raw.unlink()
    return png


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("png", type=Path, help="where to save the screenshot, e.g. docs/explore.png")
    parser.add_argument("--selection", type=Path, help="an existing selection folder (default: run the demo)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.selection is None:
            page = demo_page(Path(tmp))
        else:
            page = Path(tmp) / "explore.html"
            if targetsel(["explore", str(args.selection), "-o", str(page), "-q"]) != 0:
                raise SystemExit("writing the explorer page failed")
        args.png.parent.mkdir(parents=True, exist_ok=True)
        out = screenshot(page, args.png)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    _main()
