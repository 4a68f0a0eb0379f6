"""Modular-arithmetic tables a ∘ b mod p, split at random into train and validation."""

from __future__ import annotations

import torch

OPS = ("add", "sub", "div", "mul")


def table(p: int, op: str) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs (a, b) with their answers, as int64 tensors of shape (n, 2) and (n,)."""
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    a, b = a.flatten(), b.flatten()
    if op == "add":
        y = (a + b) % p
    elif op == "sub":
        y = (a - b) % p
    elif op == "mul":
        y = (a * b) % p
    elif op == "div":
        keep = b != 0  # a / b = a * b^(p-2) mod p (Fermat), defined for b != 0
        a, b = a[keep], b[keep]
        inv = torch.tensor([pow(int(v), p - 2, p) for v in range(p)])
        y = (a * inv[b]) % p
    else:
        raise ValueError(f"unknown operation {op!r}; choose one of {OPS}")
    return torch.stack([a, b], dim=1), y


def split(
    p: int, op: str, frac: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_val, y_val): a seeded random `frac` of all pairs for training."""
    x, y = table(p, op)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_train = round(frac * len(x))
    tr, va = perm[:n_train], perm[n_train:]
    return x[tr], y[tr], x[va], y[va]
