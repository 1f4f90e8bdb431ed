"""``eiip app``: an interactive page for both stages and the color hints (paper Fig. 3, 11).

Needs the optional extra: ``pip install -e ".[app]"`` (Gradio). :func:`serve` starts the page;
:mod:`eiip.app.workspace` is what it does, :mod:`eiip.app.page` how it looks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def serve(*, host: str = "127.0.0.1", port: int = 7860, share: bool = False, ckpt_dir: str | None = None,
          max_pixels: int, device: str = "cpu", folder: str | None = None) -> None:
    """Serve the page until interrupted. Every file it writes (uploads, results, Gradio's cache) lies in
    ``folder`` (default: a new temporary folder, removed at the end)."""
    own = folder is None
    root = Path(tempfile.mkdtemp(prefix="eiip-app-") if own else folder)
    os.environ["GRADIO_TEMP_DIR"] = str(root / "gradio")  # read when Gradio is imported
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        from eiip.app.page import build_page
        from eiip.app.workspace import Workspace

        page = build_page(Workspace(root / "workspace", ckpt_dir=ckpt_dir, max_pixels=max_pixels, device=device))
        page.queue(default_concurrency_limit=1)
        page.launch(server_name=host, server_port=port, share=share, inbrowser=False,
                    allowed_paths=[str(root)], show_error=True)
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)
