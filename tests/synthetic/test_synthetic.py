import csv
import dataclasses
import re
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from ferlib.data.images import png_text
from ferlib.emotions import CODE, EMOTIONS, VA_STATS
from ferlib.synthetic import PROMPT_FIDELITY, SynthConfig, generate, plan_images
from ferlib.synthetic.builder import ensure_synthetic, identity_splits
from ferlib.synthetic.identity import sample_identity
from ferlib.synthetic.prompts import parse_webui_parameters
from ferlib.synthetic.render import Nuisance, render_face
from ferlib.synthetic.tables import validate_tables
from tests.conftest import TINY


def _files(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def test_layout_and_sheet(tiny_synth):
    base = tiny_synth / "DiffusionEmotion_S"
    rows = list(csv.DictReader(open(base / "dataset_sheet.csv")))
    assert list(rows[0]) == [
        "subDirectory_filePath",
        "valence",
        "arousal",
        "expression",
        "identity",
        "prompt",
        "split",
    ]
    assert len(rows) == len(EMOTIONS) * TINY.per_class
    for row in rows:
        folder, name = row["subDirectory_filePath"].split("/")[-2:]
        assert re.fullmatch(r"[a-z]{8}_[0-6]\.png", name)
        assert int(name[-5]) == CODE[folder]  # suffix and folder are the prompted emotion
        assert (base / "cropped" / folder / name).is_file()
        assert -1 <= float(row["valence"]) <= 1 and -1 <= float(row["arousal"]) <= 1
        assert row["split"] in ("train", "val", "test")
    with Image.open(base / "cropped" / folder / name) as img:
        assert img.size == (TINY.size, TINY.size) and img.mode == "RGB"


def test_same_bytes_for_a_seed_whatever_the_workers(tmp_path, tiny_synth):
    generate(tmp_path, TINY, workers=2)
    assert _files(tmp_path) == _files(tiny_synth)


def test_other_seed_gives_other_images(tmp_path, tiny_synth):
    generate(tmp_path, dataclasses.replace(TINY, seed=4), workers=1)
    assert _files(tmp_path) != _files(tiny_synth)


def test_png_carries_webui_parameters_matching_the_sheet(tiny_synth):
    base = tiny_synth / "DiffusionEmotion_S"
    row = next(csv.DictReader(open(base / "dataset_sheet.csv")))
    path = base / "cropped" / "/".join(row["subDirectory_filePath"].split("/")[-2:])
    text = png_text(path)
    lines = text.splitlines()
    assert lines[1].startswith("Negative prompt: ")
    assert re.fullmatch(
        r"Steps: \d+, Sampler: [^,]+, CFG scale: [\d.]+, Seed: \d+, Size: \d+x\d+.*", lines[2]
    )
    parsed = parse_webui_parameters(text)
    assert parsed["prompt"] == row["prompt"]
    assert parsed["cfg_scale"] and parsed["seed"].isdigit()


@pytest.mark.slow
def test_fidelity_and_va_statistics_match_the_tables():
    cfg = SynthConfig(per_class=3000, identities=60)
    specs = plan_images(cfg)
    for prompted in EMOTIONS:
        rendered = Counter(s.expression for s in specs if s.prompted == prompted)
        for expression, share in PROMPT_FIDELITY[prompted].items():
            assert rendered[expression] / cfg.per_class == pytest.approx(share, abs=0.025)
    for expression, (vm, vs, am, as_) in VA_STATS.items():
        v = np.array([s.valence for s in specs if s.expression == expression])
        a = np.array([s.arousal for s in specs if s.expression == expression])
        assert v.mean() == pytest.approx(vm, abs=0.03) and a.mean() == pytest.approx(am, abs=0.03)
        assert v.std() == pytest.approx(vs, abs=0.03) and a.std() == pytest.approx(as_, abs=0.03)


def test_intensity_words_move_va_away_from_neutral():
    specs = [s for s in plan_images(SynthConfig(per_class=1500)) if s.expression == "happy"]
    radius = {
        w: np.mean([np.hypot(s.valence, s.arousal) for s in specs if s.intensity_word == w])
        for w in ("slightly", "extremely")
    }
    assert radius["extremely"] > radius["slightly"] + 0.1


def test_fidelity_table_is_user_editable_and_validated():
    always_faithful = {e: {e: 1.0} for e in EMOTIONS}
    specs = plan_images(SynthConfig(per_class=50, fidelity=always_faithful))
    assert all(s.expression == s.prompted for s in specs)
    with pytest.raises(ValueError, match="sums to"):
        validate_tables(VA_STATS, {"angry": {"angry": 0.5}})
    with pytest.raises(ValueError, match="unknown emotions"):
        validate_tables(VA_STATS, {"angry": {"contempt": 1.0}})


def test_splits_are_by_identity():
    cfg = SynthConfig(identities=20)
    splits = identity_splits(cfg)
    assert set(splits.values()) == {"train", "val", "test"}
    by_split = {}
    for spec in plan_images(dataclasses.replace(cfg, per_class=40)):
        by_split.setdefault(splits[spec.identity], set()).add(spec.identity)
    assert not by_split["train"] & by_split["test"]
    assert not by_split["train"] & by_split["val"]
    assert not by_split["val"] & by_split["test"]


def test_identity_bias_zero_removes_the_resting_face():
    who = sample_identity(0, seed=0)
    twin = dataclasses.replace(who, mouth_bias=-who.mouth_bias, brow_bias=-who.brow_bias)
    still = Nuisance(0, 0, 0, 0, 0, 0, 0)

    def draw(person, bias):
        rng = np.random.default_rng(0)
        return np.asarray(render_face(person, 0.2, 0.1, "neutral", rng, 64, bias, still))

    assert np.array_equal(draw(who, 0.0), draw(twin, 0.0))
    assert not np.array_equal(draw(who, 1.0), draw(twin, 1.0))


def test_expression_changes_the_face_at_fixed_va():
    who = sample_identity(1, seed=0)
    still = Nuisance(0, 0, 0, 0, 0, 0, 0)
    faces = {
        e: np.asarray(render_face(who, -0.3, 0.3, e, np.random.default_rng(0), 64, 1.0, still))
        for e in ("angry", "sad", "fear")
    }
    assert not np.array_equal(faces["angry"], faces["sad"])
    assert not np.array_equal(faces["angry"], faces["fear"])


def test_cache_reuses_and_never_trusts_a_partial_run(tmp_path, monkeypatch):
    cfg = dataclasses.replace(TINY, per_class=2)
    first = ensure_synthetic(cfg, tmp_path)
    stamp = (first / "DiffusionEmotion_S" / "dataset_sheet.csv").stat().st_mtime_ns
    assert ensure_synthetic(cfg, tmp_path) == first
    assert (first / "DiffusionEmotion_S" / "dataset_sheet.csv").stat().st_mtime_ns == stamp

    import ferlib.synthetic.builder as gen

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gen, "generate", crash)
    other = dataclasses.replace(cfg, seed=99)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic(other, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_config_rejects_too_few_identities():
    with pytest.raises(ValueError, match="at least 3 identities"):
        SynthConfig(identities=2)
