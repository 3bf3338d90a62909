"""Trunks: image (B, 3, H, W) -> feature h (B, F), for any H, W from 64 to 224 px.

Every trunk ends in adaptive pooling (or ResNet's own), so no input size is hard-coded, and
every call builds a fresh module: FER-Zoo shared one global AlexNet between "separate" encoders.
Layer names follow torchvision / pretrainedmodels so that their ImageNet checkpoints load as is.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ..errors import UserError
from ..params import PARAMETERS, check_choice
from .weights import load_trunk_weights

BACKBONES: tuple[str, ...] = tuple(PARAMETERS["backbone"].choices or ())
"""The ``backbone`` parameter's choices: the trunks below, each with the smallest input it runs on
in ``params.MIN_IMAGE_SIZE`` (a new trunk is added there too)."""


class SmallCNN(nn.Sequential):
    """CPU trunk (``docs/methods/README.md`` §1): four convs, no BatchNorm or dropout, 2x2 pool
    -> F = 512·width.

    Without BatchNorm every sample is processed on its own, so sub-batches give the same features.
    """

    def __init__(self, width: int = 1) -> None:
        c = [16 * width, 32 * width, 64 * width, 128 * width]
        super().__init__(
            nn.Conv2d(3, c[0], 5, stride=2, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c[0], c[1], 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c[1], c[2], 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c[2], c[3], 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.out_features = c[3] * 4


class AlexNetTrunk(nn.Module):
    """torchvision AlexNet conv1-conv5 with max-pools + AdaptiveAvgPool 6x6 -> F = 9216.

    Built layer by layer (same layers and default init as torchvision's ``features``) so that the
    unused 55M-parameter classifier is never allocated.
    """

    out_features = 256 * 6 * 6

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)


class SEResNeXtTrunk(nn.Module):
    """pretrainedmodels' SE-ResNeXt-50 32x4d ``features()`` + global average pool -> F = 2048.

    Its fixed 7x7 ``avg_pool`` and ``last_linear`` are replaced by an adaptive pool, so any input
    size works and no parameter sits outside the graph.
    """

    out_features = 2048

    def __init__(self) -> None:
        super().__init__()
        from pretrainedmodels.models.senet import se_resnext50_32x4d

        net = se_resnext50_32x4d(num_classes=1000, pretrained=None)  # None: nothing downloads
        self.layer0, self.layer1, self.layer2 = net.layer0, net.layer1, net.layer2
        self.layer3, self.layer4 = net.layer3, net.layer4
        self.avg_pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in (self.layer0, self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
        return torch.flatten(self.avg_pool(x), 1)


def _resnet18() -> nn.Module:
    """All of torchvision ResNet-18, its 512->1000 FC included and trainable (authors' code)."""
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    net.out_features = net.fc.out_features
    return net


def build_backbone(
    name: str, pretrained: bool | str | os.PathLike = False, width: int = 1
) -> nn.Module:
    """A fresh trunk ``name`` with attribute ``out_features`` (F).

    ``pretrained``: False = random init (CPU quick runs); True = ImageNet weights from the torch
    hub cache (download only with ``FERZOO_ALLOW_DOWNLOAD=1``); a path = that local state_dict.
    ``width`` scales the channels of ``small_cnn`` only.
    """
    check_choice(name, BACKBONES, "backbone")
    if width != 1 and name != "small_cnn":
        raise UserError(f"width={width} applies to small_cnn only, not {name!r}")
    if width < 1:
        raise UserError(f"width must be a positive integer, got {width}")
    if name == "small_cnn":
        trunk: nn.Module = SmallCNN(width)
    elif name == "alexnet":
        trunk = AlexNetTrunk()
    elif name == "resnet18":
        trunk = _resnet18()
    else:
        trunk = SEResNeXtTrunk()
    return load_trunk_weights(trunk, name, pretrained)
