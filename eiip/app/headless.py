"""The app in a background process, driven by headless Chromium through Playwright: the browser test, the
latency benchmark and the README's screenshot use it. Needs ``playwright`` (the ``[test]`` extra) and the
OS's Chromium (Debian's ``chromium``; Playwright's own browser download is not used)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update",
)
"""As root in a container with no network: no sandbox, no background connections (refused here)."""


def find_chromium() -> str | None:
    """The path of the OS's Chromium, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(folder: Path, *, cwd: Path, log: Path, start_timeout_s: float = 120.0,
                extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """``eiip app --folder FOLDER`` started in ``cwd`` on a free port (its output in ``log``); yields its URL
    once it answers, stops it at the end. RuntimeError with the log's end if it does not start."""
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    command = [sys.executable, "-m", "eiip.cli", "app", "--port", str(port), "--folder", str(folder), *extra_args]
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + start_timeout_s
        try:
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"eiip app did not start: {log.read_text()[-2000:]}") from None
                    time.sleep(0.5)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def open_page(playwright: Any, url: str, chromium: str) -> Any:
    """A new page of headless Chromium on the app at ``url``, once its controls are shown."""
    browser = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
    page = browser.new_page(viewport={"width": 1400, "height": 1300}, accept_downloads=True)
    page.goto(url, wait_until="load")
    page.wait_for_selector("#run")
    return page


def wait_status(page: Any, text: str, timeout_s: float = 120.0) -> str:
    """The page's status line once it contains ``text``; TimeoutError naming what it shows instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"document.querySelector('#status').innerText.includes({text!r})",
                               timeout=timeout_s * 1000)
    except PlaywrightTimeout:
        shown = page.locator("#status").inner_text()
        raise TimeoutError(f"waited {timeout_s} s for {text!r}; the status shows {shown!r}") from None
    return page.locator("#status").inner_text()


def choose(page: Any, dropdown: str, option: str) -> None:
    """Pick ``option`` in the page's dropdown ``#dropdown``."""
    page.locator(f"#{dropdown} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def click_image_pixel(page: Any, selector: str, x: float, y: float) -> None:
    """Click pixel (x, y) of the image shown in ``selector`` (an <img> scaled to fit its box, centered)."""
    image = page.locator(selector)
    box = image.bounding_box()
    width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    shown = min(box["width"] / width, box["height"] / height)
    left, top = (box["width"] - width * shown) / 2, (box["height"] - height * shown) / 2
    image.click(position={"x": left + (x + 0.5) * shown, "y": top + (y + 0.5) * shown})
