"""The app's page (Gradio): paint a hole, run both stages, click color hints. A thin layer over
:class:`~eiip.app.workspace.Workspace`: each callback reads the page's values, calls the workspace, and
turns a bad input into one message on the page (``#status``) while the server keeps serving."""

from __future__ import annotations

import re
import time
from typing import Any, Callable

import gradio as gr

from eiip.app.workspace import Completion, RunFiles, Workspace
from eiip.choices import COLORIZER_NAMES
from eiip.colorize.hints import ColorHint
from eiip.data.samples import SAMPLE_PHOTOS
from eiip.errors import Cancelled, InputError

INTRO = """# eiip: external-internal inpainting
Paint the hole on a photo and press **Complete**. The external stage completes only the **monochrome** of the
hole; the colorizer then brings the colors in from the photo's own known pixels (Wang, Ouyang, Chen, CVPR 2021).
Click on the result to give a **color hint** there: the colorization reruns from the same monochrome."""

HINT_COLOR = "#e03c31"
BRUSH_COLOR = "#ff00ff"
_RGB = re.compile(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)")


def parse_color(value: str) -> tuple[float, float, float]:
    """A ColorPicker value (``#rrggbb`` or ``rgb(a)(r, g, b[, a])``) as RGB in [0, 1]."""
    text = value.strip()
    if re.fullmatch(r"#[0-9a-fA-F]{6}", text):
        return tuple(int(text[i : i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]
    match = _RGB.match(text)
    if match is None:
        raise InputError(f"cannot read the hint color {value!r}")
    return tuple(min(float(channel), 255.0) / 255.0 for channel in match.groups())  # type: ignore[return-value]


_PATH = re.compile(r"(?:/[^\s/:]+)+/([^\s/:]+)")


def _error(message: str) -> str:
    """One error line for the page; server paths shortened to the file's name."""
    return "**Error:** " + _PATH.sub(r"\1", message)


def _shown(files: RunFiles, completion: Completion, seconds: float, what: str) -> tuple[Any, ...]:
    """The result components' values: monochrome, final, before/after, downloads, status."""
    hints = f", {len(completion.hints)} hint(s)" if completion.hints else ""
    status = f"result {files.number}: {what} in {seconds:.2f} s{hints}; hole {float((~completion.known).float().mean()):.1%}"
    downloads = [str(files.final), str(files.mono), str(files.mask), str(files.masked)]
    return str(files.mono), str(files.final), (str(files.masked), str(files.final)), downloads, status


class PageCallbacks:
    """The page's callbacks on one workspace; each returns the values of its outputs, or leaves them as
    they are (``gr.skip()``) and sets the status to one error line."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def _guarded(self, work: Callable[[], tuple[Any, ...]], unchanged: int) -> tuple[Any, ...]:
        try:
            return work()
        except (InputError, ValueError, Cancelled) as error:
            return (*[gr.skip()] * unchanged, _error(str(error)))

    def load_photo(self, path: str | None) -> tuple[Any, ...]:
        """Outputs: editor, photo path, status."""
        def work() -> tuple[Any, ...]:
            if not path:
                raise InputError("no photo was uploaded")
            photo = self.workspace.read_photo(path)
            editor = {"background": path, "layers": [], "composite": path}
            return editor, path, f"photo {photo.shape[-1]}x{photo.shape[-2]}: paint the hole, then Complete"
        return self._guarded(work, 2)

    def load_sample(self, name: str | None) -> tuple[Any, ...]:
        """Outputs: editor, photo path, status."""
        if not name:
            return gr.skip(), gr.skip(), gr.skip()
        return self._guarded(lambda: self.load_photo(str(self.workspace.sample_photo(name))), 2)

    def complete(self, photo_path: str | None, editor: dict | None, mask_file: str | None, stage: str,
                 colorizer: str, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[Any, ...]:
        """Outputs: completion, monochrome, final, before/after, downloads, status."""
        def work() -> tuple[Any, ...]:
            if not photo_path:
                raise InputError("upload a photo or choose a sample first")
            start = time.perf_counter()
            photo = self.workspace.read_photo(photo_path)
            hole = self.workspace.hole(photo, mask_file, (editor or {}).get("layers") or [])
            completion, files = self.workspace.complete(photo, hole, stage, colorizer)
            what = f"{stage.split(' (')[0]} + {colorizer}" if completion.output == "mono" else f"{stage}, no colorizer"
            return completion, *_shown(files, completion, time.perf_counter() - start, what)
        return self._guarded(work, 5)

    def add_hint(self, completion: Completion | None, colorizer: str, color: str, event: gr.SelectData,
                 progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[Any, ...]:
        """A click on the result at (x, y): a hint of ``color`` there. Outputs as :meth:`complete`."""
        x, y = event.index
        return self.hint_at(completion, colorizer, color, int(x), int(y))

    def hint_at(self, completion: Completion | None, colorizer: str, color: str, x: int, y: int) -> tuple[Any, ...]:
        """A hint of ``color`` at (x, y) added to the completion's, and the colorization rerun."""
        def work() -> tuple[Any, ...]:
            hint = ColorHint(x, y, parse_color(color))
            return self._recolored(completion, colorizer, f"hint at ({x}, {y}), {colorizer}",
                                   lambda hints: [*hints, hint])
        return self._guarded(work, 5)

    def clear_hints(self, completion: Completion | None, colorizer: str) -> tuple[Any, ...]:
        """Outputs as :meth:`complete`."""
        return self._guarded(lambda: self._recolored(completion, colorizer, f"hints cleared, {colorizer}",
                                                     lambda hints: []), 5)

    def _recolored(self, completion: Completion | None, colorizer: str, what: str,
                   new_hints: Callable[[list[ColorHint]], list[ColorHint]]) -> tuple[Any, ...]:
        """The completion colorized again with ``new_hints(its hints)``, kept only when that succeeds."""
        if completion is None:
            raise InputError("complete a photo first, then click on its result to give a hint")
        start = time.perf_counter()
        previous, completion.hints = completion.hints, new_hints(completion.hints)
        try:
            files = self.workspace.recolor(completion, colorizer)
        except Exception:
            completion.hints = previous
            raise
        return completion, *_shown(files, completion, time.perf_counter() - start, what)

    def stop(self) -> str:
        """Stop the running job (an internal colorizer ends before its next step); output: status."""
        self.workspace.stop.set()
        return "stopped: the result shown is the last one finished"


def build_page(workspace: Workspace) -> gr.Blocks:
    """The page on ``workspace``; heavy events run one at a time, a new click replacing the pending one."""
    calls = PageCallbacks(workspace)
    stages = list(workspace.stages)
    with gr.Blocks(title="eiip", delete_cache=(3600, 3600)) as page:
        gr.Markdown(INTRO)
        completion = gr.State(None)
        photo_path = gr.State(None)
        with gr.Row():
            with gr.Column():
                with gr.Row():
                    upload = gr.File(label="photo", type="filepath", elem_id="photo-upload")
                    sample = gr.Dropdown(list(SAMPLE_PHOTOS), value=None, label="or a sample photo",
                                         elem_id="sample")
                editor = gr.ImageEditor(
                    label="paint the hole (brush), erase (eraser)", type="filepath", format="png", sources=(),
                    layers=False, transforms=(), brush=gr.Brush(colors=[BRUSH_COLOR], color_mode="fixed"),
                    eraser=gr.Eraser(), elem_id="editor")
                mask_upload = gr.File(label="or a mask (white = hole; replaces the painted hole)", type="filepath",
                                      elem_id="mask-upload")
                with gr.Row():
                    stage = gr.Dropdown(stages, value=stages[0], label="external stage", elem_id="stage")
                    colorizer = gr.Dropdown(list(COLORIZER_NAMES), value="validated-blend", label="colorizer",
                                            elem_id="colorizer")
                with gr.Row():
                    run = gr.Button("Complete", variant="primary", elem_id="run")
                    stop = gr.Button("Stop", variant="stop", elem_id="stop")
                status = gr.Markdown("upload a photo or choose a sample", elem_id="status")
            with gr.Column():
                final = gr.Image(label="result: click to give a color hint", type="filepath", format="png",
                                 interactive=False, elem_id="final")
                with gr.Row():
                    hint_color = gr.ColorPicker(HINT_COLOR, label="hint color", elem_id="hint-color")
                    clear = gr.Button("Clear hints", elem_id="clear-hints")
                mono = gr.Image(label="completed monochrome", type="filepath", format="png", interactive=False,
                                elem_id="mono")
                slider = gr.ImageSlider(label="before / after", type="filepath", format="png", elem_id="slider")
                downloads = gr.File(label="full-resolution PNGs", file_count="multiple", elem_id="downloads")

        loaded = [editor, photo_path, status]
        results = [completion, mono, final, slider, downloads, status]
        work = {"concurrency_limit": 1, "concurrency_id": "work", "trigger_mode": "always_last"}
        upload.upload(calls.load_photo, [upload], loaded)
        sample.change(calls.load_sample, [sample], loaded)
        completing = run.click(calls.complete, [photo_path, editor, mask_upload, stage, colorizer], results, **work)
        hinting = final.select(calls.add_hint, [completion, colorizer, hint_color], results, **work)
        clearing = clear.click(calls.clear_hints, [completion, colorizer], results, **work)
        stop.click(calls.stop, None, [status], cancels=[completing, hinting, clearing], queue=False)
    return page
