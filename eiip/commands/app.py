"""`eiip app`: the interactive page (optional extra ``[app]``, Gradio).

The parser needs no torch or Gradio; the run function imports them.
"""

from __future__ import annotations

import argparse
import importlib.util

from eiip.choices import APP_MAX_PIXELS
from eiip.commands.masks import parse_count


def _run_app(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("gradio") is None:
        raise ValueError('the app needs Gradio: pip install -c constraints.txt -e ".[app]"')
    from eiip.app import serve
    from eiip.commands.colorize import resolve_device

    serve(host=args.host, port=args.port, share=args.share, ckpt_dir=args.ckpt_dir, max_pixels=args.max_pixels,
          device=resolve_device(args.device), folder=args.folder)
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register `app`."""
    parser = commands.add_parser(
        "app", help="an interactive page: paint a hole, see both stages, click color hints",
        description="Serves a page on --host:--port (local only unless --share): upload a photo or take a sample, "
                    "paint the hole, choose the external stage (telea, ns, or a checkpoint from --ckpt-dir) and the "
                    "colorizer, then click on the result to give color hints. Needs the [app] extra (Gradio).")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="also publish a public Gradio share link")
    parser.add_argument("--ckpt-dir", default=None, metavar="DIR",
                        help="offer every checkpoint under DIR (.ckpt, .pt, .pth: train.py and import-weights outputs)")
    parser.add_argument("--max-pixels", type=parse_count, default=APP_MAX_PIXELS, metavar="N",
                        help=f"refuse photos of more than N pixels (default {APP_MAX_PIXELS:,})")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--folder", default=None, metavar="DIR",
                        help="write uploads and results here (default: a temporary folder removed at exit)")
    parser.set_defaults(run=_run_app)
