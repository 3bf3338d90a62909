"""SyntheticFER: procedurally rendered faces with exact VA ground truth, offline and embedded."""

from .builder import SynthConfig, ensure_synthetic, generate, plan_images
from .render import Nuisance, render_face
from .tables import PROMPT_FIDELITY, VA_STATS

__all__ = [
    "PROMPT_FIDELITY",
    "VA_STATS",
    "Nuisance",
    "SynthConfig",
    "ensure_synthetic",
    "generate",
    "plan_images",
    "render_face",
]
