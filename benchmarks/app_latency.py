"""Page-level latency of `eiip app`: from a click to the new result shown in the browser, per colorizer.

The app runs in its own process (as `eiip app`), driven by headless Chromium through Playwright on the same
machine. A 512x640 photo (the bundled `coffee`, the paper's Places2 size) and a free-form hole (seed 7) are
uploaded; for each colorizer, **Complete** (telea + colorizer) and a **hint** click inside the hole are timed
from the click until the result <img> has its new picture loaded, `repeats` times each (the median is shown,
and the app's own time from its status line). `mean` takes no hints; `internal-base` (a 1001-step fit at
full resolution) is left out unless named.

    python benchmarks/app_latency.py                       # about 3 min on 2 cores
    python benchmarks/app_latency.py --colorizers levin --repeats 5

Needs the [test] extra (Playwright) and the OS's chromium. Rows go to benchmarks/results/app-latency.jsonl
(replaced per colorizer).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "app-latency.jsonl"
COLORIZERS = ("levin", "local-linear", "validated-blend", "dt", "mean", "internal")
SIZE = (512, 640)


def _inputs(folder: Path) -> tuple[Path, Path, tuple[int, int]]:
    """The photo and mask files, and a hole pixel (x, y) near the hole's centroid, for the hint."""
    import numpy as np
    from PIL import Image

    from eiip.data.samples import center_crop_resize, load_photo_array
    from eiip.masks import generate_mask

    photo, mask = folder / "photo.png", folder / "mask.png"
    Image.fromarray(center_crop_resize(load_photo_array("coffee"), SIZE)).save(photo)
    hole = generate_mask("freeform", *SIZE, np.random.default_rng(7), ratio=(0.1, 0.2))
    Image.fromarray(hole.astype(np.uint8) * 255).save(mask)
    ys, xs = np.nonzero(hole)
    nearest = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return photo, mask, (int(xs[nearest]), int(ys[nearest]))


def _timed(page, action, number: int) -> tuple[float, float]:  # noqa: ANN001
    """Seconds from ``action()`` (a click) until the page shows result ``number`` with its picture loaded in
    #final; and the app's own seconds, from the status line."""
    began = time.perf_counter()
    action()
    page.wait_for_function(
        """label => { const status = document.querySelector('#status').innerText;
                      const img = document.querySelector('#final img');
                      return status.includes('Error')
                             || (status.startsWith(label) && img && img.complete && img.naturalWidth > 0); }""",
        arg=f"result {number}:", timeout=300_000)
    seconds = time.perf_counter() - began
    status = page.locator("#status").inner_text()
    server = re.search(r" in ([\d.]+) s", status)
    if "Error" in status or server is None:
        raise RuntimeError(f"the page shows {status!r}")
    return seconds, float(server.group(1))


def measure(colorizers: list[str], repeats: int) -> list[dict]:
    from playwright.sync_api import sync_playwright

    from eiip.app.headless import choose, click_image_pixel, find_chromium, open_page, running_app, wait_status

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("needs the OS's chromium (apt-get install chromium)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        folder = Path(tmp)
        photo, mask, (x, y) = _inputs(folder)
        (folder / "cwd").mkdir()
        with running_app(folder / "app", cwd=folder / "cwd", log=folder / "app.log") as url:
            page = open_page(playwright, url, chromium)
            page.locator("#photo-upload input[type=file]").set_input_files(str(photo))
            wait_status(page, "paint the hole")
            page.locator("#mask-upload input[type=file]").set_input_files(str(mask))
            page.wait_for_timeout(500)
            results = itertools.count(1)
            for colorizer in colorizers:
                choose(page, "colorizer", colorizer)
                complete = [_timed(page, lambda: page.click("#run"), next(results)) for _ in range(repeats)]
                hint = [] if colorizer == "mean" else [
                    _timed(page, lambda: click_image_pixel(page, "#final img", x, y), next(results))
                    for _ in range(repeats)]
                row = {"colorizer": colorizer, "size": "x".join(map(str, SIZE[::-1])), "repeats": repeats,
                       "complete_page_s": statistics.median(t for t, _ in complete),
                       "complete_app_s": statistics.median(s for _, s in complete),
                       "hint_page_s": statistics.median(t for t, _ in hint) if hint else None,
                       "hint_app_s": statistics.median(s for _, s in hint) if hint else None,
                       "machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": str(date.today())}
                print(json.dumps(row), flush=True)
                rows.append(row)
            page.context.browser.close()
    return rows


def _save(rows: list[dict]) -> None:
    kept = [json.loads(line) for line in RESULTS.read_text().splitlines()] if RESULTS.exists() else []
    names = {row["colorizer"] for row in rows}
    RESULTS.write_text("".join(json.dumps(row) + "\n" for row in [*(r for r in kept if r["colorizer"] not in names),
                                                                   *rows]))


def table(rows: list[dict]) -> str:
    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    lines = ["| colorizer | Complete: page (s) | Complete: app (s) | hint: page (s) | hint: app (s) |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| `{r['colorizer']}` | {cell(r['complete_page_s'])} | {cell(r['complete_app_s'])} | "
              f"{cell(r['hint_page_s'])} | {cell(r['hint_app_s'])} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--colorizers", nargs="+", default=list(COLORIZERS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = measure(args.colorizers, args.repeats)
    _save(rows)
    print(table(rows))


if __name__ == "__main__":
    main()
