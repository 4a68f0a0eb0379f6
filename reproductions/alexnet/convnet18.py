"""The CIFAR-10 net of Krizhevsky et al.'s Fig. 1: cuda-convnet's "18pct" layout.

Layout (cuda-convnet's example-layers/layers-18pct.cfg, read for its numbers): three 5×5
convolutions with padding 2 and 32, 32, 64 filters; after the first a max pool, after the
second and third an average pool (window 3, stride 2); then one fully connected layer to the
classes: four weight layers, as Fig. 1's "four-layer convolutional neural network". The
response-normalisation layers of that file are left out (Fig. 1 uses no regularisation of any
kind, and the paper introduces normalisation later, §3.3). The activation follows the second
and third conv layers; the first one's comes after the max pool, as in the file: max pooling
commutes with a monotone activation, and the activation then touches a quarter of the values.
The outputs are the same either way; so are ReLU's gradients, bit for bit. tanh's differ where
rounding near saturation makes a window's tanh values tie (the gradient goes to another of the
tied positions), and training amplifies it: after the change the cpu scale's tanh curves moved
(relu_vs_tanh 3.36 -> 3.41 on the same seeds, same verdict) and its ReLU runs did not.

Initialisation: weights zero-mean Gaussian, biases 0. In the file conv1 draws N(0, 1e-4²) and
the other layers N(0, 0.01²). Those standard deviations are kept as *gains*
(std · √fan-in: 1e-4·√75 for conv1, 0.01·√800 for conv2-3, 0.01·√1024 for the classifier,
their fan-ins on 32×32×3 CIFAR images), so that on other inputs (one channel, 1-D signals)
every layer's pre-activations start on the scale they had on CIFAR-10; on CIFAR-10 the
stds are exactly the file's. `input_scale` multiplies the (standardised) inputs: CIFAR-10's
0-255 pixels minus their mean have a std of ~63, which is what conv1's tiny weights met.

`dims=1` builds the same net with 1-D convolutions and pooling, for sequences stored as
1×1×L "images" (MNIST-1D in dlrepro).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dlrepro.models.cnn import ACTIVATIONS  # the engine CNN's: ReLU in place, or tanh

# cuda-convnet's stds times the square root of each layer's fan-in on CIFAR-10 (32×32×3).
GAINS = (1e-4 * math.sqrt(5 * 5 * 3), 0.01 * math.sqrt(5 * 5 * 32), 0.01 * math.sqrt(5 * 5 * 32))
FC_GAIN = 0.01 * math.sqrt(64 * 4 * 4)
CHANNELS = (32, 32, 64)
POOLS = ("max", "avg", "avg")


class ConvNet18(nn.Module):
    def __init__(
        self,
        in_channels: int,
        size: int,
        n_classes: int,
        activation: str = "relu",
        dims: int = 2,
        input_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r}; choose one of {list(ACTIVATIONS)}")
        if dims not in (1, 2):
            raise ValueError(f"dims = {dims}; use 1 (sequences) or 2 (images)")
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        pools = {
            "max": nn.MaxPool1d if dims == 1 else nn.MaxPool2d,
            "avg": nn.AvgPool1d if dims == 1 else nn.AvgPool2d,
        }
        self.dims, self.input_scale = dims, float(input_scale)
        layers: list[nn.Module] = []
        c = in_channels
        for out, pool in zip(CHANNELS, POOLS, strict=True):
            # Window 3, stride 2; padding 1 gives cuda-convnet's output sizes (32 -> 16 -> 8
            # -> 4); average pools leave the padding out of the mean.
            extra = {"count_include_pad": False} if pool == "avg" else {}
            pooling = pools[pool](3, stride=2, padding=1, **extra)
            act = ACTIVATIONS[activation]()
            # a max pool commutes with the activation (module doc); an average pool does not
            stage = [pooling, act] if pool == "max" else [act, pooling]
            layers += [conv(c, out, 5, padding=2), *stage]
            c, size = out, (size - 1) // 2 + 1
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c * size**dims, n_classes)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """cuda-convnet's Gaussian init at its per-layer gains (see the module doc)."""
        weighted = [m for m in self.modules() if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear)]
        for m, gain in zip(weighted, (*GAINS, FC_GAIN), strict=True):
            nn.init.normal_(
                m.weight, 0.0, gain / math.sqrt(m.weight[0].numel()), generator=generator
            )
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dims == 1:
            x = x.flatten(1, -2)  # (N, C, 1, L) -> (N, C, L)
        return self.classifier(self.features(x * self.input_scale).flatten(1))


def build(
    in_channels: int,
    size: int,
    n_classes: int,
    activation: str,
    dims: int,
    input_scale: float,
    seed: int,
) -> ConvNet18:
    """The net, initialised from a generator seeded with `seed` (same seed, same weights)."""
    model = ConvNet18(in_channels, size, n_classes, activation, dims, input_scale)
    model.reset_parameters(torch.Generator().manual_seed(int(seed)))
    return model
