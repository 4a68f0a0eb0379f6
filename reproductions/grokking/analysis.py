"""Fourier analysis of grokking's token embedding: the spectrum and its top-k share."""

from __future__ import annotations

import math

import pandas as pd
import torch


def fourier_norms(embedding: torch.Tensor) -> torch.Tensor:
    """Norm of the token embedding per frequency k = 1..(p-1)//2 (the constant term dropped).

    Row a of the embedding is a function of the token a mod p; the DFT over tokens pairs
    frequency k with p - k, so the real FFT's k-th term carries all of frequency k.
    """
    p = embedding.shape[0]
    spectrum = torch.fft.rfft(embedding.detach().double(), dim=0)
    power = (spectrum.abs() ** 2).sum(dim=1)[1 : (p - 1) // 2 + 1]
    return power.sqrt().float()


def top_share(norms: pd.Series | list[float] | torch.Tensor, k: int) -> float:
    """Fraction of the (non-constant) power carried by the `k` strongest frequencies."""
    power = torch.as_tensor(list(norms), dtype=torch.float64) ** 2
    total = float(power.sum())
    return float(power.topk(min(k, len(power))).values.sum()) / total if total > 0 else math.nan


def spectrum_at(metrics: pd.DataFrame, step: float) -> pd.Series:
    """The logged Fourier norms at the logged step nearest to `step`."""
    rows = metrics[metrics["split"] == "embed"]
    steps = rows["step"].unique()
    nearest = steps[abs(steps - step).argmin()]
    at = rows[rows["step"] == nearest]
    return at.set_index("metric")["value"].sort_index()


def top_share_by_step(metrics: pd.DataFrame, k: int) -> pd.Series:
    """The top-`k` share of every logged spectrum of one run, by step."""
    embed = metrics[metrics["split"] == "embed"]
    return embed.groupby("step")["value"].apply(lambda v: top_share(v, k))
