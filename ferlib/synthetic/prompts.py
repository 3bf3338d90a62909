"""Prompts as a Stable Diffusion user writes them, and the WebUI ``parameters`` PNG text chunk."""

from __future__ import annotations

import numpy as np

from .identity import Identity

EMOTION_PHRASES = {
    "neutral": "neutral expression",
    "happy": "happy smiling expression",
    "sad": "sad expression",
    "surprise": "surprised expression",
    "fear": "scared, fearful expression",
    "disgust": "disgusted expression",
    "angry": "angry expression",
}
STYLE_TERMS = (
    "highly detailed",
    "sharp focus",
    "8k",
    "dslr photo",
    "studio portrait",
    "photorealistic",
    "film grain",
    "bokeh",
)
LIGHTING_TERMS = ("soft lighting", "dramatic lighting", "natural light", "rim light", "golden hour")
NEGATIVE_PROMPT = "blurry, deformed, bad anatomy, disfigured, watermark, text, lowres, extra limbs"
SAMPLERS = ("Euler a", "DPM++ 2M Karras", "DDIM")


def build_prompt(
    who: Identity, prompted: str, intensity_word: str, rng: np.random.Generator
) -> str:
    """Subject, age, hair, the prompted emotion with its intensity word, then style and lighting."""
    word = "" if prompted == "neutral" else intensity_word  # "very neutral" is not a prompt
    emotion = f"{word} {EMOTION_PHRASES[prompted]}".strip()
    extras = [
        phrase
        for phrase, flag in (
            ("wearing glasses", who.glasses),
            ("with a beard", who.beard),
            ("with earrings", who.earrings),
        )
        if flag
    ]
    style = list(rng.choice(STYLE_TERMS, size=2, replace=False))
    lighting = str(rng.choice(LIGHTING_TERMS))
    if who.hair_style == "bald":
        parts = [f"portrait photo of a bald {who.age} {who.subject}"]
    else:
        parts = [
            f"portrait photo of a {who.age} {who.subject} with {who.hair_style} "
            f"{who.hair_colour} hair"
        ]
    parts += extras
    parts += [emotion, *style, lighting]
    return ", ".join(parts)


def webui_parameters(prompt: str, rng: np.random.Generator, size: int = 512) -> str:
    """The text Stable-Diffusion-WebUI stores in a PNG's ``parameters`` chunk."""
    steps = int(rng.choice((20, 25, 30, 50)))
    sampler = str(rng.choice(SAMPLERS))
    cfg = float(rng.choice((6.0, 7.0, 7.5, 9.0)))
    seed = int(rng.integers(0, 2**32 - 1))
    return (
        f"{prompt}\nNegative prompt: {NEGATIVE_PROMPT}\n"
        f"Steps: {steps}, Sampler: {sampler}, CFG scale: {cfg:g}, Seed: {seed}, "
        f"Size: {size}x{size}, Model: v1-5-pruned-emaonly"
    )


def parse_webui_parameters(text: str) -> dict[str, str]:
    """Split a WebUI ``parameters`` chunk into ``prompt``, ``negative_prompt`` and its settings.

    Only the prompt is needed by the loaders; the settings are kept as strings.
    """
    lines = text.strip().splitlines()
    out: dict[str, str] = {"prompt": "", "negative_prompt": ""}
    prompt_lines: list[str] = []
    for line in lines:
        if line.startswith("Negative prompt:"):
            out["negative_prompt"] = line.split(":", 1)[1].strip()
        elif line.startswith("Steps:"):
            for item in line.split(", "):
                if ": " in item:
                    key, value = item.split(": ", 1)
                    out[key.strip().lower().replace(" ", "_")] = value.strip()
        else:
            prompt_lines.append(line)
    out["prompt"] = "\n".join(prompt_lines).strip()
    return out
