"""Label noise: replace an exact fraction of the training labels, reproducibly.

Two definitions occur in the papers we reproduce, and they differ in what "15% noise" means:

- ``mode="wrong"`` (Nakkiran et al. 2019, deep double descent): each chosen label is replaced
  by a label drawn uniformly from the *other* classes, so exactly the chosen fraction is wrong.
- ``mode="uniform"`` (the MNIST-1D double-descent notebook; Zhang et al. 2017's "corrupted
  with probability p"): each chosen label is redrawn uniformly from *all* classes, so about
  1/K of the chosen labels come back unchanged and the wrong fraction is fraction·(K−1)/K.

In both modes exactly ``round(fraction · n)`` examples are chosen (without replacement), so
the noise level of a run is known exactly rather than only in expectation. Randomness comes
only from the generator passed in: the same generator state gives the same labels.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from dlrepro.errors import UserError

NoiseMode = Literal["wrong", "uniform"]
MODES: tuple[str, ...] = ("wrong", "uniform")


def n_corrupted(n: int, fraction: float) -> int:
    """How many of `n` labels a noise `fraction` chooses (rounded half up)."""
    return math.floor(fraction * n + 0.5)


def corrupt_labels(
    labels: torch.Tensor,
    fraction: float,
    n_classes: int,
    generator: torch.Generator,
    mode: NoiseMode = "wrong",
) -> torch.Tensor:
    """A copy of `labels` (int64, values 0..n_classes−1) with `fraction` of them redrawn.

    The choice of examples and the new labels are drawn on the generator's device and then
    moved to the labels' device, so a CPU generator gives the same labels on every device.
    """
    if mode not in MODES:
        raise UserError(f"label noise mode {mode!r} is unknown; use one of {list(MODES)}")
    if not 0.0 <= float(fraction) <= 1.0:
        raise UserError(f"label noise fraction {fraction!r} must lie in [0, 1]")
    if n_classes < 2:
        raise UserError(f"label noise needs at least 2 classes, got n_classes={n_classes}")
    if labels.ndim != 1 or labels.dtype != torch.int64:
        raise UserError(
            f"labels must be a 1-D int64 tensor, got {labels.dtype} of shape {tuple(labels.shape)}"
        )
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise UserError(f"labels lie outside 0..{n_classes - 1}; check n_classes")
    out = labels.clone()
    k = n_corrupted(len(labels), float(fraction))
    if k == 0:
        return out
    dev = generator.device
    chosen = torch.randperm(len(labels), generator=generator, device=dev)[:k]
    if mode == "wrong":
        # A shift of 1..K−1 classes (mod K) is uniform over the K−1 other classes.
        shift = torch.randint(1, n_classes, (k,), generator=generator, device=dev)
        new = (labels.to(dev)[chosen] + shift) % n_classes
    else:
        new = torch.randint(0, n_classes, (k,), generator=generator, device=dev)
    out[chosen.to(labels.device)] = new.to(labels.device)
    return out
