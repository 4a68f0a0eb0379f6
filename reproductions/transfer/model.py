"""The base network and the layer surgery of Yosinski et al. (2014): copy layers 1..n, freeze.

The network is a plain stack of `L` trainable layers (conv layers, then fully connected ones,
then the classifier), each held as one entry of `model.layers`, so that "layer n" in the paper
is `model.layers[n - 1]` here and copying or freezing the first n layers is a slice.
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


def build(settings: dict, n_classes: int, init_seed: int) -> LayeredCNN:
    """The network of a run's settings, its weights drawn from a generator seeded `init_seed`."""
    torch.manual_seed(init_seed)  # nn layers draw their init from the global generator
    return LayeredCNN(settings["convs"], settings["fcs"], n_classes, pooled=settings["pooled"])


def layer_prefixes(model: LayeredCNN, n: int) -> tuple[str, ...]:
    """State-dict key prefixes of layers 1..n."""
    return tuple(f"layers.{i}." for i in range(n))


def copy_layers(model: LayeredCNN, source: dict[str, torch.Tensor], n: int) -> list[str]:
    """Overwrite layers 1..n of `model` with `source`'s values; return the keys copied.

    Layers above n keep their fresh initialisation (the paper's "re-initialized" upper layers).
    """
    prefixes = layer_prefixes(model, n)
    own = model.state_dict()
    keys = [k for k in own if k.startswith(prefixes)]
    missing = [k for k in keys if k not in source]
    if missing:
        raise KeyError(f"base weights lack {missing}")
    for k in keys:
        if source[k].shape != own[k].shape:
            raise ValueError(f"{k}: base shape {tuple(source[k].shape)} != {tuple(own[k].shape)}")
    model.load_state_dict({**own, **{k: source[k] for k in keys}})
    return keys


def freeze_layers(model: LayeredCNN, n: int) -> list[str]:
    """Stop gradients in layers 1..n; return the names of the frozen parameters."""
    frozen = []
    for name, p in model.named_parameters():
        if name.startswith(layer_prefixes(model, n)):
            p.requires_grad_(False)
            frozen.append(name)
    return frozen
