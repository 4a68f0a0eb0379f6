"""The MNIST-1D networks: the benchmark's four (Greydanus & Kobak's notebooks) and the
double-descent notebook's width-swept MLP. Sizes follow the notebooks' parameter counts:
logistic 410, residual MLP 15,210 (hidden 100), CNN 5,210 (25 channels), GRU 5,134 (hidden 6,
bidirectional). Inputs are float sequences of 40 values, (batch, 40) or the shared trainer's
image layout (batch, 1, 1, 40); outputs are 10 logits.
"""

from __future__ import annotations

import torch
from torch import nn

SEQ_LENGTH = 40
N_CLASSES = 10
KINDS = ("logistic", "mlp", "residual_mlp", "cnn", "gru")


class ResidualMLP(nn.Module):
    """The benchmark MLP: two hidden layers of equal width, the second added to the first."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(SEQ_LENGTH, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear1(x.reshape(len(x), SEQ_LENGTH)).relu()
        h = h + self.linear2(h).relu()
        return self.linear3(h)


class ConvNet(nn.Module):
    """Three stride-2 convolutions (kernels 5, 3, 3; `channels` each) and a linear layer.

    Lengths go 40 -> 19 -> 10 -> 5, so the linear layer sees channels × 5 features. The
    benchmark uses 25 channels; the double-descent sweep varies them.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(1, channels, 5, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.linear = nn.Linear(channels * 5, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x.reshape(len(x), 1, SEQ_LENGTH)).flatten(1))


class GRUNet(nn.Module):
    """A bidirectional GRU over the 40 positions; every position's state feeds the classifier."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(1, hidden, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(2 * hidden * SEQ_LENGTH, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x.reshape(len(x), SEQ_LENGTH, 1))  # zero initial state, as the notebook
        return self.linear(out.flatten(1))


def build(kind: str, width: int) -> nn.Module:
    """A network of `kind` whose size is `width` (hidden units, or channels for the CNN).

    `mlp` is the double-descent notebook's plain MLP: Linear(40, w)–ReLU–Linear(w, w)–ReLU–
    Linear(w, 10); `residual_mlp` is the benchmark's; `logistic` ignores `width`.
    """
    if kind == "logistic":
        return nn.Sequential(nn.Flatten(), nn.Linear(SEQ_LENGTH, N_CLASSES))
    if kind == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(SEQ_LENGTH, width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, N_CLASSES),
        )
    if kind == "residual_mlp":
        return ResidualMLP(width)
    if kind == "cnn":
        return ConvNet(width)
    if kind == "gru":
        return GRUNet(width)
    raise ValueError(f"unknown MNIST-1D model {kind!r}; the kinds are {KINDS}")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
