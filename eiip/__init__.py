"""eiip: image inpainting with external-internal learning and a monochromic bottleneck."""

__version__ = "0.1.0"
