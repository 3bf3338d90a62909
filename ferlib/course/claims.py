"""Claims are code: a sentence that reads a result is printed only while its numbers support it.

A chapter that interprets a number ("the top valence band has the lowest error", "CAF is on par
with the Baseline") writes the sentence once, with the condition that makes it true and the
numbers it quotes::

    print(claim(mae_top < mae_middle,
                "The error is lowest in the top valence band ({top:.3f} vs {middle:.3f}).",
                top=mae_top, middle=mae_middle))

While the condition holds, ``claim`` returns the sentence with the numbers filled in, so the
reader sees the reading beside the numbers it reads. When a recipe, the data or the code moves
the numbers so that the condition no longer holds, ``claim`` raises ``ClaimError`` naming the
sentence and the numbers: the notebook fails under nbval and in the course run, instead of
teaching a reading its own outputs contradict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

ENV = "FERZOO_CLAIMS"
"""``enforce`` or ``report`` overrides a chapter's own choice (``Claims.enforced``): the refresh
that makes the committed outputs sets ``enforce``."""


class ClaimError(AssertionError):
    """A sentence whose numbers no longer support it; the message names both."""


def claim(condition: bool | np.bool_, sentence: str, **numbers: Any) -> str:
    """``sentence`` formatted with ``numbers`` when ``condition`` holds, else ``ClaimError``.

    ``condition`` must be one truth value (a Python or NumPy bool): an array or a NaN-derived
    comparison is refused rather than read loosely. Every ``{name}`` in ``sentence`` must be one
    of ``numbers``, so the sentence cannot quote a number the check did not see.
    """
    if not isinstance(condition, (bool, np.bool_)):
        raise TypeError(
            f"claim needs one True/False condition, got {type(condition).__name__}: {sentence!r}"
        )
    try:
        text = sentence.format(**numbers)
    except (KeyError, IndexError) as err:
        raise ValueError(f"claim's sentence names {err} but no such number was given") from err
    if not condition:
        shown = ", ".join(f"{k}={_show(v)}" for k, v in numbers.items())
        raise ClaimError(f"no longer supported by its numbers ({shown}): {text}")
    return text


@dataclass
class Claims:
    """A chapter's claims: enforced on the run its committed outputs come from, reported elsewhere.

    A reading is checked where its numbers were read: on the configuration of the committed
    outputs (``ferlib.course.chapter.start`` compares). A run with other data, another budget or
    other seeds still prints every sentence, but one its numbers do not support is marked, not
    raised: a student running chapter 10 on SyntheticFER sees which readings of the DiffusionFER-S
    outputs do not carry over. ``checked`` and ``flagged`` count them.
    """

    enforced: bool
    reason: str = ""
    checked: int = 0
    flagged: list[str] = field(default_factory=list)

    def __call__(self, condition: bool | np.bool_, sentence: str, **numbers: Any) -> str:
        """``claim``'s sentence; on a run other than the committed one, a failed reading is
        returned marked instead of raised."""
        self.checked += 1
        try:
            return claim(condition, sentence, **numbers)
        except ClaimError:
            if self.enforced:
                raise
            text = sentence.format(**numbers)
            self.flagged.append(text)
            return f"[not supported by this run's numbers ({self.reason})] {text}"


def _show(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else repr(value)


__all__ = ["ENV", "ClaimError", "Claims", "claim"]
