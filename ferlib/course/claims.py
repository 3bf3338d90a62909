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

from typing import Any

import numpy as np


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


def _show(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else repr(value)


__all__ = ["ClaimError", "claim"]
