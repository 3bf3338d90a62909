import csv
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferlib.data import ColumnError, cache_images, load_dataset, load_diffusionfer, load_va_csv
from ferlib.data.splits import stable_hash
from tests.conftest import TINY


@pytest.fixture
def messy(tiny_synth, tmp_path):
    """A copy of the tiny SyntheticFER with every kind of real-data mess added."""
    shutil.copytree(tiny_synth, tmp_path, dirs_exist_ok=True)
    base = tmp_path / "DiffusionEmotion_S"
    sheet = base / "dataset_sheet.csv"
    rows = list(csv.DictReader(open(sheet)))
    crop = base / "cropped"
    tail = lambda r: "/".join(r["subDirectory_filePath"].split("/")[-2:])  # noqa: E731

    (crop / rows[0]["subDirectory_filePath"].split("/")[-2] / "notes.txt").write_text("hi")
    (crop / tail(rows[1])).unlink()  # row whose image is missing
    rows[2]["valence"] = "1.7"  # out of range
    rows[3]["arousal"] = "nan"
    shutil.copy(crop / tail(rows[4]), crop / "happy" / "zzunlabl_1.png")  # image without a row
    odd = crop / "neutral" / "kwblojky_-.png"
    shutil.copy(crop / tail(rows[5]), odd)
    rows.append({**rows[5], "subDirectory_filePath": "neutral/kwblojky_-.png"})  # other prefix
    data = (crop / tail(rows[6])).read_bytes()
    (crop / tail(rows[6])).write_bytes(data[: len(data) // 2])  # truncated PNG
    Image.open(crop / tail(rows[7])).convert("RGBA").save(crop / tail(rows[7]))
    Image.open(crop / tail(rows[8])).convert("L").save(crop / tail(rows[8]))
    rows.append(dict(rows[9]))  # duplicate row
    rows[10]["expression"] = "9"
    (crop / "contempt").mkdir()  # empty class folder
    with open(sheet, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path, rows


def test_synthetic_loads_with_identities_and_prompts(tiny_synth):
    data = load_diffusionfer(tiny_synth, source="synthetic")
    n = 7 * TINY.per_class
    assert len(data) == n and data.report.images_found == n and data.report.unlabelled == 0
    assert data.frame["identity"].nunique() == TINY.identities
    assert data.frame["prompt"].str.startswith("portrait photo").all()
    sample = data.sample(0)
    assert sample.path.is_file() and sample.prompted in ("neutral",)
    assert sample.expression in range(7)


def test_every_kind_of_mess_has_a_defined_outcome(messy, tmp_path):
    root, rows = messy
    data = load_diffusionfer(root)
    rep = data.report
    assert rep.count("not_an_image") == 1
    assert rep.issues["missing_image"] == [rows[1]["subDirectory_filePath"]]
    assert rep.count("invalid_va") == 2
    assert rep.issues["unlabelled_image"] == ["happy/zzunlabl_1.png"]
    assert "neutral/kwblojky_-.png" in rep.issues["odd_filename"]
    assert rep.count("prefix_remapped") == 2  # two distinct prefixes, each reported once
    assert rep.count("duplicate_row") == 1
    assert rep.count("unknown_expression") == 1
    assert rep.issues["empty_class_folder"] == ["contempt"]
    assert rep.images_found == 7 * TINY.per_class + 1  # the copy of kwblojky; one deleted, one new
    assert data.frame["expression"].isna().sum() == 1

    decoded = cache_images(data, 64, cache_dir=tmp_path / "cache")
    key = lambda r: "/".join(r["subDirectory_filePath"].split("/")[-2:])  # noqa: E731
    assert decoded.report.issues["corrupt_image"] == [key(rows[6])]
    assert sorted(decoded.report.issues["converted_mode"]) == sorted([key(rows[7]), key(rows[8])])
    assert len(decoded) == len(data) - 1 and decoded.images.shape[0] == len(decoded)
    text = decoded.report.format()
    for reason in ("corrupt_image", "unlabelled_image", "missing_image", "invalid_va"):
        assert reason in text


def test_rgba_is_composited_on_white(tmp_path):
    from ferlib.data.images import read_rgb

    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    rgba.save(tmp_path / "t.png")
    img, converted = read_rgb(tmp_path / "t.png")
    assert converted and np.asarray(img)[0, 0].tolist() == [255, 255, 255]


def _saved(img: Image.Image, path, **options):
    img.save(path, **options)
    with Image.open(path) as back:
        mode = back.mode
    from ferlib.data.images import read_rgb

    rgb, converted = read_rgb(path)
    assert converted and rgb.mode == "RGB"
    return mode, np.asarray(rgb)


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_photos_are_converted_to_their_rgb_colours(suffix, tmp_path):
    cmyk = Image.new("RGB", (16, 16), (200, 30, 40)).convert("CMYK")
    mode, rgb = _saved(cmyk, tmp_path / f"print{suffix}", quality=100)
    assert mode == "CMYK" and np.abs(rgb[8, 8].astype(int) - (200, 30, 40)).max() <= 3


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_greyscale_is_scaled_from_its_full_range(suffix, tmp_path):
    bright = np.full((8, 8), 40000, np.uint16)
    dark = np.full((8, 8), 200, np.uint16)  # 0.3 % of white: stays dark, not 200/255
    for name, pixels, grey in (("bright", bright, 155), ("dark", dark, 0)):
        mode, rgb = _saved(Image.fromarray(pixels), tmp_path / f"{name}{suffix}")
        assert mode == "I;16" and rgb[0, 0].tolist() == [grey] * 3


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_transparency_is_white_and_the_palette_colours_stay(suffix, tmp_path):
    img = Image.new("P", (8, 8), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((0, 0), 1)  # palette entry 1 is the transparent one
    mode, rgb = _saved(img, tmp_path / f"palette{suffix}", transparency=1)
    assert mode == "P" and rgb[0, 0].tolist() == [255] * 3 and rgb[4, 4].tolist() == [255, 0, 0]


def test_greyscale_with_alpha_and_one_bit_images(tmp_path):
    la = Image.new("LA", (8, 8), (100, 0))
    la.putpixel((4, 4), (100, 255))
    mode, rgb = _saved(la, tmp_path / "la.png")
    assert mode == "LA" and rgb[0, 0].tolist() == [255] * 3 and rgb[4, 4].tolist() == [100] * 3
    mode, rgb = _saved(Image.new("1", (8, 8), 1), tmp_path / "bits.png")
    assert mode == "1" and rgb[0, 0].tolist() == [255] * 3


def test_misspelled_column_names_the_column_and_file(tiny_synth, tmp_path):
    shutil.copytree(tiny_synth, tmp_path, dirs_exist_ok=True)
    sheet = tmp_path / "DiffusionEmotion_S" / "dataset_sheet.csv"
    sheet.write_text(sheet.read_text().replace("valence", "valance", 1))
    with pytest.raises(ColumnError, match=r"dataset_sheet\.csv.*'valence'.*'valance'"):
        load_diffusionfer(tmp_path)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset_sheet.csv"):
        load_diffusionfer(tmp_path)
    with pytest.raises(ValueError, match="choose from"):
        load_dataset("affectnet")


def test_shared_dev_set_counts(dev_set):
    data = load_dataset("diffusionfer", dev_set)
    rep = data.report
    assert (rep.images_found, rep.rows, rep.labelled, rep.unlabelled) == (895, 894, 894, 1)
    assert rep.issues["unlabelled_image"] == ["fear/ammtdcie_4.png"]
    assert "neutral/kwblojky_-.png" in rep.issues["odd_filename"]
    assert rep.issues["prefix_remapped"] == [
        "DiffusionFER/DiffusionEmotion_S/cropped -> DiffusionEmotion_S/cropped"
    ]
    assert len(data) == 894
    # one folder prefix for every path: a single identity, treated as none
    assert data.frame["identity"].isna().all()
    zeros = (data.frame["valence"] == 0).sum()
    assert zeros == 246  # metrics.md quotes z = 246/894 for valence


def test_shared_dev_set_split_is_stratified_and_keyed_on_file_names(dev_set):
    data = load_dataset("diffusionfer", dev_set)
    frame = data.frame
    assert frame["split"].value_counts().to_dict() == {"train": 626, "val": 133, "test": 135}
    for _, group in frame.groupby("prompted"):
        ordered = group.assign(h=group["path"].map(lambda p: stable_hash(p.name))).sort_values("h")
        first = ordered["split"].tolist()
        assert first == sorted(first, key=["train", "val", "test"].index)


def test_generic_csv(tiny_synth, tmp_path):
    base = tiny_synth / "DiffusionEmotion_S" / "cropped"
    files = sorted(base.rglob("*.png"))[:12]
    lines = ["path,valence,arousal,identity"]
    for i, f in enumerate(files):
        lines.append(f"{f.relative_to(base).as_posix()},{(i % 5) / 5 - 0.4},0.1,p{i % 3}")
    lines.append("missing/file.png,0.1,0.1,p0")
    lines.append(f"{files[0].relative_to(base).as_posix()},-2,-2,p0")  # conflicting labels
    lines.append(lines[2])  # the same row again: a plain duplicate
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    data = load_va_csv(tmp_path / "labels.csv", image_root=base)
    assert len(data) == 11  # the image with conflicting rows is dropped: which row is right?
    assert data.report.issues["missing_image"] == ["missing/file.png"]
    assert data.report.count("duplicate_row") == 1
    first = files[0].relative_to(base).as_posix()
    assert data.report.issues["conflicting_labels"] == [first, first]
    assert first not in set(data.frame["key"])
    assert data.frame["expression"].isna().all()
    assert data.report.identities == "3 people, from the identity column"
    # identities kept whole within one split
    assert data.frame.groupby("identity")["split"].nunique().max() == 1


def test_generic_csv_never_takes_emotion_folders_for_people(tiny_synth, tmp_path):
    base = tiny_synth / "DiffusionEmotion_S" / "cropped"
    rows = [f"{p.relative_to(base).as_posix()},0.1,0.2" for p in sorted(base.rglob("*.png"))]
    (tmp_path / "va.csv").write_text("path,valence,arousal\n" + "\n".join(rows) + "\n")
    with pytest.warns(UserWarning, match="identities not inferred: .*emotion names"):
        data = load_va_csv(tmp_path / "va.csv", image_root=base)
    assert data.frame["identity"].isna().all()
    assert data.report.identities.startswith("none (the first folders of the paths are emotion")
    assert set(data.frame["split"]) == {"train", "val", "test"}
    (tmp_path / "bad.csv").write_text("file,valence,arousal\n")
    with pytest.raises(ColumnError, match=r"bad\.csv.*'path'"):
        load_va_csv(tmp_path / "bad.csv")


def test_generic_csv_identity_is_the_first_folder_when_it_names_people(tiny_synth, tmp_path):
    base = tiny_synth / "DiffusionEmotion_S" / "cropped"
    files = sorted(base.rglob("*.png"))
    rows = [f"{f.resolve()},0.1,0.2" for f in files]  # absolute paths name no folder
    people = [f"subject{i % 4}/{f.name}" for i, f in enumerate(files)]
    for rel, f in zip(people, files, strict=True):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        shutil.copy(f, tmp_path / rel)
    (tmp_path / "va.csv").write_text(
        "path,valence,arousal\n" + "\n".join(f"{r},0.1,0.2" for r in people) + "\n"
    )
    data = load_va_csv(tmp_path / "va.csv")
    assert data.frame["identity"].nunique() == 4
    assert data.report.identities == "4 people, from the first folder of each path (inferred)"
    (tmp_path / "two.csv").write_text(
        "path,valence,arousal\n"
        + "\n".join(f"{r},0.1,0.2" for r in people if r.startswith(("subject0", "subject1")))
        + "\n"
    )
    with pytest.warns(UserWarning, match="too few to split by person"):
        two = load_va_csv(tmp_path / "two.csv")
    assert two.frame["identity"].isna().all() and "too few" in two.report.identities
    (tmp_path / "abs.csv").write_text("path,valence,arousal\n" + "\n".join(rows) + "\n")
    assert load_va_csv(tmp_path / "abs.csv").report.identities.startswith("none (no identity")


def test_identity_comes_from_the_folder_above_the_class_folders(tiny_synth, tmp_path):
    shutil.copytree(tiny_synth, tmp_path, dirs_exist_ok=True)
    sheet = tmp_path / "DiffusionEmotion_S" / "dataset_sheet.csv"
    frame = pd.read_csv(sheet).drop(columns=["identity", "split"])
    bare = frame.assign(
        subDirectory_filePath=frame["subDirectory_filePath"].str.split("/").str[-2:].str.join("/")
    )
    bare.to_csv(sheet, index=False)
    data = load_diffusionfer(tmp_path)
    assert data.frame["identity"].isna().all()  # "angry/x.png" names an emotion, not a person
    assert set(data.frame["split"]) == {"train", "val", "test"}
    per_person = frame.assign(
        subDirectory_filePath=[
            f"person{i % 4}/cropped/{p.split('/')[-2]}/{p.split('/')[-1]}"
            for i, p in enumerate(frame["subDirectory_filePath"])
        ]
    )
    per_person.to_csv(sheet, index=False)
    data = load_diffusionfer(tmp_path)
    assert data.frame["identity"].nunique() == 4
    assert data.frame.groupby("identity")["split"].nunique().max() == 1


def test_summary_line_counts_images_people_and_splits(tiny_synth):
    import dataclasses

    data = load_dataset("synthetic", tiny_synth)
    counts = data.frame["split"].value_counts()
    assert data.summary() == (
        f"{len(data)} images of {TINY.identities} people; train/val/test = "
        f"{counts['train']}/{counts['val']}/{counts['test']}"
    )
    anonymous = dataclasses.replace(data, frame=data.frame.assign(identity=None))
    assert anonymous.summary().startswith(f"{len(data)} images; train/val/test = ")


# --- the user's data as written: splits, identities, one file however spelled -----------------
def small_images(root, names):
    """Tiny distinct PNGs at ``root/name`` for each name; returns the names."""
    rng = np.random.default_rng(0)
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / name)
    return list(names)


def write_csv(path, header, rows):
    path.write_text("\n".join([header, *(",".join(map(str, r)) for r in rows)]) + "\n")
    return path


def test_split_column_is_used_as_written_in_any_case(tmp_path):
    names = small_images(tmp_path, [f"s{i % 4}/x{i:02d}.png" for i in range(24)])
    written = [("train", " Train", "validation", "VAL", "test", "Test ")[i % 6] for i in range(24)]
    csv = write_csv(
        tmp_path / "va.csv",
        "path,valence,arousal,split",
        [(n, 0.1, 0.2, s) for n, s in zip(names, written, strict=True)],
    )
    data = load_va_csv(csv)
    meant = ("train", "train", "val", "val", "test", "test")
    expected = {n: meant[i % 6] for i, n in enumerate(names)}
    assert dict(zip(data.frame["key"], data.frame["split"], strict=True)) == expected
    assert data.summary().endswith("train/val/test = 8/8/8")  # not the 4 people's own split


def test_split_column_naming_no_split_or_half_filled_is_refused(tiny_synth, tmp_path):
    names = small_images(tmp_path, [f"s{i % 4}/x{i:02d}.png" for i in range(12)])
    written = ["train"] * 6 + ["dev", "dev", "holdout"] + ["test"] * 3
    csv = write_csv(
        tmp_path / "va.csv",
        "path,valence,arousal,split",
        [(n, 0.1, 0.2, s) for n, s in zip(names, written, strict=True)],
    )
    with pytest.raises(
        ColumnError, match=r"va\.csv: column 'split' .*: 'dev' in 2 rows, 'holdout' in 1 row;"
    ):
        load_va_csv(csv)
    written = ["train"] * 6 + ["", " ", ""] + ["test"] * 3
    rows = [(n, 0.1, 0.2, s) for n, s in zip(names, written, strict=True)]
    write_csv(csv, "path,valence,arousal,split", rows)
    with pytest.raises(ColumnError, match=r"va\.csv: column 'split' is empty in 3 of 12 rows"):
        load_va_csv(csv)
    # empty everywhere: the built-in rule, exactly as without the column
    write_csv(csv, "path,valence,arousal,split", [(n, 0.1, 0.2, "") for n in names])
    plain = [(n, 0.1, 0.2) for n in names]
    without = write_csv(tmp_path / "plain.csv", "path,valence,arousal", plain)
    assert load_va_csv(csv).frame.equals(load_va_csv(without).frame)
    # the DiffusionFER sheet follows the same rule
    shutil.copytree(tiny_synth, tmp_path / "dfer")
    sheet = tmp_path / "dfer" / "DiffusionEmotion_S" / "dataset_sheet.csv"
    frame = pd.read_csv(sheet)
    frame.loc[:4, "split"] = "Validation"
    frame.loc[5, "split"] = "unused"
    frame.to_csv(sheet, index=False)
    with pytest.raises(ColumnError, match=r"dataset_sheet\.csv: column 'split' .*'unused' in 1 "):
        load_diffusionfer(tmp_path / "dfer")
    frame.loc[5, "split"] = "TEST"
    frame.to_csv(sheet, index=False)
    data = load_diffusionfer(tmp_path / "dfer")
    assert (data.frame["split"][:5] == "val").all() and data.frame["split"][5] == "test"


def test_one_image_however_spelled_is_one_row(tiny_synth, tmp_path):
    names = small_images(tmp_path, [f"s{i % 3}/x{i:02d}.png" for i in range(9)])
    first = names[0]  # s0/x00.png
    spellings = [f"./{first}", first.replace("/", "//"), str(tmp_path / first)]
    rows = [(n, 0.1, 0.2) for n in names] + [(s, 0.1, 0.2) for s in spellings]
    rows.append((f"./{names[1]}", -0.5, 0.2))  # the same file with other labels
    data = load_va_csv(write_csv(tmp_path / "va.csv", "path,valence,arousal", rows))
    rep = data.report
    assert rep.issues["duplicate_row"] == spellings
    assert rep.issues["conflicting_labels"] == [names[1], f"./{names[1]}"]
    assert (rep.rows, rep.images_found, rep.usable, len(data)) == (13, 9, 8, 8)
    assert sorted(data.frame["key"]) == sorted(set(names) - {names[1]})
    # an absolute path inside the folder names its person like the relative spelling
    absolute = write_csv(
        tmp_path / "abs.csv", "path,valence,arousal", [(tmp_path / n, 0.1, 0.2) for n in names]
    )
    assert sorted(load_va_csv(absolute).frame["identity"].unique()) == ["s0", "s1", "s2"]
    # the DiffusionFER sheet reads "./" and "//" as nothing too
    shutil.copytree(tiny_synth, tmp_path / "dfer")
    sheet = tmp_path / "dfer" / "DiffusionEmotion_S" / "dataset_sheet.csv"
    frame = pd.read_csv(sheet)
    tail = "/".join(frame.loc[0, "subDirectory_filePath"].split("/")[-2:])
    again = frame.iloc[[0, 0]].assign(subDirectory_filePath=[f"./{tail}", tail.replace("/", "//")])
    pd.concat([frame, again]).to_csv(sheet, index=False)
    data = load_diffusionfer(tmp_path / "dfer")
    assert data.report.count("duplicate_row") == 2 and "missing_image" not in data.report.issues
    assert len(data) == 7 * TINY.per_class


def test_rows_naming_nobody_are_reported_and_usable_is_what_training_gets(tmp_path):
    names = small_images(tmp_path, [f"y{i:02d}.png" for i in range(30)])  # no folder to infer from
    people = ["" if i % 5 == 0 else f"p{i % 4}" for i in range(30)]
    rows = [(n, 0.1, 0.2, p) for n, p in zip(names, people, strict=True)]
    data = load_va_csv(write_csv(tmp_path / "va.csv", "path,valence,arousal,identity", rows))
    nameless = [n for n, p in zip(names, people, strict=True) if not p]
    assert data.report.issues["no_identity"] == nameless
    counts = data.frame["split"].value_counts()
    assert data.report.usable == len(data) == counts.sum() == 30 - len(nameless)
    assert data.frame["identity"].notna().all() and data.frame["split"].notna().all()
    assert "no_identity 6" in data.report.summary()
    # with the file's own split, a row naming nobody still has a split: kept
    split = [("train", "val", "test")[i % 3] for i in range(30)]
    given = [(*r, s) for r, s in zip(rows, split, strict=True)]
    csv = write_csv(tmp_path / "split.csv", "path,valence,arousal,identity,split", given)
    kept = load_va_csv(csv)
    assert len(kept) == kept.report.usable == 30 and "no_identity" not in kept.report.issues
