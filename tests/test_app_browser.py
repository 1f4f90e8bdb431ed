"""`eiip app` in a real browser: headless Chromium (the OS package) driven by Playwright.

Uploads a photo, paints a stroke with the mouse, completes it, downloads the result and the app's saved mask,
checks them against the stroke and `eiip inpaint`, then clicks a color hint. Needs the ``[app]`` extra, the
``playwright`` package and ``chromium`` (``.ci/run`` installs it); skipped where they are missing, except in
CI (``CI`` set), where a missing browser fails.
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import re
import shutil
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
from PIL import Image

from eiip.app.headless import choose, click_image_pixel, find_chromium, open_page, running_app, wait_status
from eiip.data.samples import center_crop_resize, load_photo_array
from eiip.io import read_image, read_mask
from helpers import run_cli

HINT_COLOR = (0xe0 / 255, 0x3c / 255, 0x31 / 255)  # the page's default hint color, #e03c31


def _chromium() -> str:
    path = find_chromium()
    if path is None or importlib.util.find_spec("playwright") is None or importlib.util.find_spec("gradio") is None:
        if os.environ.get("CI"):
            pytest.fail("the browser test needs chromium, playwright and gradio (.ci/run installs them)")
        pytest.skip("chromium, playwright or gradio is not installed")
    return path


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """`eiip app` in a subprocess started in an empty folder: (url, the app's folder, the working folder)."""
    _chromium()
    root = tmp_path_factory.mktemp("app")
    cwd, folder = root / "cwd", root / "app"
    cwd.mkdir()
    with running_app(folder, cwd=cwd, log=root / "server.log", extra_args=("--device", "cpu")) as url:
        yield url, folder, cwd


def _run_through(line: np.ndarray, center: int) -> tuple[int, int]:
    """The [first, last + 1) run of True in ``line`` that contains ``center``."""
    first = center - int(np.argmin(line[center::-1])) + 1 if not line[center::-1].all() else 0
    last = center + int(np.argmin(line[center:])) if not line[center:].all() else len(line)
    return first, last


def _photo_rect(screenshot: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the photo in the editor's screenshot: the run of pixels that differ from
    the canvas's background through the center, along the middle row and column (the editor's tools and
    labels lie beside them)."""
    background = screenshot[screenshot.shape[0] // 2, 2, :3].astype(int)
    differs = np.abs(screenshot[..., :3].astype(int) - background).sum(-1) > 24
    middle_y, middle_x = screenshot.shape[0] // 2, screenshot.shape[1] // 2
    left, right = _run_through(differs[middle_y], middle_x)
    top, bottom = _run_through(differs[:, middle_x], middle_y)
    return left, top, right, bottom


def _distance_to_segment(height: int, width: int, start: tuple[float, float], end: tuple[float, float]
                         ) -> np.ndarray:
    """Each pixel center's distance to the segment start-end (x, y in pixels)."""
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy))


def _download(page, link_name: str, target: Path) -> Path:  # noqa: ANN001
    with page.expect_download() as download:
        page.locator(f"#downloads a[download='{link_name}']").click()
    download.value.save_as(target)
    return target


def test_paint_complete_download_and_hint_in_chromium(app_server: tuple[str, Path, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from playwright.sync_api import sync_playwright

    url, folder, cwd = app_server
    photo_path = tmp_path / "photo.png"
    Image.fromarray(center_crop_resize(load_photo_array("chelsea"), (240, 320))).save(photo_path)
    (tmp_path / "notes.txt").write_text("not an image")
    with sync_playwright() as playwright:
        page = open_page(playwright, url, _chromium())
        upload = page.locator("#photo-upload input[type=file]")

        upload.set_input_files(str(tmp_path / "notes.txt"))  # a bad upload: one message, the page goes on
        assert "notes.txt: not a recognized image format" in wait_status(page, "Error")
        page.locator("#photo-upload button[aria-label='Clear']").click()
        upload.set_input_files(str(photo_path))
        assert "320x240" in wait_status(page, "paint the hole")

        canvas = page.locator("#editor canvas").first
        page.wait_for_timeout(500)
        box = canvas.bounding_box()
        shot = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB"))
        left, top, right, bottom = _photo_rect(shot)
        scale = (right - left) / 320  # screen pixels per photo pixel
        assert abs((bottom - top) / 240 - scale) < 0.02, (left, top, right, bottom)
        start, end = (60.0, 100.0), (250.0, 140.0)  # photo pixels
        to_screen = lambda x, y: (box["x"] + (left + x * scale) * box["width"] / shot.shape[1],  # noqa: E731
                                  box["y"] + (top + y * scale) * box["height"] / shot.shape[0])
        page.mouse.move(*to_screen(*start))
        page.mouse.down()
        for step in range(1, 31):
            page.mouse.move(*to_screen(*(a + (b - a) * step / 30 for a, b in zip(start, end))))
        page.mouse.up()

        choose(page, "colorizer", "levin")
        page.click("#run")
        assert "telea + levin" in wait_status(page, " s; hole", 60)
        result = read_image(_download(page, "result.png", tmp_path / "result.png"))
        mask_path = _download(page, "mask.png", tmp_path / "mask.png")
        hole = read_mask(mask_path)[0].numpy()

        # the hole is the painted stroke: a band around the segment, every pixel of its core painted
        distance = _distance_to_segment(240, 320, start, end)
        reach = float(distance[hole].max())  # the brush's radius, plus the edge's anti-aliasing
        assert 2.0 < reach < 40.0  # nothing painted away from the stroke
        assert hole[distance < reach - 2.5].all()  # and all of it painted
        # known pixels unchanged, and the result is the command line's for that mask
        photo = read_image(photo_path)
        known = torch.from_numpy(~hole)[None]
        assert torch.equal(result * known, photo * known)
        code, _, err = run_cli(capsys, "inpaint", "--image", photo_path, "--mask", mask_path, "--out",
                               tmp_path / "cli.png", "--backbone", "telea", "--colorizer", "levin", "--quiet")
        assert code == 0, err
        assert torch.equal(result, read_image(tmp_path / "cli.png"))

        # a hint: click the result at the stroke's middle
        x, y = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        click_image_pixel(page, "#final img", x, y)
        status = wait_status(page, "1 hint(s)", 30)
        hint_x, hint_y = map(int, re.search(r"hint at \((\d+), (\d+)\)", status).groups())
        assert math.hypot(hint_x - x, hint_y - y) <= 1.5
        page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
        if os.environ.get("EIIP_APP_SCREENSHOT"):
            shutil.copy(tmp_path / "app.png", os.environ["EIIP_APP_SCREENSHOT"])
        hinted = read_image(_download(page, "result.png", tmp_path / "hinted.png"))
        target = torch.tensor(HINT_COLOR)
        before = float((result[:, hint_y, hint_x] - target).norm())
        assert float((hinted[:, hint_y, hint_x] - target).norm()) < 0.5 * before

        # the internal colorizer shows its level and step, and Stop ends it; the page then goes on
        choose(page, "colorizer", "internal")
        page.click("#run")
        page.wait_for_function("/internal, level 1\\/3/.test(document.querySelector('#final').innerText)"
                               " && /\\d+\\/\\d+ steps/.test(document.querySelector('#final').innerText)",
                               timeout=60_000)
        page.click("#stop")
        wait_status(page, "stopped", 30)
        choose(page, "colorizer", "levin")
        page.click("#run")
        assert "result 3: telea + levin" in wait_status(page, "result 3:", 60)
        page.context.browser.close()

    assert list(cwd.iterdir()) == []  # nothing written outside the app's folder
    assert any(folder.rglob("result.png"))
