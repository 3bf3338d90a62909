"""SyntheticFER: procedurally rendered faces with exact VA ground truth, offline and embedded."""

from .builder import SynthConfig, ensure_synthetic, generate, plan_images
from .render import Nuisance, render_face
from .tables import PROMPT_FIDELITY

__all__ = [
    "PROMPT_FIDELITY",
    "Nuisance",
    "SynthConfig",
    "ensure_synthetic",
    "generate",
    "plan_images",
    "render_face",
]
