"""The network of Yosinski et al.'s layer-by-layer transfer, in miniature.

A plain stack of `L` trainable layers (conv layers, then fully connected ones, then the
classifier), each held as one entry of `model.layers`, so that "layer n" in the paper is
`model.layers[n - 1]` here and "layers 1..n" are the state-dict keys under `layers.0.` to
`layers.{n-1}.`: copying them is loading that part of a state_dict, freezing them is the
trainer's `freeze` with those prefixes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class LayeredCNN(nn.Module):
    """conv 3×3 layers (2×2 max-pooling after the first `pooled` ones), then ReLU fully
    connected layers, then a linear classifier; no normalisation layers, as in the paper's
    2014 network, so that a layer's state is its weights alone."""

    def __init__(
        self,
        convs: Sequence[int],
        fcs: Sequence[int],
        n_classes: int,
        in_channels: int = 1,
        image_size: int = 28,
        pooled: int = 2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, size = in_channels, image_size
        for i, width in enumerate(convs):
            block: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            if i < pooled:
                block.append(nn.MaxPool2d(2))
                size //= 2
            layers.append(nn.Sequential(*block))
            channels = width
        features = channels * size * size
        for i, width in enumerate(fcs):
            block = [nn.Linear(features, width), nn.ReLU()]
            if i == 0:
                block.insert(0, nn.Flatten())
            layers.append(nn.Sequential(*block))
            features = width
        head: list[nn.Module] = [nn.Linear(features, n_classes)]
        if not fcs:
            head.insert(0, nn.Flatten())
        layers.append(nn.Sequential(*head))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def build(
    settings: dict, n_classes: int, in_channels: int, image_size: int, init_seed: int
) -> LayeredCNN:
    """The network of a run's settings, its weights drawn with torch seeded `init_seed`."""
    torch.manual_seed(init_seed)  # nn layers draw their init from the global generator
    return LayeredCNN(
        settings["convs"],
        settings["fcs"],
        n_classes,
        in_channels=in_channels,
        image_size=image_size,
        pooled=settings["pooled"],
    )


def layer_prefixes(n: int) -> tuple[str, ...]:
    """State-dict key prefixes of layers 1..n (what the trainer's `freeze` takes)."""
    return tuple(f"layers.{i}." for i in range(n))


def bottom_layers(weights: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    """The entries of layers 1..n of a state_dict: what a transferred network copies (the
    trainer loads them over its fresh initialisation; layers above n stay fresh)."""
    prefixes = layer_prefixes(n)
    return {k: v for k, v in weights.items() if k.startswith(prefixes)}
