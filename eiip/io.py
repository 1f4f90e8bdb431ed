"""Reading images and masks of any mode into tensors, validating them, and writing outputs atomically.

Tensors are float32 in [0, 1] shaped (C, H, W); masks are bool (1, H, W) with True = hole.
Mask files are single-channel images with white (255) = hole, black = known.

Every problem with an input file (missing, a directory, empty, not an image, truncated, sizes that
do not match, a mask with nothing to fill or nothing known) raises :class:`InputError`, whose
message is one human-readable line naming the file; the command line prints it as
``error: <message>`` and exits with status 2.

How pixel values are read (all readers):

* the EXIF orientation is applied (``PIL.ImageOps.exif_transpose``), so arrays are upright;
* 8-bit modes (L, P, RGB, ...) are divided by 255, mode 1 gives 0 or 1;
* 16-bit integer modes (I;16, I;16B, I;16L, and mode I whose values fit in 0..65535, as 16-bit
  PNG and TIFF files open) are divided by 65535; wider mode I data is divided by 2**31 - 1,
  the positive range of PIL's signed 32-bit mode, with negative values clipped to 0;
* float mode F is taken as intensities in [0, 1] and clipped to it (NaN or infinity is an error);
* palette images (P, PA) decode to their palette colours; CMYK, YCbCr and other colour modes go
  through PIL's conversion to RGB;
* alpha is dropped by :func:`read_image` and :func:`read_gray` (the colour stored under a
  transparent pixel is kept as it is, not composited on any background); :func:`read_mask`
  instead multiplies the mask by its alpha, so a transparent pixel is known (see there);
* 16-bit RGB(A) files are reduced to 8 bits per channel by PIL itself.
"""

from __future__ import annotations

import os
import struct
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from eiip.choices import DEFAULT_MAX_PIXELS
from eiip.color import rgb_to_mono
from eiip.errors import InputError
from eiip.finite import all_finite

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "InputError",
    "NonBinaryMaskWarning",
    "ColorizeInputs",
    "read_image",
    "read_gray",
    "read_mask",
    "load_colorize_inputs",
    "validate_colorize_inputs",
    "check_same_size",
    "check_mask",
    "atomic_save",
    "image_format_for",
    "to_uint8",
    "write_image",
    "write_mask",
]

MASK_THRESHOLD = 127
"""A mask pixel is a hole when its value, on the 0..255 scale, is greater than this."""



class NonBinaryMaskWarning(UserWarning):
    """A mask file held values other than 0 and 255 and was thresholded."""


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

# Exceptions PIL raises for files it cannot identify or decode (struct.error and IndexError come
# from some broken headers, EOFError from some truncated ones).
_PIL_READ_ERRORS = (
    UnidentifiedImageError,
    Image.DecompressionBombError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
)


def _short_reason(error: BaseException) -> str:
    if isinstance(error, UnidentifiedImageError):
        return "not a recognized image format"
    if isinstance(error, OSError) and error.strerror and not str(error).startswith("image file"):
        return error.strerror.lower()
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _check_file(path: Path, kind: str) -> None:
    try:
        if path.is_dir():
            raise InputError(f"{kind} path is a directory, not a file: {path}")
        if not path.exists():
            raise InputError(f"{kind} not found: {path}")
        size = path.stat().st_size
    except OSError as error:  # e.g. permission denied on a parent directory, name too long
        raise InputError(f"cannot read {kind} {path}: {_short_reason(error)}") from error
    if size == 0 and path.is_file():
        raise InputError(f"{kind} {path} is empty (0 bytes)")


def _decode(image: Image.Image, path: Path, kind: str) -> tuple[np.ndarray, float, np.ndarray | None]:
    """Pixel data of a loaded PIL image: (data (H, W, 1|3), max value, alpha (H, W) in [0, 1] or None).

    `data / max value` lies in [0, 1]; data keeps its integer dtype where it has one.
    """
    mode = image.mode
    if mode == "1":
        return np.asarray(image, dtype=np.uint8)[..., None], 1.0, None
    if mode == "L":
        return np.asarray(image)[..., None], 255.0, None
    if mode in ("LA", "La", "PA"):
        converted = image.convert("RGBA") if mode == "PA" else image.convert("LA")
        array = np.asarray(converted)
        return array[..., :-1], 255.0, array[..., -1].astype(np.float32) / 255.0
    if mode == "P":
        if "transparency" in image.info:
            array = np.asarray(image.convert("RGBA"))
            return array[..., :3], 255.0, array[..., 3].astype(np.float32) / 255.0
        return np.asarray(image.convert("RGB")), 255.0, None
    if mode == "RGB":
        return np.asarray(image), 255.0, None
    if mode in ("RGBA", "RGBa"):
        array = np.asarray(image.convert("RGBA") if mode == "RGBa" else image)
        return array[..., :3], 255.0, array[..., 3].astype(np.float32) / 255.0
    if mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)[..., None], 65535.0, None
    if mode == "I":
        array = np.asarray(image)
        if array.size and (array.min() < 0 or array.max() > 65535):
            return np.clip(array, 0, None)[..., None], float(2**31 - 1), None
        return array[..., None], 65535.0, None
    if mode == "F":
        array = np.asarray(image, dtype=np.float32)
        if not np.isfinite(array).all():
            raise InputError(f"cannot read {kind} {path}: float image contains NaN or infinite values")
        return np.clip(array, 0.0, 1.0)[..., None], 1.0, None
    # CMYK, YCbCr, RGBX, HSV, ...: let PIL convert (a ValueError here means it cannot).
    return np.asarray(image.convert("RGB")), 255.0, None


def _check_pixels(width: int, height: int, path: Path, kind: str, max_pixels: int | None) -> None:
    """InputError for an image of more than ``max_pixels`` pixels (None: no limit)."""
    if max_pixels is not None and width * height > max_pixels:
        raise InputError(f"{kind} {path} is {width}x{height} ({width * height / 1e6:.1f} MP), more than the limit of "
                         f"{max_pixels / 1e6:g} MP: downscale it, or raise the limit (--max-pixels)")


def _load(path: str | os.PathLike, kind: str, max_pixels: int | None = DEFAULT_MAX_PIXELS
          ) -> tuple[np.ndarray, float, np.ndarray | None]:
    """Open, check the size of, fully decode and orient an image file; raise InputError for every failure.

    The size is checked from the header before any pixel is decoded. PIL's own decompression-bomb limit is
    lifted to ``max_pixels`` meanwhile, so that the limit given is the one that holds."""
    path = Path(path)
    _check_file(path, kind)
    bomb_limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None if max_pixels is None else max(max_pixels, bomb_limit or 0)
        with Image.open(path) as image:
            _check_pixels(*image.size, path, kind, max_pixels)
            image.load()  # full decode here, so that truncated files fail inside this try
            try:
                ImageOps.exif_transpose(image, in_place=True)
            except _PIL_READ_ERRORS as error:  # a broken EXIF block should not hide the pixels
                warnings.warn(
                    f"{kind} {path}: cannot apply its EXIF orientation ({_short_reason(error)}); "
                    "using the stored orientation",
                    stacklevel=3,
                )
            return _decode(image, path, kind)
    except InputError:
        raise
    except Image.DecompressionBombError as error:  # beyond twice the limit PIL refuses before the header is read
        raise InputError(f"{kind} {path} is larger than twice the limit of {(max_pixels or 0) / 1e6:g} MP: "
                         "downscale it, or raise the limit (--max-pixels)") from error
    except _PIL_READ_ERRORS as error:
        raise InputError(f"cannot read {kind} {path}: {_short_reason(error)}") from error
    finally:
        Image.MAX_IMAGE_PIXELS = bomb_limit


def _to_tensor(data: np.ndarray, max_value: float) -> torch.Tensor:
    """(H, W, C) array -> (C, H, W) float32 tensor divided by max_value."""
    with warnings.catch_warnings():  # PIL's arrays are read-only; the view below is only read
        warnings.simplefilter("ignore", UserWarning)
        channels_first = torch.from_numpy(np.ascontiguousarray(data)).permute(2, 0, 1)
    tensor = torch.empty(channels_first.shape, dtype=torch.float32).copy_(channels_first)  # one float copy, (C, H, W)
    return tensor if max_value == 1.0 else tensor.div_(max_value)


def _gray_from_color(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) -> (1, H, W): an exact copy when the channels are equal, else rgb_to_mono."""
    if torch.equal(rgb[0], rgb[1]) and torch.equal(rgb[0], rgb[2]):
        return rgb[:1].clone()
    return rgb_to_mono(rgb)


def read_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read an image file of any PIL mode as a (3, H, W) float32 tensor in [0, 1].

    Gray modes are replicated to three channels; alpha is dropped (not composited); the EXIF
    orientation is applied. See the module docstring for how each mode is scaled. A file of more than
    ``max_pixels`` pixels is refused (InputError; None: no limit).
    """
    data, max_value, _alpha = _load(path, "image", max_pixels)
    tensor = _to_tensor(data, max_value)
    return tensor.expand(3, -1, -1).contiguous() if tensor.shape[0] == 1 else tensor


def read_gray(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read a monochrome image file as a (1, H, W) float32 tensor in [0, 1].

    Single-channel modes are read directly (16-bit ones divided by 65535). A colour file is
    converted with the paper's monochrome (``rgb_to_mono``); a gray image stored as RGB with
    exactly equal channels is taken as it is, and one with nearly equal channels (as JPEG
    saves them) comes out as their weighted mean. Alpha is dropped. ``max_pixels``: as :func:`read_image`.
    """
    data, max_value, _alpha = _load(path, "monochrome image", max_pixels)
    tensor = _to_tensor(data, max_value)
    return tensor if tensor.shape[0] == 1 else _gray_from_color(tensor)


def read_mask(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read a mask file as a (1, H, W) bool tensor, True = hole (white, value > 127 of 255).

    Any mode is accepted: colour masks go to their monochrome luminance (``rgb_to_mono``),
    16-bit masks are scaled to 0..255, and a mask with alpha is multiplied by it, so a
    transparent pixel is known whatever colour it stores (white strokes on a transparent
    layer mark the hole). A mask with values other than 0 and 255 (JPEG noise, anti-aliased
    edges) is thresholded at 127 with one :class:`NonBinaryMaskWarning`. ``max_pixels``: as :func:`read_image`.
    """
    data, max_value, alpha = _load(path, "mask", max_pixels)
    tensor = _to_tensor(data, max_value)
    value = (tensor if tensor.shape[0] == 1 else _gray_from_color(tensor)) * 255.0
    if alpha is not None:
        value = value * torch.from_numpy(alpha)[None]
    # Tolerance covers float rounding only: the nearest non-binary 16-bit value is 0.004 away.
    binary = (value <= 1e-3) | (value >= 255.0 - 1e-3)
    if not bool(binary.all()):
        percent = 100.0 * float((~binary).float().mean())
        warnings.warn(
            f"mask {path} is not binary ({percent:.3g}% of pixels are neither 0 nor 255); "
            f"thresholded at {MASK_THRESHOLD}",
            NonBinaryMaskWarning,
            stacklevel=2,
        )
    return value > MASK_THRESHOLD


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _size(tensor: torch.Tensor) -> str:
    return f"{tensor.shape[-1]}x{tensor.shape[-2]}"


def check_same_size(first: torch.Tensor, first_desc: str, second: torch.Tensor, second_desc: str) -> None:
    """Raise InputError unless two (C, H, W) tensors have the same H and W.

    The descriptions name the files, e.g. ``"image photo.png"`` and ``"mask hole.png"``.
    """
    if first.shape[-2:] != second.shape[-2:]:
        raise InputError(
            f"size mismatch: {first_desc} is {_size(first)} (WxH) but {second_desc} is {_size(second)}"
        )


def check_mask(hole: torch.Tensor, mask_name: str, *, known_use: str = "learn colors from") -> None:
    """Raise InputError if a hole mask has no hole or no known pixel.

    `known_use` finishes the second message ("no known pixel to <known_use>").
    """
    if not bool(hole.any()):
        raise InputError(f"mask {mask_name} has no hole (no pixel > {MASK_THRESHOLD}): nothing to fill")
    if bool(hole.all()):
        raise InputError(f"mask {mask_name} marks every pixel as hole: no known pixel to {known_use}")


def _check_structure(rgb: torch.Tensor, hole: torch.Tensor, mono: torch.Tensor | None) -> None:
    """Programming errors (wrong shapes or dtypes), not input-file errors: ValueError."""
    if rgb.ndim != 3 or rgb.shape[0] != 3 or not rgb.is_floating_point():
        raise ValueError(f"rgb must be a float (3, H, W) tensor, got {rgb.dtype} {tuple(rgb.shape)}")
    if hole.ndim != 3 or hole.shape[0] != 1 or hole.dtype != torch.bool:
        raise ValueError(f"hole must be a bool (1, H, W) tensor, got {hole.dtype} {tuple(hole.shape)}")
    if mono is not None and (mono.ndim != 3 or mono.shape[0] != 1 or not mono.is_floating_point()):
        raise ValueError(f"mono must be a float (1, H, W) tensor, got {mono.dtype} {tuple(mono.shape)}")


def validate_colorize_inputs(
    rgb: torch.Tensor,
    hole: torch.Tensor,
    mono: torch.Tensor | None = None,
    *,
    image_name: str = "<image>",
    mask_name: str = "<mask>",
    gray_name: str = "<monochrome>",
) -> None:
    """Check that an image, its hole mask and (optionally) a monochrome fit together.

    Raises InputError naming the files for a size mismatch (image/mask, image/monochrome), a
    mask with no hole, or a mask with no known pixel; ValueError for wrong shapes or dtypes.
    """
    _check_structure(rgb, hole, mono)
    check_same_size(rgb, f"image {image_name}", hole, f"mask {mask_name}")
    if mono is not None:
        check_same_size(rgb, f"image {image_name}", mono, f"monochrome image {gray_name}")
    check_mask(hole, mask_name)


@dataclass(frozen=True, eq=False)
class ColorizeInputs:
    """An image to colorize in its hole, with the hole mask and the monochrome guide.

    rgb: (3, H, W) float32 in [0, 1]; hole: (1, H, W) bool, True = hole; mono: (1, H, W) float32.
    """

    rgb: torch.Tensor
    hole: torch.Tensor
    mono: torch.Tensor

    def __post_init__(self) -> None:
        _check_structure(self.rgb, self.hole, self.mono)
        if not (self.rgb.shape[-2:] == self.hole.shape[-2:] == self.mono.shape[-2:]):
            raise ValueError(
                f"rgb, hole and mono sizes differ: {tuple(self.rgb.shape)}, "
                f"{tuple(self.hole.shape)}, {tuple(self.mono.shape)}"
            )

    @property
    def known(self) -> torch.Tensor:
        """(1, H, W) bool, True where the pixel is known (outside the hole)."""
        return ~self.hole

    @property
    def hole_ratio(self) -> float:
        """Fraction of pixels in the hole, in (0, 1)."""
        return float(self.hole.float().mean())


def load_colorize_inputs(
    image_path: str | os.PathLike,
    mask_path: str | os.PathLike,
    gray_path: str | os.PathLike | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> ColorizeInputs:
    """Read and validate the inputs of colorization.

    The monochrome is read from `gray_path` when given (the completed monochrome of the
    external stage); otherwise it is the image's own monochrome, ``rgb_to_mono(rgb)`` (the
    "natural monochrome" protocol). Raises InputError for any bad file or combination, or a file of more
    than ``max_pixels`` pixels.
    """
    rgb = read_image(image_path, max_pixels)
    hole = read_mask(mask_path, max_pixels)
    gray = read_gray(gray_path, max_pixels) if gray_path is not None else None
    validate_colorize_inputs(rgb, hole, gray, image_name=str(image_path), mask_name=str(mask_path),
                             gray_name=str(gray_path))
    return ColorizeInputs(rgb=rgb, hole=hole, mono=gray if gray is not None else rgb_to_mono(rgb))


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def image_format_for(path: str | Path) -> str:
    """PIL format name that a path's extension asks for; ValueError if PIL cannot write it."""
    path = Path(path)
    suffix = path.suffix.lower()
    extensions = Image.registered_extensions()  # also loads every plugin, filling Image.SAVE
    image_format = extensions.get(suffix)
    if image_format is None:
        raise ValueError(
            f"cannot write {path}: unknown image extension {suffix or '(none)'!r} "
            "(use e.g. .png, .jpg, .tif, .bmp, .webp)"
        )
    if image_format not in Image.SAVE:
        raise ValueError(f"cannot write {path}: PIL can read but not write {image_format} files")
    return image_format


def atomic_save(image: Image.Image, path: str | Path, **params) -> Path:
    """Save a PIL image so that `path` is either absent, its old content, or the complete new file.

    The format comes from the extension (ValueError before anything is created if PIL cannot
    write it); `params` go to ``Image.save`` (e.g. ``quality=95`` for JPEG). The image is
    written to a temporary file in the same directory, flushed to disk, and renamed over `path`;
    on any failure the temporary file is removed.
    """
    path = Path(path)
    image_format = image_format_for(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format=image_format, **params)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


_STRIP_ROWS = 256
"""Rows converted at a time by :func:`to_uint8`: its float temporaries stay small for any image size."""


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """(C, H, W) float tensor in [0, 1] -> (H, W, C) or (H, W) uint8 array, rounded and clipped."""
    tensor = tensor.detach()
    channels, height, width = tensor.shape
    out = torch.empty((height, width, channels), dtype=torch.uint8)
    for top in range(0, height, _STRIP_ROWS):
        strip = tensor[:, top:top + _STRIP_ROWS].cpu().float().mul(255.0).clamp_(0.0, 255.0).round_()
        out[top:top + _STRIP_ROWS] = strip.permute(1, 2, 0)  # whole numbers: the cast is exact
    return out.numpy()[..., 0] if channels == 1 else out.numpy()


def write_image(path: str | Path, image: torch.Tensor, **params) -> Path:
    """Write a (3, H, W) or (1, H, W) tensor in [0, 1] as an 8-bit image (format from the suffix).

    Values are clipped to [0, 1]; NaN or infinity is a ValueError. `params` go to ``Image.save``.
    """
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected a (1|3, H, W) tensor, got {tuple(image.shape)}")
    if image.is_floating_point() and not all_finite(image):
        raise ValueError(f"cannot write {path}: image contains NaN or infinite values")
    return atomic_save(Image.fromarray(to_uint8(image)), path, **params)


def write_mask(path: str | Path, hole: torch.Tensor | np.ndarray) -> Path:
    """Write a hole mask ((1, H, W) or (H, W), True = hole) as a binary 8-bit image, white = hole.

    Use a lossless format (.png): JPEG would make the mask non-binary.
    """
    hole_array = np.asarray(hole.detach().cpu() if isinstance(hole, torch.Tensor) else hole).astype(bool)
    if hole_array.ndim not in (2, 3) or (hole_array.ndim == 3 and hole_array.shape[0] != 1):
        raise ValueError(f"expected a (1, H, W) or (H, W) mask, got {hole_array.shape}")
    hole_array = hole_array.reshape(hole_array.shape[-2:])
    return atomic_save(Image.fromarray(np.where(hole_array, 255, 0).astype(np.uint8)), path)
