"""Tests of eiip.io: reading every image mode, masks, input validation, atomic writers."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from eiip.color import rgb_to_mono
from eiip.io import (
    ColorizeInputs,
    InputError,
    NonBinaryMaskWarning,
    atomic_save,
    check_mask,
    check_same_size,
    load_colorize_inputs,
    read_gray,
    read_image,
    read_mask,
    to_uint8,
    validate_colorize_inputs,
    write_image,
    write_mask,
)

# Small, non-square crops of real photos (H=64, W=96) so that width/height swaps show.
H, W = 64, 96


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[100 : 100 + H, 150 : 150 + W])


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.chelsea()[100 : 100 + H, 150 : 150 + W])


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.camera()[200 : 200 + H, 200 : 200 + W])


def mode_of(path) -> str:
    with Image.open(path) as image:
        return image.mode


def info_of(path) -> dict:
    with Image.open(path) as image:
        return dict(image.info)


def pixels_of(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


def box_hole(h: int = H, w: int = W) -> np.ndarray:
    hole = np.zeros((h, w), dtype=bool)
    hole[h // 4 : h // 2, w // 3 : 2 * w // 3] = True
    return hole


def disk_hole(h: int = H, w: int = W) -> np.ndarray:
    """A round hole: its edge crosses JPEG blocks, so JPEG makes it non-binary."""
    yy, xx = np.mgrid[:h, :w]
    return (yy - h / 2 + 0.5) ** 2 + (xx - w / 3) ** 2 < (h / 3) ** 2


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --------------------------------------------------------------------------------------------
# read_image: every mode
# --------------------------------------------------------------------------------------------


def test_rgb_png_round_trip_is_exact(tmp_path, astronaut, no_warnings):
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    image = read_image(path)
    assert image.shape == (3, H, W) and image.dtype == torch.float32 and image.is_contiguous()
    assert np.array_equal((hwc(image) * 255).round().astype(np.uint8), astronaut)
    np.testing.assert_allclose(hwc(image), astronaut / 255.0, atol=1e-6)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0


def test_read_image_accepts_str_path(tmp_path, astronaut):
    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(path)
    assert torch.equal(read_image(str(path)), read_image(path))


def test_gray_l_is_replicated(tmp_path, camera):
    path = tmp_path / "camera.png"
    Image.fromarray(camera).save(path)
    assert mode_of(path) == "L"
    image = read_image(path)
    assert image.shape == (3, H, W)
    for channel in range(3):
        np.testing.assert_allclose(image[channel].numpy(), camera / 255.0, atol=1e-6)


def test_16bit_png_is_scaled_by_65535(tmp_path, camera):
    values = camera.astype(np.uint16) * 257
    values[0, 0], values[0, 1], values[0, 2] = 65535, 0, 1000
    path = tmp_path / "camera16.png"
    Image.fromarray(values).save(path)
    assert mode_of(path) == "I;16"
    image = read_image(path)
    assert image.shape == (3, H, W)
    assert float(image[0, 0, 0]) == 1.0 and float(image[0, 0, 1]) == 0.0
    assert abs(float(image[0, 0, 2]) - 1000 / 65535) < 1e-7
    np.testing.assert_allclose(image[1].numpy(), values / 65535.0, atol=1e-6)
    # 257 * v / 65535 == v / 255: the 16-bit file reads like the 8-bit one.
    np.testing.assert_allclose(image[2, 1:].numpy(), camera[1:] / 255.0, atol=1e-6)


def test_16bit_big_endian_and_32bit_int_tiff(tmp_path, camera):
    values = camera.astype(np.uint16) * 257
    big = Image.frombytes("I;16B", (W, H), values.astype(">u2").tobytes())
    path_b = tmp_path / "big.tif"
    big.save(path_b)
    np.testing.assert_allclose(read_gray(path_b)[0].numpy(), values / 65535.0, atol=1e-6)
    # Mode I (32-bit signed) holding 16-bit data is scaled like 16-bit.
    path_i = tmp_path / "int32.tif"
    Image.fromarray(values.astype(np.int32)).save(path_i)
    assert mode_of(path_i) == "I"
    np.testing.assert_allclose(read_gray(path_i)[0].numpy(), values / 65535.0, atol=1e-6)
    # Wider data is scaled by the positive int32 range, negatives clipped to 0.
    wide = np.full((4, 5), 2**31 - 1, dtype=np.int32)
    wide[0, 0], wide[0, 1] = -5, 2**30
    path_w = tmp_path / "wide.tif"
    Image.fromarray(wide).save(path_w)
    gray = read_gray(path_w)[0]
    assert float(gray[0, 0]) == 0.0 and float(gray[1, 1]) == 1.0
    assert abs(float(gray[0, 1]) - 0.5) < 1e-6


def test_rgba_drops_alpha(tmp_path, astronaut):
    alpha = np.random.default_rng(0).integers(0, 256, size=(H, W), dtype=np.uint8)
    alpha[:, : W // 2] = 0  # fully transparent half keeps its stored colour
    path = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([astronaut, alpha])).save(path)
    assert mode_of(path) == "RGBA"
    np.testing.assert_allclose(hwc(read_image(path)), astronaut / 255.0, atol=1e-6)


def test_la_drops_alpha_and_replicates(tmp_path, camera):
    path = tmp_path / "la.png"
    Image.fromarray(np.dstack([camera, 255 - camera])).save(path)
    assert mode_of(path) == "LA"
    image = read_image(path)
    for channel in range(3):
        np.testing.assert_allclose(image[channel].numpy(), camera / 255.0, atol=1e-6)


def test_palette_decodes_to_palette_colors(tmp_path, chelsea):
    pal_image = Image.fromarray(chelsea).convert("P")
    path = tmp_path / "palette.png"
    pal_image.save(path)
    assert mode_of(path) == "P"
    indices = np.asarray(pal_image)
    palette = np.asarray(pal_image.getpalette(), dtype=np.uint8).reshape(-1, 3)
    expected = palette[indices]
    image = read_image(path)
    assert np.array_equal((hwc(image) * 255).round().astype(np.uint8), expected)
    # the palette (web palette) approximates the photo, the indices do not
    assert np.abs(expected.astype(int) - chelsea).mean() < 30
    assert not np.allclose(image[0].numpy(), indices / 255.0, atol=0.05)


def test_palette_with_transparency(tmp_path, chelsea):
    pal_image = Image.fromarray(chelsea).convert("P")
    pal_image.info["transparency"] = int(np.asarray(pal_image)[0, 0])
    path = tmp_path / "palette_trns.png"
    pal_image.save(path, transparency=int(np.asarray(pal_image)[0, 0]))
    assert "transparency" in info_of(path)
    palette = np.asarray(pal_image.getpalette(), dtype=np.uint8).reshape(-1, 3)
    expected = palette[np.asarray(pal_image)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = read_image(path)
    assert np.array_equal((hwc(image) * 255).round().astype(np.uint8), expected)


def test_jpeg_rgb(tmp_path, astronaut):
    path = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut).save(path, quality=95)
    image = read_image(path)
    assert image.shape == (3, H, W) and image.dtype == torch.float32
    assert np.abs(hwc(image) - astronaut / 255.0).mean() < 0.02


def test_cmyk_jpeg(tmp_path, astronaut):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(astronaut).convert("CMYK").save(path, quality=95)
    assert mode_of(path) == "CMYK"
    image = read_image(path)
    assert image.shape == (3, H, W)
    assert np.abs(hwc(image) - astronaut / 255.0).mean() < 0.03


def test_bilevel_and_float_modes(tmp_path, camera):
    path_1 = tmp_path / "bilevel.png"
    Image.fromarray(camera > 128).save(path_1)
    assert mode_of(path_1) == "1"
    image = read_image(path_1)
    assert np.array_equal(image[0].numpy(), (camera > 128).astype(np.float32))
    values = (camera / 255.0).astype(np.float32)
    path_f = tmp_path / "float.tif"
    Image.fromarray(values).save(path_f)
    assert mode_of(path_f) == "F"
    assert np.array_equal(read_gray(path_f)[0].numpy(), values)
    nan = values.copy()
    nan[3, 3] = np.nan
    path_nan = tmp_path / "nan.tif"
    Image.fromarray(nan).save(path_nan)
    with pytest.raises(InputError, match="NaN"):
        read_image(path_nan)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_exif_orientation_is_applied(tmp_path, astronaut, suffix):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be rotated 90 degrees clockwise for display
    path = tmp_path / f"rotated{suffix}"
    Image.fromarray(astronaut).save(path, exif=exif, **({"quality": 95} if suffix == ".jpg" else {}))
    image = read_image(path)
    assert image.shape == (3, W, H)
    expected = np.rot90(astronaut, k=-1) / 255.0
    tolerance = 1e-6 if suffix == ".png" else 0.03
    assert np.abs(hwc(image) - expected).mean() < tolerance


def test_files_are_closed(tmp_path, astronaut):
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        pytest.skip("needs /proc")
    good = tmp_path / "a.png"
    Image.fromarray(astronaut).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(good.read_bytes()[:200])
    mask = write_mask(tmp_path / "m.png", box_hole())
    before = len(os.listdir(fd_dir))
    for _ in range(5):
        read_image(good)
        read_gray(good)
        read_mask(mask)
        with pytest.raises(InputError):
            read_image(bad)
    assert len(os.listdir(fd_dir)) == before


# --------------------------------------------------------------------------------------------
# read_gray
# --------------------------------------------------------------------------------------------


def test_read_gray_single_channel_is_exact(tmp_path, camera, no_warnings):
    path = tmp_path / "gray.png"
    Image.fromarray(camera).save(path)
    gray = read_gray(path)
    assert gray.shape == (1, H, W) and gray.dtype == torch.float32
    np.testing.assert_allclose(gray[0].numpy(), camera / 255.0, atol=1e-6)


def test_read_gray_rgb_encoded_gray(tmp_path, camera):
    path = tmp_path / "gray_rgb.png"
    Image.fromarray(np.dstack([camera] * 3)).save(path)
    assert mode_of(path) == "RGB"
    gray = read_gray(path)
    assert gray.shape == (1, H, W)
    assert np.array_equal((gray[0].numpy() * 255).round().astype(np.uint8), camera)
    # JPEG keeps the channels only nearly equal; the result stays close.
    path_jpg = tmp_path / "gray_rgb.jpg"
    Image.fromarray(np.dstack([camera] * 3)).save(path_jpg, quality=95)
    assert np.abs(read_gray(path_jpg)[0].numpy() - camera / 255.0).mean() < 0.02


def test_read_gray_color_uses_paper_monochrome(tmp_path, astronaut):
    path = tmp_path / "color.png"
    Image.fromarray(astronaut).save(path)
    gray = read_gray(path)
    assert gray.shape == (1, H, W)
    expected = (0.30 * astronaut[..., 0] + 0.59 * astronaut[..., 1] + 0.11 * astronaut[..., 2]) / 255.0
    np.testing.assert_allclose(gray[0].numpy(), expected, atol=1e-5)
    assert torch.allclose(gray, rgb_to_mono(read_image(path)), atol=1e-7)


def test_read_gray_16bit(tmp_path, camera):
    values = camera.astype(np.uint16) * 257
    path = tmp_path / "gray16.png"
    Image.fromarray(values).save(path)
    np.testing.assert_allclose(read_gray(path)[0].numpy(), camera / 255.0, atol=1e-6)


# --------------------------------------------------------------------------------------------
# read_mask
# --------------------------------------------------------------------------------------------


def test_mask_round_trip_is_exact(tmp_path, no_warnings):
    hole = box_hole()
    path = write_mask(tmp_path / "mask.png", torch.from_numpy(hole)[None])
    assert set(np.unique(pixels_of(path))) == {0, 255}
    mask = read_mask(path)
    assert mask.shape == (1, H, W) and mask.dtype == torch.bool
    assert np.array_equal(mask[0].numpy(), hole)
    # (H, W) numpy input too
    assert np.array_equal(read_mask(write_mask(tmp_path / "m2.png", hole))[0].numpy(), hole)


def test_jpeg_mask_warns_once_and_thresholds(tmp_path):
    hole = disk_hole()
    path = tmp_path / "mask.jpg"
    Image.fromarray(np.where(hole, 255, 0).astype(np.uint8)).save(path, quality=75)
    decoded = pixels_of(path)
    assert not set(np.unique(decoded)) <= {0, 255}
    with pytest.warns(NonBinaryMaskWarning) as record:
        mask = read_mask(path)
    assert len(record) == 1
    message = str(record[0].message)
    assert str(path) in message and "not binary" in message and "thresholded at 127" in message
    assert record[0].filename == __file__  # stacklevel points at the caller
    assert np.array_equal(mask[0].numpy(), decoded > 127)
    assert (mask[0].numpy() == hole).mean() > 0.99


def test_nonbinary_percentage_is_reported(tmp_path):
    values = np.zeros((40, 50), dtype=np.uint8)
    values[:10] = 200  # 25 % gray (-> hole), the rest black
    values[30:, :] = 255
    path = tmp_path / "gray_mask.png"
    Image.fromarray(values).save(path)
    with pytest.warns(NonBinaryMaskWarning, match=r"\(25% of pixels are neither 0 nor 255\)"):
        mask = read_mask(path)
    assert np.array_equal(mask[0].numpy(), values > 127)


def test_rgb_masks(tmp_path, no_warnings):
    hole = box_hole()
    path = tmp_path / "rgb_mask.png"
    Image.fromarray(np.dstack([np.where(hole, 255, 0).astype(np.uint8)] * 3)).save(path)
    assert mode_of(path) == "RGB"
    assert np.array_equal(read_mask(path)[0].numpy(), hole)


def test_colored_mask_goes_to_luminance(tmp_path):
    colors = np.zeros((2, 3, 3), dtype=np.uint8)
    colors[0, 0] = (255, 0, 0)  # luminance 76.5 -> known
    colors[0, 1] = (0, 255, 0)  # 150.45 -> hole
    colors[0, 2] = (255, 255, 0)  # 226.95 -> hole
    colors[1, 0] = (0, 0, 255)  # 28.05 -> known
    colors[1, 1] = (255, 255, 255)  # hole
    path = tmp_path / "colored.png"
    Image.fromarray(colors).save(path)
    with pytest.warns(NonBinaryMaskWarning):
        mask = read_mask(path)
    assert mask[0].tolist() == [[False, True, True], [False, True, False]]


def test_16bit_masks(tmp_path, no_warnings):
    hole = box_hole()
    path = tmp_path / "mask16.png"
    Image.fromarray(np.where(hole, 65535, 0).astype(np.uint16)).save(path)
    assert mode_of(path) == "I;16"
    assert np.array_equal(read_mask(path)[0].numpy(), hole)


def test_16bit_mask_scaled_to_255_before_threshold(tmp_path):
    # 32768/65535*255 = 127.5 > 127 -> hole; 32639/65535*255 = 127.0 -> known
    values = np.array([[0, 65535, 32768, 32639]], dtype=np.uint16)
    path = tmp_path / "mask16_gray.png"
    Image.fromarray(values).save(path)
    with pytest.warns(NonBinaryMaskWarning, match="50% of pixels"):
        mask = read_mask(path)
    assert mask[0].tolist() == [[False, True, True, False]]


def test_rgba_masks(tmp_path, no_warnings):
    hole = box_hole()
    white_black = np.where(hole, 255, 0).astype(np.uint8)
    opaque = tmp_path / "opaque.png"
    Image.fromarray(np.dstack([white_black] * 3 + [np.full((H, W), 255, np.uint8)])).save(opaque)
    assert mode_of(opaque) == "RGBA"
    assert np.array_equal(read_mask(opaque)[0].numpy(), hole)
    # white strokes on a transparent layer whose hidden colour is also white: alpha decides
    strokes = tmp_path / "strokes.png"
    alpha = np.where(hole, 255, 0).astype(np.uint8)
    Image.fromarray(np.dstack([np.full((H, W), 255, np.uint8)] * 3 + [alpha])).save(strokes)
    assert np.array_equal(read_mask(strokes)[0].numpy(), hole)


def test_bilevel_and_palette_masks(tmp_path, no_warnings):
    hole = box_hole()
    path_1 = tmp_path / "mask1.png"
    Image.fromarray(hole).save(path_1)
    assert mode_of(path_1) == "1"
    assert np.array_equal(read_mask(path_1)[0].numpy(), hole)
    path_p = tmp_path / "maskp.gif"
    Image.fromarray(np.where(hole, 255, 0).astype(np.uint8)).convert("P").save(path_p)
    assert mode_of(path_p) == "P"
    assert np.array_equal(read_mask(path_p)[0].numpy(), hole)


# --------------------------------------------------------------------------------------------
# Bad files: every reader, every case
# --------------------------------------------------------------------------------------------

READERS = [read_image, read_gray, read_mask]


def assert_input_error(reader, path, fragment):
    with pytest.raises(InputError) as info:
        reader(path)
    message = str(info.value)
    assert str(path) in message
    assert fragment in message
    assert "\n" not in message
    return message


@pytest.mark.parametrize("reader", READERS)
def test_missing_file(tmp_path, reader):
    assert_input_error(reader, tmp_path / "nope.png", "not found:")


@pytest.mark.parametrize("reader", READERS)
def test_directory(tmp_path, reader):
    directory = tmp_path / "folder.png"
    directory.mkdir()
    assert_input_error(reader, directory, "directory")


@pytest.mark.parametrize("reader", READERS)
def test_empty_file(tmp_path, reader):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert_input_error(reader, path, "empty")


@pytest.mark.parametrize("reader", READERS)
def test_garbage_bytes(tmp_path, reader):
    path = tmp_path / "garbage.png"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    message = assert_input_error(reader, path, "cannot read")
    assert "not a recognized image format" in message


@pytest.mark.parametrize("reader", READERS)
def test_truncated_png(tmp_path, astronaut, reader):
    full = tmp_path / "full.png"
    Image.fromarray(astronaut).save(full)
    data = full.read_bytes()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    assert_input_error(reader, path, "cannot read")


def test_truncated_jpeg(tmp_path, astronaut):
    full = tmp_path / "full.jpg"
    Image.fromarray(astronaut).save(full)
    data = full.read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert_input_error(read_image, path, "cannot read image")


def test_error_messages_name_the_kind(tmp_path):
    missing = tmp_path / "x.png"
    assert str(pytest.raises(InputError, read_image, missing).value) == f"image not found: {missing}"
    assert str(pytest.raises(InputError, read_mask, missing).value) == f"mask not found: {missing}"
    assert "monochrome" in str(pytest.raises(InputError, read_gray, missing).value)


# --------------------------------------------------------------------------------------------
# load_colorize_inputs / validation
# --------------------------------------------------------------------------------------------


@pytest.fixture
def colorize_files(tmp_path, astronaut):
    image = tmp_path / "image.png"
    Image.fromarray(astronaut).save(image)
    mask = write_mask(tmp_path / "mask.png", box_hole())
    return image, mask


def test_load_colorize_inputs_natural_monochrome(colorize_files, astronaut):
    image, mask = colorize_files
    inputs = load_colorize_inputs(image, mask)
    assert isinstance(inputs, ColorizeInputs)
    assert inputs.rgb.shape == (3, H, W) and inputs.hole.shape == (1, H, W) and inputs.mono.shape == (1, H, W)
    assert torch.equal(inputs.rgb, read_image(image))
    assert torch.equal(inputs.mono, rgb_to_mono(inputs.rgb))
    assert torch.equal(inputs.known, ~inputs.hole)
    assert inputs.hole.dtype == torch.bool and inputs.known.dtype == torch.bool
    assert inputs.hole_ratio == pytest.approx(box_hole().mean())
    with pytest.raises(Exception):  # frozen
        inputs.rgb = inputs.rgb  # type: ignore[misc]


def test_load_colorize_inputs_with_gray(colorize_files, tmp_path, camera):
    image, mask = colorize_files
    gray = tmp_path / "gray.png"
    Image.fromarray(camera).save(gray)
    inputs = load_colorize_inputs(image, mask, gray)
    np.testing.assert_allclose(inputs.mono[0].numpy(), camera / 255.0, atol=1e-6)


def test_size_mismatch_image_mask(colorize_files, tmp_path):
    image, _ = colorize_files
    small_mask = write_mask(tmp_path / "small_mask.png", box_hole(H // 2, W // 2))
    with pytest.raises(InputError) as info:
        load_colorize_inputs(image, small_mask)
    assert str(info.value) == (
        f"size mismatch: image {image} is {W}x{H} (WxH) but mask {small_mask} is {W // 2}x{H // 2}"
    )


def test_size_mismatch_image_gray(colorize_files, tmp_path, camera):
    image, mask = colorize_files
    gray = tmp_path / "gray_small.png"
    Image.fromarray(camera[:, : W // 2]).save(gray)
    with pytest.raises(InputError) as info:
        load_colorize_inputs(image, mask, gray)
    message = str(info.value)
    assert message.startswith("size mismatch:") and str(image) in message and str(gray) in message
    assert f"{W // 2}x{H}" in message


def test_transposed_sizes_are_a_mismatch(colorize_files, tmp_path):
    image, _ = colorize_files
    mask = write_mask(tmp_path / "t.png", box_hole(W, H))
    with pytest.raises(InputError, match="size mismatch"):
        load_colorize_inputs(image, mask)


def test_mask_without_hole(colorize_files, tmp_path):
    image, _ = colorize_files
    mask = write_mask(tmp_path / "none.png", np.zeros((H, W), bool))
    with pytest.raises(InputError) as info:
        load_colorize_inputs(image, mask)
    assert str(info.value) == f"mask {mask} has no hole (no pixel > 127): nothing to fill"


def test_mask_all_hole(colorize_files, tmp_path):
    image, _ = colorize_files
    mask = write_mask(tmp_path / "all.png", np.ones((H, W), bool))
    with pytest.raises(InputError) as info:
        load_colorize_inputs(image, mask)
    assert str(info.value) == (
        f"mask {mask} marks every pixel as hole: no known pixel to learn colors from"
    )


def test_load_colorize_inputs_propagates_read_errors(colorize_files, tmp_path):
    image, mask = colorize_files
    with pytest.raises(InputError, match="not found"):
        load_colorize_inputs(image, mask, tmp_path / "missing_gray.png")
    with pytest.raises(InputError, match="not found"):
        load_colorize_inputs(tmp_path / "missing.png", mask)


def test_validate_helpers_directly():
    rgb = torch.rand(3, 8, 10)
    hole = torch.zeros(1, 8, 10, dtype=torch.bool)
    hole[0, 2:4, 3:6] = True
    names = {"image_name": "a", "mask_name": "b", "gray_name": "c"}
    validate_colorize_inputs(rgb, hole, rgb_to_mono(rgb), **names)
    expected = r"^size mismatch: image a is 10x8 \(WxH\) but monochrome image c is 10x9$"
    with pytest.raises(InputError, match=expected):
        validate_colorize_inputs(rgb, hole, torch.rand(1, 9, 10), **names)
    with pytest.raises(InputError, match="no known pixel to learn from$"):
        check_mask(torch.ones(1, 2, 2, dtype=torch.bool), "m", known_use="learn from")
    check_same_size(rgb, "x", hole, "y")
    with pytest.raises(ValueError):
        validate_colorize_inputs(rgb, hole.float())
    with pytest.raises(ValueError):
        ColorizeInputs(rgb=rgb, hole=hole[:, :4], mono=rgb_to_mono(rgb))


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


def test_write_image_png_round_trip(tmp_path, astronaut, camera):
    tensor = torch.from_numpy(astronaut).permute(2, 0, 1).float() / 255.0
    path = write_image(tmp_path / "sub" / "out.png", tensor)
    assert path.exists()
    assert torch.allclose(read_image(path), tensor, atol=1e-6)
    gray = torch.from_numpy(camera)[None].float() / 255.0
    gray_path = write_image(tmp_path / "gray.png", gray)
    assert mode_of(gray_path) == "L"
    assert torch.allclose(read_gray(gray_path), gray, atol=1e-6)


def test_write_image_clips_and_rounds():
    values = torch.tensor([[[-0.5, 0.0, 0.5 / 255, 1.49 / 255, 1.0, 2.0]]])
    assert to_uint8(values).tolist() == [[0, 0, 0, 1, 255, 255]]


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".JPG", ".tif", ".bmp", ".webp"])
def test_write_image_other_formats(tmp_path, astronaut, suffix):
    tensor = torch.from_numpy(astronaut).permute(2, 0, 1).float() / 255.0
    path = write_image(tmp_path / f"out{suffix}", tensor)
    back = read_image(path)
    assert back.shape == (3, H, W)
    assert float((back - tensor).abs().mean()) < 0.03


def test_write_image_rejects_bad_tensors(tmp_path):
    with pytest.raises(ValueError):
        write_image(tmp_path / "a.png", torch.rand(4, 5, 5))
    nan = torch.rand(3, 5, 5)
    nan[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        write_image(tmp_path / "b.png", nan)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["out.xyz", "out", "out.psd"])
def test_unknown_extension_raises_before_creating_anything(tmp_path, name):
    target = tmp_path / "new_dir" / name
    with pytest.raises(ValueError, match="cannot write"):
        write_image(target, torch.rand(3, 4, 4))
    with pytest.raises(ValueError, match="cannot write"):
        write_mask(target, np.zeros((4, 4), bool))
    assert list(tmp_path.iterdir()) == []


def _failing_save(self, fp, *args, **kwargs):
    fp.write(b"partial bytes")
    raise OSError("disk full (simulated)")


def test_failed_save_keeps_old_file_and_leaves_no_temp(tmp_path, astronaut, monkeypatch):
    target = tmp_path / "out.png"
    tensor = torch.from_numpy(astronaut).permute(2, 0, 1).float() / 255.0
    write_image(target, tensor)
    old = target.read_bytes()
    monkeypatch.setattr(Image.Image, "save", _failing_save)
    with pytest.raises(OSError, match="simulated"):
        write_image(target, torch.zeros(3, H, W))
    with pytest.raises(OSError, match="simulated"):
        write_mask(target, box_hole())
    assert target.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(Image.Image, "save", _failing_save)
    with pytest.raises(OSError):
        atomic_save(Image.new("RGB", (4, 4)), tmp_path / "new.jpg")
    assert list(tmp_path.iterdir()) == []


def test_interrupted_save_leaves_no_temp(tmp_path, monkeypatch):
    def interrupted(self, fp, *args, **kwargs):
        fp.write(b"x")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "k.png", torch.zeros(3, 2, 2))
    assert list(tmp_path.iterdir()) == []


def test_written_file_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_image(tmp_path / "perm.png", torch.zeros(3, 2, 2))
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644
