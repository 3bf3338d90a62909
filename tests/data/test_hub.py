from pathlib import Path

import pytest

from ferlib.data import download_diffusionfer, load_diffusionfer, to_hf_dataset


def test_download_refuses_at_once_when_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="needs the network.*HF_HUB_OFFLINE"):
        download_diffusionfer(tmp_path)
    assert not any(tmp_path.iterdir())


def test_loaded_data_converts_to_a_hugging_face_dataset(tiny_synth):
    data = load_diffusionfer(tiny_synth, source="synthetic")
    ds = to_hf_dataset(data)
    assert len(ds) == len(data)
    first = ds[0]
    assert first["valence"] == pytest.approx(data.frame["valence"][0])
    assert first["key"] == data.frame["key"][0] and first["split"] == data.frame["split"][0]
    assert first["image"].size == (64, 64)


def test_release_archives_unpack_into_class_folders(tmp_path):
    import zipfile

    from ferlib.data.hub import extract_archives

    cropped = tmp_path / "DiffusionEmotion_S" / "cropped"
    cropped.mkdir(parents=True)
    with zipfile.ZipFile(cropped / "angry.zip", "w") as zf:  # loose files
        zf.writestr("abcdefgh_6.png", b"x")
    with zipfile.ZipFile(cropped / "happy.zip", "w") as zf:  # files inside a class folder
        zf.writestr("happy/ijklmnop_1.png", b"y")
    assert len(extract_archives(tmp_path)) == 2
    assert (cropped / "angry" / "abcdefgh_6.png").read_bytes() == b"x"
    assert (cropped / "happy" / "ijklmnop_1.png").read_bytes() == b"y"
    assert extract_archives(tmp_path) == []  # already unpacked


# --- the README's one-command path, offline, on a local archive laid out like the hub's --------
HUB_FILES = {  # class folder -> (file names, whether the archive holds a <class>/ folder)
    "angry": (["abcdefgh_6.png", "bcdefghi_6.png"], False),
    "happy": (["cdefghij_1.png", "defghijk_1.png"], True),
    "neutral": (["efghijkl_0.png", "fghijklm_0.png"], False),
}


def _png(rgb) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), rgb).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """A folder laid out like the hub's dataset repo, and ``snapshot_download`` served from it
    (with huggingface_hub's own pattern filter), counting its calls."""
    import shutil
    import zipfile

    import huggingface_hub
    from huggingface_hub.utils import filter_repo_objects

    hub = tmp_path / "hub"
    part = hub / "DiffusionEmotion_S"
    (part / "cropped").mkdir(parents=True)
    rows = ["subDirectory_filePath,valence,arousal,expression"]
    for i, (folder, (names, in_folder)) in enumerate(HUB_FILES.items()):
        with zipfile.ZipFile(part / "cropped" / f"{folder}.zip", "w") as zf:
            for name in names:
                zf.writestr(f"{folder}/{name}" if in_folder else name, _png((40 * i, 90, 160)))
                sheet_path = f"DiffusionFER/DiffusionEmotion_S/cropped/{folder}/{name}"
                rows.append(f"{sheet_path},0.1,-0.2,{name[-5]}")
            zf.writestr("__MACOSX/._junk", b"")
    (part / "dataset_sheet.csv").write_text("\n".join(rows) + "\n")
    (hub / "README.md").write_text("DiffusionFER\n")
    (hub / "DiffusionEmotion_D").mkdir()
    (hub / "DiffusionEmotion_D" / "big.zip").write_bytes(b"not wanted")

    calls = []

    def snapshot_download(repo_id, repo_type=None, local_dir=None, allow_patterns=None, **_):
        calls.append(repo_id)
        assert repo_type == "dataset"
        files = [p.relative_to(hub).as_posix() for p in hub.rglob("*") if p.is_file()]
        for rel in filter_repo_objects(files, allow_patterns=allow_patterns):
            (Path(local_dir) / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(hub / rel, Path(local_dir) / rel)
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def test_the_diffusionfer_profile_downloads_once_then_reads_its_own_copy(
    fake_hub, tmp_path, monkeypatch
):
    import shutil

    from ferlib.data import load_from_config
    from ferlib.params import resolve_config
    from ferlib.paths import repo_root

    project = tmp_path / "project"  # a stand-in checkout, so nothing lands in the real data/
    (project / "params").mkdir(parents=True)
    shutil.copy(repo_root() / "params" / "diffusionfer.yaml", project / "params")
    monkeypatch.setenv("FERZOO_ROOT", str(project))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")

    config = resolve_config("diffusionfer")
    assert (config["dataset"], config["data_dir"]) == ("diffusionfer", "data/diffusionfer")
    data = load_from_config(config)  # the one command's data step: download, unpack, load
    assert fake_hub == ["FER-Universe/DiffusionFER"]
    own = project / "data" / "diffusionfer"
    assert not (own / "DiffusionEmotion_D").exists()  # only the single-face part is fetched
    assert len(data) == 6 and set(data.frame["prompted"]) == set(HUB_FILES)
    assert (own / "DiffusionEmotion_S" / "cropped" / "happy" / "cdefghij_1.png").is_file()
    assert (own / "DiffusionEmotion_S" / "cropped" / "angry" / "abcdefgh_6.png").is_file()
    assert not list(own.rglob("__MACOSX"))
    assert data.report.count("prefix_remapped") == 1

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # later runs: offline, from the local copy
    again = load_from_config(config)
    assert fake_hub == ["FER-Universe/DiffusionFER"]
    assert again.frame["key"].tolist() == data.frame["key"].tolist()


def test_a_copy_elsewhere_is_read_as_it_is_and_never_downloaded_into(fake_hub, tmp_path):
    from ferlib.data import load_dataset

    with pytest.raises(FileNotFoundError, match="no DiffusionFER dataset_sheet.csv"):
        load_dataset("diffusionfer", tmp_path / "elsewhere")
    assert fake_hub == []


def test_without_network_the_missing_copy_says_what_to_do(fake_hub, tmp_path, monkeypatch):
    from ferlib.data import load_dataset

    monkeypatch.setenv("FERZOO_ROOT", str(tmp_path))
    with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE is set.*--data-dir"):
        load_dataset("diffusionfer")
    assert fake_hub == []


def test_a_whole_variant_archive_unpacks_into_its_own_folder(tmp_path):
    import zipfile

    from ferlib.data.hub import extract_archives

    part = tmp_path / "DiffusionEmotion_S"
    part.mkdir()
    with zipfile.ZipFile(part / "cropped.zip", "w") as zf:
        zf.writestr("angry/abcdefgh_6.png", b"x")
    extract_archives(tmp_path)
    assert (part / "cropped" / "angry" / "abcdefgh_6.png").read_bytes() == b"x"
