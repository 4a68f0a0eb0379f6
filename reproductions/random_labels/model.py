"""The networks: an MLP (Zhang et al.'s "MLP 1x512"; no hidden layer is a linear classifier)
and a small CNN from dlrepro.models.cnn (two conv stages, as Zhang's "small AlexNet")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from dlrepro.errors import UserError
from dlrepro.models.cnn import build_cnn, config_from_settings

MODELS = ("mlp", "cnn")


def mlp(in_features: int, hidden: Sequence[int], n_classes: int) -> nn.Sequential:
    """Flatten, then Linear-ReLU per hidden width, then a linear output layer."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU()]
        width = int(h)
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def build_model(
    settings: Mapping[str, Any], shape: tuple[int, int, int], n_classes: int, seed: int
) -> nn.Module:
    """The run's network for images of `shape` (C, H, W). The MLP draws its initial weights
    from torch's global RNG, which the runner seeds with the run's seed; the CNN from its own
    generator seeded with `seed` (dlrepro.models.cnn.build_cnn)."""
    kind = settings["model"]
    channels, height, width = shape
    if kind == "mlp":
        return mlp(channels * height * width, settings["hidden"], n_classes)
    if kind == "cnn":
        if height != width:
            raise UserError(f"the CNN needs square images, got {height}x{width}; set `crop`")
        cfg = config_from_settings(
            settings, in_channels=channels, image_size=height, num_classes=n_classes
        )
        return build_cnn(cfg, seed)
    raise UserError(f"model = {kind!r}; use one of {list(MODELS)}")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
