"""Claims are code (ferlib.course.claims): a reading holds while its numbers do, and a flipped
number fails it with the sentence and the numbers named."""

import nbformat
import numpy as np
import pytest

import ferlib.methods  # noqa: F401  (registers the methods the chapters' parameters name)
from ferlib.course import chapter, runner
from ferlib.course.claims import ENV, ClaimError, Claims, claim
from ferlib.params import resolve_config

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


def test_off_the_committed_run_a_failed_reading_is_marked_not_raised():
    checked, elsewhere = Claims(enforced=True), Claims(enforced=False, reason="epochs 2")
    assert checked(0.1 < 0.2, "lower ({a})", a=0.1) == "lower (0.1)"
    with pytest.raises(ClaimError):
        checked(0.3 < 0.2, "lower ({a})", a=0.3)
    shown = elsewhere(0.3 < 0.2, "lower ({a})", a=0.3)
    assert shown == "[not supported by this run's numbers (epochs 2)] lower (0.3)"
    assert elsewhere.flagged == ["lower (0.3)"] and elsewhere.checked == 1
    with pytest.raises(ValueError, match="names 'b'"):  # a broken sentence fails everywhere
        elsewhere(True, "{b}", a=1)


def test_a_chapter_enforces_its_claims_on_its_committed_configuration_only(capsys, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    committed = chapter.committed_config("11_caf")
    assert committed["profile"] == "quick" and not committed["overrides"]
    assert chapter.start("11_caf", committed).enforced
    shown = capsys.readouterr().out
    epochs = resolve_config("quick", {"method": "caf"})["epochs"]
    assert shown.startswith("profile: quick\ndata: SyntheticFER (identities 60")
    assert f"training: {epochs} epochs" in shown and "readings: checked" in shown
    budget = chapter.start("11_caf", {**committed, "overrides": {"epochs": 2}})
    assert not budget.enforced and "overrides {'epochs': 2} (committed {})" in budget.reason
    assert not chapter.start("11_caf", {**committed, "overrides": {"identity_bias": 0.0}}).enforced
    assert not chapter.start("11_caf", {**committed, "profile": "full"}).enforced
    device = {**committed, "overrides": {"device": "cuda"}}  # not a number-mover
    assert chapter.start("11_caf", device).enforced
    monkeypatch.setenv(ENV, "enforce")
    assert chapter.start("11_caf", {**committed, "overrides": {"epochs": 2}}).enforced
    monkeypatch.setenv(ENV, "report")
    assert not chapter.start("11_caf", committed).enforced


def test_a_profile_changed_since_the_commit_is_not_the_committed_run(monkeypatch):
    """Editing params/quick.yaml (a recipe, the epochs) without refreshing the chapters turns
    their readings from checked to shown, naming what changed."""
    monkeypatch.delenv(ENV, raising=False)
    committed = chapter.committed_config("11_caf")
    contents = runner.profile_contents("quick")
    edited = {**contents, "epochs": contents["epochs"] + 1}
    monkeypatch.setattr(runner, "profile_contents", lambda profile: edited)
    moved = chapter.start("11_caf", committed)
    assert not moved.enforced and "profile contents" in moved.reason
    assert f"{{'epochs': {contents['epochs'] + 1}}}" in moved.reason


def chapter_outputs(notebook) -> list[str]:
    """The printed text of each code cell of a committed chapter, in order."""
    cells = nbformat.read(notebook, as_version=4).cells
    return [
        "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in c.outputs)
        for c in cells
        if c.cell_type == "code"
    ]


@pytest.mark.parametrize("notebook", runner.course_notebooks(), ids=lambda p: p.stem)
def test_each_committed_chapter_opens_with_its_configuration_and_its_readings_held(notebook):
    """The first thing a chapter prints is what the run was (its readings checked there), and no
    committed output carries a reading its numbers did not support."""
    printed = [text for text in chapter_outputs(notebook) if text.strip()]
    assert printed and "readings: checked" in printed[0], f"{notebook.name}: {printed[:1]}"
    assert not any("not supported by this run's numbers" in text for text in printed)
    source = nbformat.read(notebook, as_version=4).cells
    code = "\n".join(c.source for c in source if c.cell_type == "code")
    assert f'chapter.start("{notebook.stem}", globals())' in code
