"""An AlexNet-style small CNN for 28×28 and 32×32 images, parameterised for ablations.

The layout follows Krizhevsky et al. (2012) in miniature: conv stages with overlapping max
pooling (3×3, stride 2), optional local response normalisation after the first two conv
layers, optional fully connected hidden layers with dropout, and the paper's initialisation
as an option. Everything an ablation varies (activation, depth, dropout, LRN, init) is an
argument, so that two runs of a claim differ in exactly one of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

# ReLU in place: its input (a convolution's, pool's or linear layer's output) is not needed by
# that layer's backward, and on a CPU writing a fresh copy of a large activation costs about as
# much as the ReLU itself. Shared with reproductions/alexnet/convnet18.py.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "tanh": nn.Tanh,
}
INITS = ("torch", "alexnet")
# AlexNet §3.3: k=2, n=5, alpha=1e-4, beta=0.75 with the sum of squares *not* divided by n;
# torch's LocalResponseNorm (and ours, below) divides alpha by n, so the paper's alpha
# becomes alpha * n here.
LRN_PAPER = {"size": 5, "alpha": 1e-4 * 5, "beta": 0.75, "k": 2.0}


class LocalResponseNorm(nn.Module):
    """nn.LocalResponseNorm over channels (same arguments, alpha divided by `size` as there),
    with each channel window's sum of squares as one matmul by a 0/1 band matrix, instead of
    torch's avg_pool3d over a padded 5-D copy (on the channels-last layout the CPU trainer
    uses, that pooling was ~115 of the ~135 ms of an LRN net's step).

    Each output sums the same squares (the band's zeros add exactly 0 while the squares are
    finite, which fp32 activations are), so outputs agree with nn.LocalResponseNorm to float
    rounding (relative 3e-7); forward and backward at AlexNet's constants, 1 thread,
    (128, 32, 28, 28) channels-last: 173 -> 51 ms, at 14x14: 42 -> 12 ms.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise ValueError(f"LocalResponseNorm wants (N, C, ...) input, got {x.dim()} dims")
        # band[c', c] = 1 when channel c' is in channel c's window, which (as torch's) runs
        # from c - size//2 to c + (size-1)//2
        i = torch.arange(x.shape[1], device=x.device)
        offset = i[:, None] - i[None, :]
        band = ((offset >= -(self.size // 2)) & (offset <= (self.size - 1) // 2)).to(x.dtype)
        squares = x * x
        if x.is_contiguous():  # channels first in memory (GPU): (C, C) @ (N, C, rest)
            sums = (band.T @ squares.flatten(2)).view(x.shape)
        else:  # channels last (CPU): (N, ..., C) @ (C, C), and back to x's layout
            sums = (squares.movedim(1, -1) @ band).movedim(-1, 1)
        return x * sums.mul_(self.alpha / self.size).add_(self.k).pow(-self.beta)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


@dataclass(frozen=True)
class CNNConfig:
    """What defines the net; `conv_layers + len(fc_widths) + 1` is its number of weight layers."""

    in_channels: int = 1
    image_size: int = 28
    num_classes: int = 10
    conv_layers: int = 3  # one per pooled stage; extra layers go to stages 2 and 3
    width: int = 32  # channels of stages 1 and 2; stage 3 has twice as many (as cuda-convnet)
    kernel_size: int = 5
    fc_widths: tuple[int, ...] = ()
    activation: str = "relu"
    dropout: float = 0.0  # in the hidden fully connected layers only, as in AlexNet
    lrn: bool = False  # after the activation of the first two conv layers, as in AlexNet
    init: str = "torch"  # "alexnet": weights N(0, 0.01); biases per `alexnet_bias`
    alexnet_bias: float = 0.0  # AlexNet used 1 in some hidden layers (for ReLUs), 0 elsewhere

    @property
    def depth(self) -> int:
        return self.conv_layers + len(self.fc_widths) + 1

    def stage_sizes(self) -> list[int]:
        # Extra layers go to the later, smaller stages (as in VGG-style deepening), which
        # keeps a deeper net affordable on a CPU: a 28×28 layer costs 4× a 14×14 one.
        n = self.conv_layers
        if n < 3:
            return [1] * n + [0] * (3 - n)
        extra = n - 3
        return [1, 1 + extra - extra // 2, 1 + extra // 2]


def config_from_settings(settings: dict[str, Any], **fixed: Any) -> CNNConfig:
    """Build a CNNConfig from a run's settings (keys named like the fields) plus `fixed`."""
    names = set(CNNConfig.__dataclass_fields__)
    values = {k: v for k, v in settings.items() if k in names}
    values.update(fixed)
    if "fc_widths" in values:
        values["fc_widths"] = tuple(int(w) for w in values["fc_widths"])
    return CNNConfig(**values)


class AlexNetStyleCNN(nn.Module):
    def __init__(self, cfg: CNNConfig) -> None:
        super().__init__()
        if cfg.activation not in ACTIVATIONS:
            raise ValueError(f"activation {cfg.activation!r}; choose one of {list(ACTIVATIONS)}")
        if cfg.init not in INITS:
            raise ValueError(f"init {cfg.init!r}; choose one of {list(INITS)}")
        if cfg.conv_layers < 1:
            raise ValueError("conv_layers must be at least 1")
        self.cfg = cfg
        act = ACTIVATIONS[cfg.activation]
        layers: list[nn.Module] = []
        channels, size, conv_index = cfg.in_channels, cfg.image_size, 0
        for stage, n in enumerate(cfg.stage_sizes()):
            out = cfg.width * (2 if stage == 2 else 1)
            for i in range(n):
                layers += [nn.Conv2d(channels, out, cfg.kernel_size, padding=cfg.kernel_size // 2)]
                lrn = cfg.lrn and conv_index < 2  # read again after the loop, for the last conv
                if i < n - 1 or lrn:
                    layers += [act()]
                if lrn:
                    layers += [LocalResponseNorm(**LRN_PAPER)]
                channels, conv_index = out, conv_index + 1
            if n:
                # Overlapping pooling (AlexNet §3.4): window 3, stride 2.
                layers += [nn.MaxPool2d(3, stride=2, padding=1)]
                if not lrn:
                    # The stage's last activation comes after the pool, where it touches a
                    # quarter of the values: max pooling commutes with a monotone activation,
                    # so the outputs are the same bit for bit, and so are ReLU's gradients
                    # (a window of ReLU zeros passes no gradient either way). For tanh the
                    # outputs are the same too, but near saturation rounding makes tanh values
                    # of a window tie where their inputs did not, and the gradient then goes
                    # to another of the tied positions: a different tie-break, so tanh runs
                    # change as chaotic training amplifies it. alexnet cpu `cnn`: 38 -> 30 ms.
                    layers += [act()]
                size = math.floor((size + 2 - 3) / 2) + 1
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten()]
        width = channels * size * size
        for w in cfg.fc_widths:
            head += [nn.Linear(width, w), act()]
            if cfg.dropout > 0:
                head += [nn.Dropout(cfg.dropout)]
            width = w
        head += [nn.Linear(width, cfg.num_classes)]
        self.classifier = nn.Sequential(*head)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Initialise per `cfg.init`; with `generator`, independent of torch's global RNG."""
        weighted = [m for m in self.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
        for i, m in enumerate(weighted):
            if self.cfg.init == "alexnet":
                # AlexNet §5: N(0, 0.01) weights; bias 1 only in hidden layers (the first conv
                # and the output layer keep 0), to give ReLUs positive inputs early on.
                nn.init.normal_(m.weight, 0.0, 0.01, generator=generator)
                hidden = 0 < i < len(weighted) - 1
                nn.init.constant_(m.bias, self.cfg.alexnet_bias if hidden else 0.0)
            else:
                # torch's default (kaiming_uniform with a=sqrt(5)), drawn from `generator`.
                bound = 1.0 / math.sqrt(m.weight[0].numel())
                w_bound = math.sqrt(6.0 / ((1 + 5.0) * m.weight[0].numel()))
                nn.init.uniform_(m.weight, -w_bound, w_bound, generator=generator)
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_cnn(cfg: CNNConfig, seed: int) -> AlexNetStyleCNN:
    """The net of `cfg`, initialised from a generator seeded with `seed` (same seed, same net)."""
    model = AlexNetStyleCNN(cfg)
    model.reset_parameters(torch.Generator().manual_seed(int(seed)))
    return model


def describe(cfg: CNNConfig) -> dict[str, Any]:
    out = asdict(cfg)
    out["depth"] = cfg.depth
    out["params"] = sum(p.numel() for p in AlexNetStyleCNN(cfg).parameters())
    return out
