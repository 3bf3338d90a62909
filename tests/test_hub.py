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
