"""ResNet-18 for 32×32 images with a width knob k (Nakkiran et al.'s width sweep).

Four stages of two pre-activation basic blocks with k, 2k, 4k and 8k channels (k = 64 is the
usual ResNet-18), a 3×3 stem, global average pooling and a linear layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PreActBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.shortcut = (
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            if stride != 1 or c_in != c_out
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class ResNet18(nn.Module):
    def __init__(self, k: int = 64, n_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        widths = [k, 2 * k, 4 * k, 8 * k]
        self.stem = nn.Conv2d(in_channels, k, 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        c_in = k
        for i, c in enumerate(widths):
            blocks += [PreActBlock(c_in, c, 1 if i == 0 else 2), PreActBlock(c, c, 1)]
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c_in)
        self.linear = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn(self.blocks(self.stem(x))))
        return self.linear(out.mean(dim=(2, 3)))
