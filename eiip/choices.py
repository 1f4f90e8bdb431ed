"""Names and defaults that the command line offers, importable without torch.

`eiip --help` and argument errors build their parsers from these alone. The library takes its
constants from here too; the colorizers are registered in `eiip.colorize`, and a test checks that
the built-in ones are exactly :data:`COLORIZER_NAMES`.
"""

COLORIZER_NAMES: tuple[str, ...] = ("dt", "internal", "internal-base", "knn", "levin", "local-linear", "mean",
                                    "validated-blend")
"""The built-in colorizers of `eiip.colorize`, sorted."""

INTERNAL_COLORIZERS: tuple[str, ...] = ("internal", "internal-base")
"""The colorizers built on the paper's network (`eiip.colorize.internal`)."""

INTERNAL_PRESETS: tuple[str, ...] = ("fast", "reference", "paper", "base")
"""Presets of the internal colorizers (`eiip.colorize.internal.config.internal_preset`)."""

FAST_FIT_PIXELS = 64 * 80
"""The fast preset fits the pyramid up to this many pixels: a 512x640 image at 64x80, a 256x256 one at 64x64."""

FAST_ENSEMBLE = 8
"""Pyramids fitted per image by the fast preset."""

CLASSICAL_METHODS: tuple[str, ...] = ("telea", "ns")
"""OpenCV inpainting methods of `eiip.pipeline.ClassicalStage`."""

MASK_KINDS: tuple[str, ...] = ("freeform", "rect", "mixed", "lama-thin", "lama-medium", "lama-thick")
"""Kinds of generated hole masks (`eiip.masks`)."""

RELEASES: tuple[str, ...] = ("edgeconnect", "gmcnn", "deepfill-v2")
"""Official releases whose pretrained weights `eiip import-weights` converts (`eiip.external.releases`)."""

NVIDIA_HOLE_COLORS: tuple[str, ...] = ("white", "black")
"""Colours that can mark the holes of imported NVIDIA irregular masks (`eiip.nvidia_masks`)."""

HD_STRATEGIES: tuple[str, ...] = ("crop", "resize", "original")
"""How the external stage completes images larger than its working size (`eiip.hd_strategy`), the default first."""

WORKING_PIXELS = 512 * 640
"""A network's working size by default: the paper's Places2 test size (512x640)."""

DEFAULT_MAX_PIXELS = 100_000_000
"""The largest image (width x height) read by default (`eiip.io`): a 100 MP photo takes about 1.2 GB per float
copy, and the full-resolution paths keep a handful of copies well inside 24 GB."""

APP_MAX_PIXELS = 40_000_000
"""The largest photo the app takes by default (`eiip app --max-pixels`): a 40 MP phone photo, with room for the
browser's canvas and a few results per person."""

NEIGHBOURHOOD_ABOVE = 1_000_000
"""Images of more pixels than this are colorized in the neighbourhoods of their holes (`eiip.colorize.neighbourhood`;
the paper's 512x640 and every benchmark image stay below it, solved whole)."""

NEIGHBOURHOOD_COLORIZERS: tuple[str, ...] = ("levin", "local-linear", "mean", "validated-blend")
"""The colorizers that solve large images in their holes' neighbourhoods (option ``neighbourhood_above``)."""
