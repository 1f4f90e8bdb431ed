"""The app's callbacks without a browser: the same results as `eiip inpaint`, hints for every colorizer as on
the command line, and bad input as one message while the app keeps working."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("gradio", reason="the app's extra is not installed: pip install -e '.[app]'")

from eiip.app.page import PageCallbacks, parse_color  # noqa: E402
from eiip.app.stages import stage_options  # noqa: E402
from eiip.app.workspace import Completion, Workspace  # noqa: E402
from eiip.colorize import get_colorizer  # noqa: E402
from eiip.errors import Cancelled  # noqa: E402
from eiip.io import read_image, read_mask, write_image, write_mask  # noqa: E402
from helpers import run_cli  # noqa: E402

TELEA = "telea (OpenCV, mono)"
INTERNAL = {"levels": 2, "steps": 40, "ensemble": 1}
"""Small internal settings (both sides of a comparison use them)."""
HINT = (40, 30, "#1a5ae6")  # x, y inside the hole of _hole(), a blue


def _hole(height: int = 64, width: int = 80) -> torch.Tensor:
    hole = torch.zeros(1, height, width, dtype=torch.bool)
    hole[:, 20:44, 24:60] = True
    return hole


def _layer(path: Path, hole: torch.Tensor) -> str:
    """The editor's painted layer: the hole in the brush's color, transparent elsewhere."""
    rgba = np.zeros((*hole.shape[-2:], 4), dtype=np.uint8)
    rgba[hole[0].numpy()] = [255, 0, 255, 255]
    Image.fromarray(rgba, "RGBA").save(path)
    return str(path)


@pytest.fixture()
def photo(tmp_path: Path, astronaut64: torch.Tensor) -> Path:
    image = torch.nn.functional.interpolate(astronaut64[None], size=(64, 80), mode="bilinear")[0].clamp(0, 1)
    return write_image(tmp_path / "photo.png", image)


@pytest.fixture()
def calls(tmp_path: Path) -> PageCallbacks:
    return PageCallbacks(Workspace(tmp_path / "app", internal_settings=INTERNAL))


def _cli_inpaint(capsys: pytest.CaptureFixture[str], tmp_path: Path, photo: Path, colorizer: str, *extra: str
                 ) -> torch.Tensor:
    mask = write_mask(tmp_path / "mask-cli.png", _hole())
    out = tmp_path / f"cli-{colorizer}-{len(extra)}.png"
    code, _, err = run_cli(capsys, "inpaint", "--image", photo, "--mask", mask, "--out", out, "--backbone", "telea",
                           "--colorizer", colorizer, "--quiet", *extra)
    assert code == 0, err
    return read_image(out)


def test_a_painted_hole_gives_the_cli_result(capsys: pytest.CaptureFixture[str], tmp_path: Path, photo: Path,
                                             calls: PageCallbacks) -> None:
    editor, path, status = calls.load_photo(str(photo))
    assert path == str(photo) and editor["layers"] == [] and "80x64" in status
    layers = [_layer(tmp_path / "layer.png", _hole())]
    completion, mono, final, slider, downloads, status = calls.complete(path, {"layers": layers}, None, TELEA, "levin")
    assert "telea + levin" in status and "hole 16.9%" in status
    assert torch.equal(read_mask(Path(downloads[2])), _hole())  # the saved mask is the painted hole
    result = read_image(final)
    assert torch.equal(result, _cli_inpaint(capsys, tmp_path, photo, "levin"))
    assert torch.equal(result * ~_hole(), read_image(photo) * ~_hole())  # known pixels kept
    assert slider == (downloads[3], final) and mono == downloads[1] and isinstance(completion, Completion)


@pytest.mark.parametrize("colorizer", ["levin", "local-linear", "validated-blend", "internal"])
def test_a_hint_gives_the_cli_hint_result(capsys: pytest.CaptureFixture[str], tmp_path: Path, photo: Path,
                                          calls: PageCallbacks, colorizer: str) -> None:
    mask = write_mask(tmp_path / "mask.png", _hole())
    completion, *_, status = calls.complete(str(photo), None, str(mask), TELEA, colorizer)
    plain = read_image(_[1])
    completion, _mono, final, *_rest, status = calls.hint_at(completion, colorizer, HINT[2], HINT[0], HINT[1])
    assert "1 hint(s)" in status, status
    hinted = read_image(final)
    small = ["--levels", "2", "--steps", "40", "--ensemble", "1"] if colorizer == "internal" else []
    assert torch.equal(hinted, _cli_inpaint(capsys, tmp_path, photo, colorizer, "--hint", ",".join(map(str, HINT)),
                                            *small))
    target = torch.tensor(parse_color(HINT[2]))
    x, y = HINT[0], HINT[1]
    assert (hinted[:, y, x] - target).norm() < (plain[:, y, x] - target).norm()
    *_, final_cleared, _s, _d, status = calls.clear_hints(completion, colorizer)
    assert torch.equal(read_image(final_cleared), plain) and "hints cleared" in status


def test_bad_inputs_are_one_message_and_the_app_keeps_working(tmp_path: Path, photo: Path) -> None:
    (tmp_path / "ckpts").mkdir()
    (tmp_path / "ckpts" / "broken.ckpt").write_bytes(b"not a checkpoint")
    calls = PageCallbacks(Workspace(tmp_path / "app", ckpt_dir=tmp_path / "ckpts", max_pixels=64 * 80 - 1))
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    messages = [calls.load_photo(str(text))[-1], calls.load_photo(str(photo))[-1]]  # not an image; over the limit
    calls.workspace.max_pixels = 64 * 80
    none, full = write_mask(tmp_path / "none.png", _hole() & False), write_mask(tmp_path / "all.png", _hole() | True)
    messages += [calls.complete(str(photo), None, str(mask), TELEA, "levin")[-1] for mask in (none, full)]
    good = str(write_mask(tmp_path / "m.png", _hole()))
    messages.append(calls.complete(str(photo), None, good, "broken.ckpt (does not load)", "levin")[-1])
    messages.append(calls.complete(str(photo), {"layers": []}, None, TELEA, "levin")[-1])
    expected = ["notes.txt: not a recognized image format", "is 80x64 (0.0 MP), more than the limit", "mask none.png has no hole",
                "mask all.png marks every pixel as hole", "cannot read checkpoint broken.ckpt", "nothing is painted"]
    for message, part in zip(messages, expected, strict=True):
        assert message.startswith("**Error:** ") and message.count("\n") == 0 and part in message, message
    assert "telea + levin" in calls.complete(str(photo), None, good, TELEA, "levin")[-1]
    written = {path.relative_to(tmp_path).parts[0] for path in tmp_path.rglob("*")}
    assert written == {"app", "ckpts", "notes.txt", "photo.png", "none.png", "all.png", "m.png"}


def test_the_menu_shows_each_checkpoint_kind(tmp_path: Path) -> None:
    for name, bottleneck in (("mono.ckpt", "mono"), ("sub/rgb.pt", "rgb")):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        torch.save({"hyper_parameters": {"backbone": "gatedconv", "bottleneck": bottleneck}, "state_dict": {}}, path)
    (tmp_path / "notes.txt").write_text("ignored")
    labels = [option.label for option in stage_options(tmp_path)]
    assert labels == ["telea (OpenCV, mono)", "ns (OpenCV, mono)", "mono.ckpt (mono checkpoint)",
                      "sub/rgb.pt (rgb checkpoint)"]


def test_stop_ends_the_internal_colorizer(astronaut64: torch.Tensor, rect_known: torch.Tensor) -> None:
    stop = threading.Event()
    stop.set()
    colorizer = get_colorizer("internal", stop=stop)
    with pytest.raises(Cancelled):
        colorizer(astronaut64[:1], astronaut64 * rect_known, rect_known)


def test_hint_colors_of_the_color_picker() -> None:
    assert parse_color("#ff8000") == (1.0, 128 / 255, 0.0)
    assert parse_color("rgba(255, 128, 0, 1)") == (1.0, 128 / 255, 0.0)


def test_heavy_events_run_one_at_a_time_and_a_new_click_replaces_the_pending_one(tmp_path: Path) -> None:
    from eiip.app.page import build_page

    page = build_page(Workspace(tmp_path / "app"))
    work = {fn.name: fn for fn in page.fns.values() if fn.name in ("complete", "add_hint", "clear_hints")}
    assert len(work) == 3
    for fn in work.values():
        assert (fn.concurrency_limit, fn.concurrency_id, fn.trigger_mode) == (1, "work", "always_last")
    cancelled = [set(fn.cancels) for fn in page.fns.values() if fn.cancels]
    assert cancelled == [{fn._id for fn in work.values()}]  # the Stop button cancels each of them


def test_a_phone_sized_photo_takes_the_cli_full_resolution_path(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                                 calls: PageCallbacks) -> None:
    from eiip.data.samples import load_sample_photo

    photo = write_image(tmp_path / "big.png", load_sample_photo("chelsea", (1000, 1300)))  # 1.3 MP: in pieces
    hole = torch.zeros(1, 1000, 1300, dtype=torch.bool)
    hole[:, 400:470, 500:640] = True
    hole[:, 800:830, 100:400] = True
    mask = write_mask(tmp_path / "big-mask.png", hole)
    *_, final, _slider, _downloads, status = calls.complete(str(photo), None, str(mask), TELEA, "levin")
    assert "telea + levin" in status, status
    code, _, err = run_cli(capsys, "inpaint", "--image", photo, "--mask", mask, "--out", tmp_path / "cli.png",
                           "--backbone", "telea", "--colorizer", "levin", "--quiet")
    assert code == 0, err
    assert torch.equal(read_image(final), read_image(tmp_path / "cli.png"))


def test_checkpoints_mono_and_rgb_give_the_cli_results(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      photo: Path) -> None:
    from test_pipeline import tiny_checkpoint

    folder = tmp_path / "ckpts"
    folder.mkdir()
    for bottleneck in ("mono", "rgb"):
        tiny_checkpoint(folder / f"{bottleneck}.ckpt", bottleneck)
    calls = PageCallbacks(Workspace(tmp_path / "app", ckpt_dir=folder))
    mask = write_mask(tmp_path / "mask.png", _hole())
    for bottleneck in ("mono", "rgb"):
        label = f"{bottleneck}.ckpt ({bottleneck} checkpoint)"
        completion, _mono, final, *_rest, status = calls.complete(str(photo), None, str(mask), label, "levin")
        assert ("no colorizer" in status) == (bottleneck == "rgb"), status
        out = tmp_path / f"cli-{bottleneck}.png"
        code, _, err = run_cli(capsys, "inpaint", "--image", photo, "--mask", mask, "--out", out, "--ckpt",
                               folder / f"{bottleneck}.ckpt", "--colorizer", "levin", "--quiet")
        assert code == 0, err
        assert torch.equal(read_image(final), read_image(out))
    assert "an rgb checkpoint completes the colors itself" in calls.hint_at(completion, "levin", "#ff0000", 40, 30)[-1]
