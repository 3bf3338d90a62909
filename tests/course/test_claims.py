"""Claims are code (ferlib.course.claims): a reading holds while its numbers do, and a flipped
number fails it with the sentence and the numbers named."""

import numpy as np
import pytest

from ferlib.course.claims import ClaimError, claim

SENTENCE = "The error is lowest in the top valence band ({top:.3f} vs {middle:.3f})."


def reading(top: float, middle: float) -> str:
    return claim(top < middle, SENTENCE, top=top, middle=middle)


def test_a_supported_claim_is_its_sentence_with_the_numbers():
    assert reading(0.100, 0.142) == "The error is lowest in the top valence band (0.100 vs 0.142)."
    assert claim(np.float64(0.9) > 0.5, "CCC {c:.2f}", c=np.float64(0.9)) == "CCC 0.90"


def test_a_flipped_number_fails_its_claim_naming_sentence_and_numbers():
    with pytest.raises(ClaimError) as caught:
        reading(0.142, 0.100)  # the same sentence, the numbers swapped
    message = str(caught.value)
    assert "no longer supported by its numbers (top=0.142, middle=0.1)" in message
    assert message.endswith("The error is lowest in the top valence band (0.142 vs 0.100).")


def test_nan_never_supports_a_claim():
    with pytest.raises(ClaimError):
        reading(float("nan"), 0.100)


def test_a_claim_needs_one_truth_value_and_only_the_numbers_it_was_given():
    with pytest.raises(TypeError, match="one True/False condition"):
        claim(np.array([True, False]), "two readings at once")
    with pytest.raises(TypeError, match="one True/False condition"):
        claim(1, "an integer is not a verdict")
    with pytest.raises(ValueError, match="names 'middle'"):
        claim(True, SENTENCE, top=0.1)
