"""Fourier analysis of grokking's token embedding: the spectrum and its top-k share.

The spectra of a model (`fourier_norms`, `neuron_spectra`) are taken while training; the
shares are read from logged tables by the claims and figures jobs, which never import torch
(its import costs ~2 s a job).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import torch


def fourier_norms(embedding: torch.Tensor) -> torch.Tensor:
    """Norm of the token embedding per frequency k = 1..(p-1)//2 (the constant term dropped).

    Row a of the embedding is a function of the token a mod p; the DFT over tokens pairs
    frequency k with p - k, so the real FFT's k-th term carries all of frequency k.
    """
    import torch

    p = embedding.shape[0]
    spectrum = torch.fft.rfft(embedding.detach().double(), dim=0)
    power = (spectrum.abs() ** 2).sum(dim=1)[1 : (p - 1) // 2 + 1]
    return power.sqrt().float()


def top_share(norms: pd.Series | list[float], k: int) -> float:
    """Fraction of the (non-constant) power carried by the `k` strongest frequencies."""
    power = np.asarray(norms, dtype=np.float64) ** 2
    total = float(power.sum())
    return float(np.sort(power)[::-1][:k].sum()) / total if total > 0 else math.nan


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


def neuron_spectra(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Per hidden neuron of the pair MLP: its input power over the non-constant frequencies
    of the first operand a, and the largest share of that power one frequency carries.

    Neuron n reads token a through W_hidden[n, :d]·E[a], a function of a mod p; its DFT over
    a (constant term dropped, k paired with p - k as in `fourier_norms`) gives the power per
    frequency. A neuron tuned to one frequency (Gromov 2023; Morwani et al. 2023) puts nearly
    all its power there; a random neuron spreads it over all (p-1)/2 frequencies.
    """
    import torch

    emb = model.token_embedding().detach().double()  # (p, d)
    w_a = model.hidden.weight.detach().double()[:, : emb.shape[1]]  # (hidden, d): the a-half
    f = emb @ w_a.T  # (p, hidden): each neuron's input from token a
    p = f.shape[0]
    power = (torch.fft.rfft(f, dim=0).abs() ** 2)[1 : (p - 1) // 2 + 1]  # (freqs, hidden)
    total = power.sum(dim=0)
    return total, power.max(dim=0).values / total.clamp_min(1e-300)


def single_frequency_share(model: torch.nn.Module, level: float = 0.8) -> dict[str, float]:
    """How much of the MLP's hidden layer is tuned to one frequency of the operand a.

    `power_weighted`: the share of the hidden layer's (non-constant) input power carried by
    neurons that put at least `level` of their power in one frequency, so that neurons weight
    decay has switched off (their weights shrink towards 0, their direction stays random)
    weigh next to nothing; `count`: the plain share of neurons at or above `level`.
    """
    power, share = neuron_spectra(model)
    tuned = share >= level
    total = float(power.sum())
    return {
        "power_weighted": float(power[tuned].sum()) / total if total > 0 else math.nan,
        "count": float(tuned.double().mean()),
    }
