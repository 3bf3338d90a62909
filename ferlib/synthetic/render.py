"""Draw one SyntheticFER face from (identity, valence, arousal, expression) plus nuisances.

What carries the label:
- the mouth curve follows valence (corners up for positive), mouth and eye opening follow arousal;
- the brows differ by emotion (angry: inner ends down; sad: inner ends up; surprise: raised;
  fear: raised and drawn together; disgust: lowered, with a nose wrinkle and a raised upper lip).
What does not: the identity's appearance, its resting-face bias, head pose, lighting, background,
noise and blur. A model must learn the first list and ignore the second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .identity import Identity

SUPERSAMPLE = 2  # draw at twice the size and reduce: cheap anti-aliasing

# Per-emotion brow shape, in face heights: (inner end dy, outer end dy, inner end dx toward centre).
# Negative dy raises the brow. Scaled by the expression's intensity.
BROWS: dict[str, tuple[float, float, float]] = {
    "neutral": (0.0, 0.0, 0.0),
    "happy": (-0.012, -0.008, 0.0),
    "sad": (-0.055, 0.012, 0.0),
    "surprise": (-0.055, -0.05, 0.0),
    "fear": (-0.05, -0.025, 0.035),
    "disgust": (0.03, 0.012, 0.012),
    "angry": (0.055, -0.018, 0.018),
}
# Extra eye and mouth opening per emotion, added to what arousal gives.
EYE_EXTRA = {"surprise": 0.35, "fear": 0.3, "happy": -0.12, "angry": -0.08, "disgust": -0.2}
MOUTH_EXTRA = {
    "surprise": 0.35,
    "fear": 0.2,
    "angry": 0.1,
    "happy": 0.1,
    "sad": -0.15,
    "neutral": -0.2,
}


@dataclass(frozen=True)
class Nuisance:
    """Strength of each appearance change that does not carry the label (0 disables it)."""

    rotation_deg: float = 10.0
    scale_jitter: float = 0.08
    translate: float = 0.05  # fraction of the image
    lighting: float = 0.5  # max relative brightness change across the image
    background: float = 0.6  # texture contrast
    noise: float = 0.03  # max Gaussian noise std, fraction of 255
    blur: float = 0.8  # max Gaussian blur radius, output pixels


def _intensity(valence: float, arousal: float) -> float:
    """How far the face is from neutral in the VA plane, ~1 for a typical emotion."""
    return float(np.clip(math.hypot(valence + 0.03, arousal - 0.02) / 0.5, 0.3, 1.6))


def _head_polygon(
    cx: float, cy: float, w: float, h: float, jaw: float
) -> list[tuple[float, float]]:
    """Ellipse on top, a squarer super-ellipse below as ``jaw`` grows."""
    pts = []
    for k in range(72):
        t = 2 * math.pi * k / 72
        c, s = math.cos(t), math.sin(t)
        n = 2.0 + (1.6 * jaw if s > 0 else 0.0)
        x = math.copysign(abs(c) ** (2 / n), c) * w / 2
        y = math.copysign(abs(s) ** (2 / n), s) * h / 2
        pts.append((cx + x, cy + y))
    return pts


@dataclass(frozen=True)
class _Layout:
    """Where a face sits on the supersampled canvas of side ``S``: its centre ``(cx, cy)``,
    width ``w`` and height ``h``, all in canvas pixels."""

    S: int
    cx: float
    cy: float
    w: float
    h: float


@dataclass(frozen=True)
class _Eyes:
    """The eyes as drawn: their height ``y``, half-width ``ew``, half-height ``eh`` and the
    distance ``dx`` of each from the centre line (the brows sit above them)."""

    y: float
    ew: float
    eh: float
    dx: float


DARK = (40, 30, 30)  # outlines, and the brows of a bald identity


def _draw_face(
    draw: ImageDraw.ImageDraw,
    S: int,
    who: Identity,
    valence: float,
    arousal: float,
    expression: str,
    identity_bias: float,
) -> None:
    """The face, back to front: body and head, eyes, brows, nose, mouth."""
    at = _Layout(S, 0.5 * S, 0.52 * S, who.face_width * S, who.face_height * S)
    f = _intensity(valence, arousal)
    _draw_head(draw, at, who)
    eyes = _draw_eyes(draw, at, who, arousal, expression, f)
    _draw_brows(draw, at, who, eyes, expression, f, identity_bias)
    _draw_nose(draw, at, eyes, expression)
    _draw_mouth(draw, at, who, valence, arousal, expression, f, identity_bias)


def _draw_head(draw: ImageDraw.ImageDraw, at: _Layout, who: Identity) -> None:
    """Shoulders, long hair and ears behind the head, the head, then the hair on top of it and
    the beard."""
    S, cx, cy, w, h = at.S, at.cx, at.cy, at.w, at.h
    top = cy - h / 2
    hair = who.hair_rgb
    shirt = tuple(int(v) for v in (np.array(who.skin) * 0.3 + np.array((60, 90, 140)) * 0.7))
    draw.ellipse([cx - 0.55 * S, cy + 0.36 * h, cx + 0.55 * S, cy + 1.2 * h], fill=shirt)
    draw.rectangle([cx - 0.12 * w, cy + 0.3 * h, cx + 0.12 * w, cy + 0.6 * h], fill=who.skin)
    if who.hair_style == "long":
        draw.ellipse([cx - 0.62 * w, top - 0.06 * h, cx + 0.62 * w, cy + 0.55 * h], fill=hair)
    ear_y = cy - 0.02 * h
    for side in (-1, 1):
        ex = cx + side * w / 2
        draw.ellipse(
            [ex - 0.07 * w, ear_y - 0.1 * h, ex + 0.07 * w, ear_y + 0.08 * h], fill=who.skin
        )
        if who.earrings:
            draw.ellipse(
                [ex - 0.025 * w, ear_y + 0.08 * h, ex + 0.025 * w, ear_y + 0.13 * h],
                fill=(230, 200, 60),
            )
    draw.polygon(_head_polygon(cx, cy, w, h, who.jaw), fill=who.skin)
    if who.hair_style != "bald":
        draw.chord(
            [cx - 0.53 * w, top - 0.07 * h, cx + 0.53 * w, top + 0.55 * h], 180, 360, fill=hair
        )
        if who.hair_style == "bun":
            draw.ellipse([cx - 0.15 * w, top - 0.2 * h, cx + 0.15 * w, top + 0.05 * h], fill=hair)
    if who.beard:
        draw.chord([cx - 0.42 * w, cy + 0.02 * h, cx + 0.42 * w, cy + 0.5 * h], 15, 165, fill=hair)


def _draw_eyes(
    draw: ImageDraw.ImageDraw,
    at: _Layout,
    who: Identity,
    arousal: float,
    expression: str,
    f: float,
) -> _Eyes:
    """Eyes whose opening follows arousal, plus the emotion's own widening or squint (and the
    identity's glasses)."""
    S, cx, cy, w, h = at.S, at.cx, at.cy, at.w, at.h
    eye_y = cy - 0.06 * h
    ew = 0.1 * w * who.eye_size
    openness = float(np.clip(0.5 + 0.6 * arousal + EYE_EXTRA.get(expression, 0.0) * f, 0.08, 1.4))
    eh = ew * (0.2 + 0.45 * openness)
    eye_dx = who.eye_spacing * w / 2
    for side in (-1, 1):
        ex = cx + side * eye_dx
        draw.ellipse(
            [ex - ew, eye_y - eh, ex + ew, eye_y + eh],
            fill=(250, 250, 250),
            outline=DARK,
            width=max(1, S // 110),
        )
        r = min(0.5 * ew, 0.95 * eh)
        draw.ellipse([ex - r, eye_y - r, ex + r, eye_y + r], fill=who.iris)
        draw.ellipse([ex - r / 2, eye_y - r / 2, ex + r / 2, eye_y + r / 2], fill=(10, 10, 10))
        if who.glasses:
            gr = ew * 1.5
            draw.ellipse(
                [ex - gr, eye_y - gr * 0.8, ex + gr, eye_y + gr * 0.8],
                outline=(20, 20, 20),
                width=max(1, S // 80),
            )
    if who.glasses:
        draw.line(
            [cx - eye_dx + ew * 1.5, eye_y, cx + eye_dx - ew * 1.5, eye_y],
            fill=(20, 20, 20),
            width=max(1, S // 80),
        )
    return _Eyes(eye_y, ew, eh, eye_dx)


def _draw_brows(
    draw: ImageDraw.ImageDraw,
    at: _Layout,
    who: Identity,
    eyes: _Eyes,
    expression: str,
    f: float,
    identity_bias: float,
) -> None:
    """Brows of the emotion's shape, scaled by intensity, shifted by the resting-face bias."""
    cx, h = at.cx, at.h
    inner_dy, outer_dy, inner_dx = (v * f * h for v in BROWS[expression])
    rest = -who.brow_bias * identity_bias * 0.035 * h
    brow_y = eyes.y - eyes.eh - 0.07 * h
    brow_colour = who.hair_rgb if who.hair_style != "bald" else DARK
    for side in (-1, 1):
        inner = (cx + side * (eyes.dx - 1.1 * eyes.ew) - side * inner_dx, brow_y + inner_dy + rest)
        outer = (cx + side * (eyes.dx + 1.2 * eyes.ew), brow_y + outer_dy + rest + 0.01 * h)
        draw.line([inner, outer], fill=brow_colour, width=max(2, int(0.03 * h)))


def _draw_nose(draw: ImageDraw.ImageDraw, at: _Layout, eyes: _Eyes, expression: str) -> None:
    """The nose, with the disgust wrinkle."""
    S, cx, cy, w, h = at.S, at.cx, at.cy, at.w, at.h
    eye_y = eyes.y
    nose_y = cy + 0.1 * h
    draw.line(
        [(cx, eye_y + 0.03 * h), (cx - 0.04 * w, nose_y), (cx + 0.03 * w, nose_y + 0.01 * h)],
        fill=(120, 80, 70),
        width=max(1, S // 100),
    )
    if expression == "disgust":
        for k in range(3):
            y = eye_y + 0.03 * h + k * 0.022 * h
            draw.arc(
                [cx - 0.06 * w, y, cx + 0.06 * w, y + 0.03 * h],
                200,
                340,
                fill=(120, 70, 60),
                width=max(1, S // 110),
            )


def _draw_mouth(
    draw: ImageDraw.ImageDraw,
    at: _Layout,
    who: Identity,
    valence: float,
    arousal: float,
    expression: str,
    f: float,
    identity_bias: float,
) -> None:
    """A mouth whose curve follows valence (+ the resting bias) and opening follows arousal."""
    cx, cy, w, h = at.cx, at.cy, at.w, at.h
    my = cy + 0.25 * h
    mw = who.mouth_width * w / 2 * (1 + 0.15 * valence)
    curve = valence + identity_bias * who.mouth_bias
    corner_dy = -curve * 0.11 * h
    opening = max(0.0, 0.12 + 0.7 * arousal + MOUTH_EXTRA.get(expression, 0.0) * f) * 0.11 * h
    lift = 0.04 * h * f if expression == "disgust" else 0.0  # raised upper lip, one-sided
    ts = np.linspace(-1, 1, 25)
    upper = [
        (cx + t * mw, my + corner_dy * t * t - (0.25 * opening + lift * max(0.0, t)) * (1 - t * t))
        for t in ts
    ]
    lower = [(cx + t * mw, my + corner_dy * t * t + opening * (1 - t * t)) for t in ts]
    lip = (150, 60, 60)
    if opening > 0.012 * h:
        draw.polygon(upper + lower[::-1], fill=(70, 20, 30), outline=lip)
        if expression in ("happy", "angry"):
            teeth = [(x, y + 0.25 * opening) for x, y in upper[4:-4]]
            draw.polygon(upper[4:-4] + teeth[::-1], fill=(245, 245, 240))
        draw.line(upper, fill=lip, width=max(1, int(0.018 * h)))
        draw.line(lower, fill=lip, width=max(1, int(0.022 * h)))
    else:
        draw.line(upper, fill=lip, width=max(2, int(0.025 * h)))


def _background(S: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A smooth random colour field plus fine grain, float32 HxWx3 in 0..255."""
    base = rng.uniform(40, 220, size=3)
    coarse = rng.normal(0, 1, size=(6, 6, 3)).astype(np.float32)
    field = np.asarray(
        Image.fromarray(((coarse * 0.25 + 0.5).clip(0, 1) * 255).astype(np.uint8)).resize(
            (S, S), Image.BICUBIC
        ),
        dtype=np.float32,
    )
    grain = rng.normal(0, 12, size=(S, S, 1)).astype(np.float32)
    return base + strength * ((field - 127.5) * 0.5 + grain)


def render_face(
    who: Identity,
    valence: float,
    arousal: float,
    expression: str,
    rng: np.random.Generator,
    size: int = 112,
    identity_bias: float = 1.0,
    nuisance: Nuisance | None = None,
) -> Image.Image:
    """An RGB ``size``×``size`` face. All randomness comes from ``rng`` (deterministic per seed)."""
    nz = nuisance or Nuisance()
    S = size * SUPERSAMPLE
    layer = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    _draw_face(ImageDraw.Draw(layer), S, who, valence, arousal, expression, identity_bias)

    # head pose: rotate, scale and translate the face layer with one affine warp
    theta = math.radians(rng.uniform(-nz.rotation_deg, nz.rotation_deg))
    scale = 1 + rng.uniform(-nz.scale_jitter, nz.scale_jitter)
    tx, ty = rng.uniform(-nz.translate, nz.translate, size=2) * S
    c = S / 2
    cos, sin = math.cos(theta) / scale, math.sin(theta) / scale
    # inverse map: output (x, y) -> input
    a, b, d, e = cos, sin, -sin, cos
    off_x = c - a * (c + tx) - b * (c + ty)
    off_y = c - d * (c + tx) - e * (c + ty)
    layer = layer.transform((S, S), Image.AFFINE, (a, b, off_x, d, e, off_y), Image.BILINEAR)

    bg = _background(S, rng, nz.background)
    alpha = np.asarray(layer.getchannel("A"), dtype=np.float32)[..., None] / 255.0
    face = np.asarray(layer.convert("RGB"), dtype=np.float32)
    img = face * alpha + bg * (1 - alpha)

    # lighting: a linear brightness ramp in a random direction
    phi = rng.uniform(0, 2 * math.pi)
    strength = rng.uniform(0, nz.lighting)
    ramp = np.cos(phi) * (np.arange(S)[None, :] / S - 0.5) + np.sin(phi) * (
        np.arange(S)[:, None] / S - 0.5
    )
    img *= (1 + strength * ramp)[..., None].astype(np.float32)

    small = Image.fromarray(img.clip(0, 255).astype(np.uint8)).reduce(SUPERSAMPLE)
    radius = rng.uniform(0, nz.blur)
    if radius > 0.05:
        small = small.filter(ImageFilter.GaussianBlur(radius))
    out = np.asarray(small, dtype=np.float32)
    out += rng.normal(0, rng.uniform(0, nz.noise) * 255, size=out.shape).astype(np.float32)
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))
