"""Read any image file as RGB, or say clearly why it cannot be read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import UserError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
SIXTEEN_BIT = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
"""Pillow's modes of 16-bit greyscale pixels (a 16-bit PNG or TIFF)."""


class CorruptImageError(UserError):
    """An image file that is truncated or cannot be decoded; the message names the file."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def to_rgb(img: Image.Image) -> tuple[Image.Image, bool]:
    """RGB version of ``img`` and whether it had to be converted.

    Transparent pixels are composited onto white (not the black that a plain ``convert`` gives);
    16-bit greyscale (``I;16``) is scaled from its full 16-bit range to 8 bits, so a dark 16-bit
    picture stays dark; 32-bit integer greyscale (``I``) the same when a value exceeds 255, else
    it is taken as 8-bit values. CMYK goes through Pillow's conversion (no colour profile).
    """
    if img.mode == "RGB":
        return img, False
    if img.mode in SIXTEEN_BIT or img.mode == "I":
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode in SIXTEEN_BIT or arr.max() > 255 else 255.0
        img = Image.fromarray((arr / top * 255).clip(0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB"), True
    return img.convert("RGB"), True


def read_rgb(path: str | Path) -> tuple[Image.Image, bool]:
    """Fully decode ``path`` as RGB, upright; raises ``CorruptImageError`` naming the file and the
    reason.

    The EXIF orientation (tag 274) is applied with ``ImageOps.exif_transpose``: a phone stores a
    portrait photo as landscape pixels plus "turn me" (orientation 6 or 8), so reading the pixels
    alone gives a sideways face. Files without EXIF (DiffusionFER's PNGs) come out unchanged.
    """
    try:
        with Image.open(path) as img:
            img.load()
            upright = ImageOps.exif_transpose(img)  # always a copy, detached from the file
            return to_rgb(upright)
    except Image.DecompressionBombError as err:
        # Pillow refuses images far above MAX_IMAGE_PIXELS (a zip-bomb guard): one bad input,
        # reported like any undecodable file, never a crash of the whole batch
        raise CorruptImageError(
            f"{path}: image too large to decode safely ({err}); shrink it, or raise "
            "PIL.Image.MAX_IMAGE_PIXELS if you trust the file"
        ) from err
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise CorruptImageError(f"{path}: cannot decode image ({err})") from err


def fit_square(img: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``size`` and centre-crop to a square (no distortion)."""
    if img.size == (size, size):
        return img
    return ImageOps.fit(img, (size, size), Image.BILINEAR)


def png_text(path: str | Path, key: str = "parameters") -> str | None:
    """A PNG text chunk (Stable-Diffusion-WebUI stores the prompt in ``parameters``), or None."""
    try:
        with Image.open(path) as img:
            value = img.info.get(key)  # text chunks before the pixels; no decode needed
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return value if isinstance(value, str) else None
