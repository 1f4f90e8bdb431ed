"""`fit_pixels`: fit the pyramid below full resolution and upsample the fitted chroma around the full-resolution
monochrome (the `fast` preset's fit resolution)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from eiip.color import rgb_to_mono, rgb_to_yiq
from eiip.data.samples import load_sample_photo
from eiip.colorize.internal import ColorHint, InternalColorizer, InternalConfig
from eiip.colorize.internal.chroma import upsample_chroma
from eiip.colorize.internal.pyramid import finest_levels_skipped

SMALL = InternalConfig(steps=(20, 20), lrs=(0.01, 0.005), width=8, blocks=2, output="chroma", schedule="cosine")


@pytest.mark.parametrize(
    ("size", "fit_pixels", "skipped"),
    [((256, 256), None, 0), ((256, 256), 65536, 0), ((256, 256), 20480, 1), ((512, 640), 20480, 2),
     ((512, 640), 20479, 3), ((5, 7), 1, 3)],
)
def test_levels_skipped_halve_the_image_until_it_fits(size: tuple[int, int], fit_pixels: int | None,
                                                      skipped: int) -> None:
    assert finest_levels_skipped(size, fit_pixels) == skipped


def test_upsampled_chroma_keeps_the_mono_and_a_flat_color(astronaut64: torch.Tensor) -> None:
    mono = rgb_to_mono(astronaut64)[None]
    small = F.avg_pool2d(astronaut64[None], 2)
    colors = upsample_chroma(small, mono)
    assert colors.shape == (1, 3, 64, 64)
    torch.testing.assert_close(rgb_to_mono(colors), mono, rtol=0, atol=1e-6)
    # the upsampled chroma is close to the photo's own (it is smooth at this scale)
    chroma_error = (rgb_to_yiq(colors)[:, 1:] - rgb_to_yiq(astronaut64[None])[:, 1:]).abs().mean()
    assert chroma_error < 0.02
    flat = torch.tensor([0.7, 0.4, 0.2]).view(1, 3, 1, 1)
    torch.testing.assert_close(upsample_chroma(flat.expand(1, 3, 8, 8), rgb_to_mono(flat).expand(1, 1, 32, 32)),
                               flat.expand(1, 3, 32, 32), rtol=0, atol=1e-6)


def test_low_resolution_fit_is_the_fit_of_the_downsampled_image(astronaut64: torch.Tensor,
                                                               rect_known: torch.Tensor) -> None:
    """With fit_pixels = 32 * 32 a 64x64 image is fitted at 32x32 (area-averaged image, max-pooled hole) and
    its chroma upsampled: the same as fitting that downsampled image and upsampling by hand."""
    mono = rgb_to_mono(astronaut64)
    result = InternalColorizer(replace(SMALL, fit_pixels=32 * 32), seed=4, progress=False).fit(mono, astronaut64,
                                                                                               rect_known)
    white_hole = torch.where(rect_known, astronaut64, torch.ones_like(astronaut64))
    small_known = F.max_pool2d((~rect_known).float()[None], 3, 2, 1)[0] < 0.5
    small = InternalColorizer(SMALL, seed=4, progress=False).fit(F.avg_pool2d(mono, 2), F.avg_pool2d(white_hole, 2),
                                                                 small_known)
    expected = upsample_chroma(small.colorized[None], mono[None])[0]
    torch.testing.assert_close(result.colorized, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(rgb_to_mono(result.colorized), mono, rtol=0, atol=1e-6)
    assert result.final_losses == pytest.approx(small.final_losses, rel=1e-4)
    kept = rect_known.expand(3, -1, -1)
    assert torch.equal(result.composite[kept], astronaut64[kept])


def test_a_hint_still_pulls_the_hole_when_fitting_below_full_resolution(astronaut64: torch.Tensor,
                                                                       rect_known: torch.Tensor) -> None:
    mono = rgb_to_mono(astronaut64)
    green = (0.1, 0.9, 0.1)
    colorizer = InternalColorizer(replace(SMALL, steps=(40, 40), fit_pixels=32 * 32), progress=False)
    plain = colorizer.fit(mono, astronaut64, rect_known).colorized
    hinted = colorizer.fit(mono, astronaut64, rect_known, hints=[ColorHint(x=30, y=32, rgb=green)]).colorized
    hue = lambda image: rgb_to_yiq(image[None, :, 30:35, 27:34])[0, 1:].mean((1, 2))  # noqa: E731
    target = rgb_to_yiq(torch.tensor(green).view(1, 3, 1, 1))[0, 1:, 0, 0]
    assert (hue(hinted) - target).norm() < (hue(plain) - target).norm() - 0.05


def test_fit_pixels_must_be_positive() -> None:
    with pytest.raises(ValueError, match="fit_pixels"):
        InternalConfig(fit_pixels=0)


@pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
def test_batched_low_resolution_ensemble_equals_single_fits(astronaut64: torch.Tensor,
                                                            rect_known: torch.Tensor) -> None:
    """The `fast` structure (fit below full resolution, an ensemble per image) fits K images at once exactly
    as one at a time with the same seeds (oneDNN off: its grouped kernels round differently)."""
    coffee = load_sample_photo("coffee", 64)
    rgb = torch.stack([astronaut64, coffee])
    known = torch.stack([rect_known, rect_known.flip(-1)])
    monos = rgb_to_mono(rgb)
    config = replace(SMALL, steps=(6, 6), fit_pixels=32 * 32, ensemble=2, warm_start=True)
    seeds = (0, 5)
    with torch.backends.mkldnn.flags(enabled=False):
        batched = InternalColorizer(config, progress=False).fit_batch(monos, rgb * known, known, seeds=seeds)
        singles = [InternalColorizer(config, seed=seed, progress=False).fit(*image)
                   for *image, seed in zip(monos, rgb * known, known, seeds)]
    for batch_result, single, mono in zip(batched, singles, monos):
        assert torch.equal(batch_result.colorized, single.colorized)
        torch.testing.assert_close(rgb_to_mono(batch_result.colorized), mono, rtol=0, atol=1e-6)
    assert not torch.equal(batched[0].colorized, batched[1].colorized)
