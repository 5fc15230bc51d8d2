"""2D ResNets (He et al. 2016) with torchvision-compatible state-dict keys (``conv1``, ``bn1``, ``layer1..4``,
``fc``), for frame encoders such as Video2EMG; torchvision itself is not needed.
"""

from __future__ import annotations

import torch
from torch import nn

from flexaqa.models._registry import register_model


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + idt)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)  # stride on the 3x3 (ResNet v1.5)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + idt)


class ResNet(nn.Module):
    """ResNet; ``forward`` returns the pooled feature (B, feature_dim); ``classify`` applies ``fc``."""

    def __init__(self, block, layers, *, num_classes: int = 1000, base: int = 64, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = base
        for i, n in enumerate(layers):
            width, stride = base * 2**i, 1 if i == 0 else 2
            down = None
            if stride != 1 or cin != width * block.expansion:
                down = nn.Sequential(
                    nn.Conv2d(cin, width * block.expansion, 1, stride, bias=False),
                    nn.BatchNorm2d(width * block.expansion),
                )
            blocks = [block(cin, width, stride, down)]
            cin = width * block.expansion
            blocks += [block(cin, width) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        self.feature_dim = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, feature_dim)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward(x))

    def example_input(self, batch: int = 2) -> torch.Tensor:
        return torch.randn(batch, 3, 32, 32)


@register_model("image")
def resnet50(*, num_classes: int = 1000) -> ResNet:
    """ResNet-50 (Bottleneck 3-4-6-3), torchvision key layout; 2048-d features."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes=num_classes)


@register_model("image")
def resnet18(*, num_classes: int = 1000) -> ResNet:
    """ResNet-18 (BasicBlock 2-2-2-2), torchvision key layout; 512-d features."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes=num_classes)


@register_model("image")
def resnet_tiny(*, num_classes: int = 10) -> ResNet:
    """ResNet-18 layout with 8 base channels and one block per stage, for tests."""
    return ResNet(BasicBlock, (1, 1, 1, 1), num_classes=num_classes, base=8)
