"""Trunks, heads and weight loading, all offline and CPU-cheap.

Spec: docs/methods/baseline.md §9 items 1-3.
"""

from __future__ import annotations

import pytest
import torch

from ferlib.models import BACKBONES, HEADS, VAHead, VAModel, build_backbone, build_model
from ferlib.models import weights as W


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def randn(size: int, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, size, size)


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty torch hub cache under tmp, downloads not allowed and booby-trapped."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(W.ALLOW_DOWNLOAD_ENV, raising=False)

    def no_download(*args, **kwargs):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return tmp_path


def random_like(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: torch.randn_like(v.float()).to(v.dtype) for k, v in module.state_dict().items()}


# --- 1. shapes -------------------------------------------------------------------------------


@torch.no_grad()
@pytest.mark.parametrize(
    ("name", "size", "width", "features"),
    [
        ("alexnet", 224, 1, 9216),
        ("alexnet", 112, 1, 9216),
        ("small_cnn", 64, 1, 512),
        ("small_cnn", 112, 1, 512),
        ("small_cnn", 64, 2, 1024),
        ("resnet18", 64, 1, 1000),
        ("resnet18", 224, 1, 1000),
        ("se_resnext50_32x4d", 64, 1, 2048),
    ],
)
def test_trunk_shapes(name, size, width, features):
    trunk = build_backbone(name, width=width).eval()
    assert trunk.out_features == features
    assert trunk(randn(size)).shape == (2, features)


@torch.no_grad()
@pytest.mark.parametrize(
    ("kind", "latent"), [("bottleneck", 512), ("alexnet_fc", 4096), ("elim", 512)]
)
def test_head_shapes(kind, latent):
    y, z = VAHead(512, kind=kind)(torch.randn(3, 512))
    assert y.shape == (3, 2) and z.shape == (3, latent)


@torch.no_grad()
def test_model_forward_and_features():
    model = build_model().eval()
    x = randn(64, batch=4)
    y, z = model(x)
    assert isinstance(model, VAModel)
    assert y.shape == (4, 2) and z.shape == (4, 512)
    assert model.features(x).shape == (4, 512)
    assert model.config == dict(
        backbone="small_cnn", head="bottleneck", width=1, dropout=0.5, hidden=None, latent=None
    )
    resized = build_model(**{**model.config, "hidden": 32, "latent": 8})
    rebuilt = build_model(**resized.config)  # a checkpoint's model_config rebuilds the shape
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in resized.state_dict().items()
    }


# --- 2. parameter counts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backbone", "head", "counts"),
    [
        ("alexnet", "bottleneck", {"model": 3_093_890, "trunk": 2_469_696, "head": 624_194}),
        ("small_cnn", "bottleneck", {"model": 165_346, "trunk": 98_208, "head": 67_138}),
        ("alexnet", "alexnet_fc", {"model": 57_012_034, "head": 54_542_338}),
        ("resnet18", "bottleneck", {"head": 98_370}),
        # ELIM's heads (docs/methods/elim.md §2): latent head + f_θ
        ("alexnet", "elim", {"head": 2_492_160 + 5_294_082}),
        (("small_cnn", 128, 64), "elim", {"head": 74_048 + 88_322}),
        (("resnet18", [512, 256], 512), "elim", {"head": 776_960 + 5_294_082}),
    ],
)
def test_parameter_counts(backbone, head, counts):
    backbone, hidden, latent = backbone if isinstance(backbone, tuple) else (backbone, None, None)
    model = build_model(backbone, head, hidden=hidden, latent=latent)
    parts = {"model": model, "trunk": model.trunk, "head": model.head}
    assert {part: n_params(parts[part]) for part in counts} == counts


def test_trunk_keys_match_the_imagenet_checkpoints():
    """Layer names and shapes equal the source models', so their ImageNet files load as is."""
    from pretrainedmodels.models.senet import se_resnext50_32x4d
    from torchvision.models import alexnet

    for name, full, dropped in [
        ("alexnet", alexnet(weights=None), "classifier."),
        ("se_resnext50_32x4d", se_resnext50_32x4d(pretrained=None), "last_linear."),
    ]:
        reference = {k: v.shape for k, v in full.state_dict().items() if not k.startswith(dropped)}
        trunk = build_backbone(name)
        assert {k: v.shape for k, v in trunk.state_dict().items()} == reference, name


# --- 3. fresh modules ------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", ["small_cnn", "alexnet"])
def test_builds_share_nothing(backbone):
    a, b = build_model(backbone), build_model(backbone)
    ptrs_a = {p.data_ptr() for p in a.parameters()}
    assert ptrs_a.isdisjoint(p.data_ptr() for p in b.parameters())
    before = [p.detach().clone() for p in b.parameters()]
    with torch.no_grad():
        for p in a.parameters():
            p.add_(1.0)
    assert all(torch.equal(p, q) for p, q in zip(b.parameters(), before, strict=True))


# --- modes, names ----------------------------------------------------------------------------


def test_eval_disables_dropout():
    torch.manual_seed(0)
    model, x = build_model(), randn(64, batch=8)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)[0], model(x)[0])
        model.train()
        assert not torch.equal(model(x)[0], model(x)[0])


def test_no_dropout_is_deterministic_in_train_mode():
    model, x = build_model(dropout=0.0), randn(64, batch=4)
    with torch.no_grad():
        assert torch.equal(model(x)[0], model(x)[0])


def test_unknown_names_list_choices():
    with pytest.raises(ValueError, match="unknown backbone 'vgg'.*" + ", ".join(BACKBONES)):
        build_backbone("vgg")
    with pytest.raises(ValueError, match="unknown head 'mlp'.*" + ", ".join(HEADS)):
        build_model(head="mlp")
    with pytest.raises(ValueError, match="unknown head"):
        VAHead(16, kind="mlp")
    with pytest.raises(ValueError, match="small_cnn only"):
        build_backbone("alexnet", width=2)


# --- pretrained weights, offline -------------------------------------------------------------


def test_random_init_touches_no_cache(offline_hub):
    build_backbone("alexnet", pretrained=False)
    assert not (offline_hub / "torch").exists()


def test_cache_path_follows_torch_home(offline_hub):
    hub = offline_hub / "torch" / "hub" / "checkpoints"
    assert W.cached_weights_path("alexnet") == hub / "alexnet-owt-7be5be79.pth"
    assert W.cached_weights_path("resnet18") == hub / "resnet18-f37072fd.pth"
    assert W.cached_weights_path("se_resnext50_32x4d").name == "se_resnext50_32x4d-a260b3a4.pth"


def test_imagenet_from_cache_drops_classifier(offline_hub):
    """A full torchvision AlexNet checkpoint in the hub cache loads into the trunk."""
    state = random_like(build_backbone("alexnet"))
    state["classifier.1.weight"] = torch.zeros(3, 4)  # ignored, whatever its shape
    path = W.cached_weights_path("alexnet")
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    trunk = build_backbone("alexnet", pretrained=True)
    for key, value in trunk.state_dict().items():
        assert torch.equal(value, state[key]), key


def torchvision_checkpoint(name: str) -> dict[str, torch.Tensor]:
    """A full torchvision ``name`` state_dict (classifier included) with random values: what the
    ImageNet file holds, made here so that the test needs no download."""
    import torchvision.models as tvm

    torch.manual_seed(7)
    return random_like(getattr(tvm, name)(weights=None))


def assert_trunk_holds(trunk: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    trunk_state = trunk.state_dict()
    assert trunk_state  # something to compare
    for key, value in trunk_state.items():
        assert torch.equal(value, state[key]), key


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alexnet", "resnet18"])
def test_pretrained_true_loads_the_hub_cache_file(offline_hub, name):
    """``pretrained: true`` reads the torchvision file where torch's hub cache keeps it."""
    state = torchvision_checkpoint(name)
    path = offline_hub / "torch" / "hub" / "checkpoints" / W.imagenet_url(name).rsplit("/", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    assert_trunk_holds(build_backbone(name, pretrained=True), state)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["alexnet", "resnet18"])
def test_pretrained_local_file_loads_exactly_its_values(offline_hub, name):
    state = torchvision_checkpoint(name)
    path = offline_hub / "weights" / f"{name}.pth"
    path.parent.mkdir()
    torch.save(state, path)
    for pretrained in (path, str(path)):
        assert_trunk_holds(build_backbone(name, pretrained=pretrained), state)


@pytest.mark.slow
def test_relative_weights_path_is_from_the_repository(offline_hub, monkeypatch):
    """A profile's relative ``pretrained`` path names one file wherever the run starts (the
    command line at the repository root, a notebook in notebooks/), as ``data_dir`` does."""
    import ferlib.paths

    state = torchvision_checkpoint("alexnet")
    (offline_hub / "weights").mkdir()
    torch.save(state, offline_hub / "weights" / "alexnet.pth")
    monkeypatch.setattr(ferlib.paths, "repo_root", lambda: offline_hub)
    monkeypatch.chdir(offline_hub / "weights")  # not where the relative path starts
    assert_trunk_holds(build_backbone("alexnet", pretrained="weights/alexnet.pth"), state)


def test_pretrained_from_a_run_configuration(offline_hub):
    """The user's path: ``pretrained: true`` in a profile (or ``--set``) builds the method's
    model on the cached weights, and its checkpoint reloads without them."""
    from ferlib.methods import build_method
    from ferlib.params import parse_set, resolve_config

    state = torchvision_checkpoint("resnet18")
    path = W.cached_weights_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    overrides = parse_set(["backbone=resnet18", "pretrained=true"])
    method = build_method(resolve_config("quick", overrides))
    assert_trunk_holds(method.model.trunk, state)
    local = parse_set([f"pretrained={path}"])["pretrained"]
    assert local == str(path)
    config = resolve_config("quick", {"backbone": "alexnet", "pretrained": local})
    with pytest.raises(ValueError, match="does not fit backbone 'alexnet'"):
        build_method(config)  # a resnet18 file named for an alexnet run fails in one line


def test_imagenet_missing_offline_fails_fast(offline_hub):
    with pytest.raises(RuntimeError) as info:
        build_backbone("resnet18", pretrained=True)
    message = str(info.value)
    assert str(W.cached_weights_path("resnet18")) in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    assert "FERZOO_ALLOW_DOWNLOAD=1" in message and "local" in message


def test_download_only_when_allowed(offline_hub, monkeypatch):
    """With FERZOO_ALLOW_DOWNLOAD=1 the file is fetched into the cache (faked here) and used."""
    state = random_like(build_backbone("small_cnn"))  # stands in for resnet18 below
    calls = []

    def fake_download(url, dst, **kwargs):
        calls.append(url)
        torch.save(state, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    monkeypatch.setattr(W, "imagenet_url", lambda name: "https://example.invalid/tiny-0123.pth")
    monkeypatch.setenv(W.ALLOW_DOWNLOAD_ENV, "1")
    assert W.imagenet_file("small_cnn") == W.cached_weights_path("small_cnn")
    assert calls == ["https://example.invalid/tiny-0123.pth"]
    W.imagenet_file("small_cnn")  # second call: from the cache
    assert len(calls) == 1


def test_small_cnn_has_no_imagenet_weights(offline_hub):
    with pytest.raises(ValueError, match="no ImageNet weights"):
        build_backbone("small_cnn", pretrained=True)


@pytest.mark.parametrize("width", [1, 2])
def test_local_trunk_state_dict(tmp_path, width):
    source = build_backbone("small_cnn", width=width)
    path = tmp_path / "trunk.pth"
    torch.save(source.state_dict(), path)
    model = build_model("small_cnn", pretrained=str(path), width=width)
    for key, value in source.state_dict().items():
        assert torch.equal(model.trunk.state_dict()[key], value)


def test_local_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_backbone("small_cnn", pretrained=missing)

    wrong_width = tmp_path / "wide.pth"
    torch.save(build_backbone("small_cnn", width=2).state_dict(), wrong_width)
    with pytest.raises(ValueError, match="wide.pth.*shape mismatches"):
        build_backbone("small_cnn", pretrained=wrong_width)

    wrong_keys = tmp_path / "renamed.pth"
    state = build_backbone("small_cnn").state_dict()
    torch.save({f"module.{k}": v for k, v in state.items()}, wrong_keys)
    with pytest.raises(ValueError, match="renamed.pth.*missing keys.*unexpected keys"):
        build_backbone("small_cnn", pretrained=wrong_keys)

    not_a_state_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_a_state_dict)
    with pytest.raises(ValueError, match="list.pth"):
        build_backbone("small_cnn", pretrained=not_a_state_dict)


def test_parameter_count_counts_every_element():
    from torch import nn

    from ferlib.models import parameter_count

    assert parameter_count(nn.Linear(3, 2)) == 3 * 2 + 2
    assert parameter_count(nn.Sequential()) == 0
