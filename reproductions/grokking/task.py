"""Grokking on modular arithmetic: training and per-run summaries.

One run trains a model on a random fraction of the table a ∘ b mod p with full-batch (or
minibatch) AdamW and logs, at every `eval_every` steps, train/val loss and accuracy and the
total weight norm, and at log-spaced steps the Fourier spectrum of the token embedding.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from dlrepro.errors import UserError
from dlrepro.longform import first_step, last_value, series
from dlrepro.runner import RunContext

from . import analysis
from .data import split
from .model import build, make_optimizer


def _eval(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        logits = model(x)
        return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def _log_steps(total: int, n: int) -> set[int]:
    return {int(s) for s in np.unique(np.geomspace(1, total, n).round())} | {0, total}


def train(run: RunContext) -> None:
    s = run.settings
    if s["stop_after_val"] is not None and s["stop_after_val"] < 0:
        raise UserError(
            f"run {run.run_id}: stop_after_val = {s['stop_after_val']}; use null (run the "
            "budget) or a fraction >= 0 of the step at which validation accuracy reached 99%"
        )
    dev = run.device
    xt, yt, xv, yv = (t.to(dev) for t in split(s["p"], s["op"], s["frac"], s["seed"]))
    model = build(s).to(dev)  # initialised from torch's global RNG, seeded by the runner
    l1 = s["l1"] if s["regularizer"] == "l1" else 0.0
    opt = make_optimizer(model, s)  # AdamW, decoupled weight decay only for weight_decay
    batches = torch.Generator().manual_seed(s["seed"] + 1)  # minibatch order, if any
    total, bs = s["steps"], s["batch_size"]
    fourier_steps = _log_steps(total, s["fourier_points"])
    run.data_info = {"p": s["p"], "op": s["op"], "n_train": len(xt), "n_val": len(xv)}
    # The step to stop at (set once validation accuracy reaches 99%), and whether training and
    # validation accuracy have reached 99% yet: the spectrum is logged at both moments.
    stop = {"at": None, "train_99": False, "val_99": False}
    run.register(model=model, optimizer=opt, generators=[batches], stop=stop)

    def log_eval(step: int) -> tuple[float, bool]:
        """Log train/val metrics and the norm; return val accuracy and whether this step is
        the first at which training or validation accuracy reached 99%."""
        tr_loss, tr_acc = _eval(model, xt, yt)
        va_loss, va_acc = _eval(model, xv, yv)
        norm = torch.sqrt(sum((w.detach() ** 2).sum() for w in model.parameters())).item()
        run.log(step, "train", {"loss": tr_loss, "acc": tr_acc})
        run.log(step, "val", {"loss": va_loss, "acc": va_acc})
        run.log(step, "model", {"weight_norm": norm})
        run.progress(step, total, loss=tr_loss, train_acc=tr_acc, val_acc=va_acc, norm=norm)
        first = False
        for key, acc in (("train_99", tr_acc), ("val_99", va_acc)):
            if acc >= 0.99 and not stop[key]:
                stop[key], first = True, True
        return va_acc, first

    def log_spectrum(step: int) -> None:
        norms = analysis.fourier_norms(model.token_embedding())
        run.log(step, "embed", {f"fourier_k{k + 1:03d}": v for k, v in enumerate(norms)})
        if s["model"] == "mlp":
            tuned = analysis.single_frequency_share(model, s["neuron_freq_level"])
            run.log(step, "neurons", {f"single_freq_{k}": v for k, v in tuned.items()})

    start = run.resume()
    if start == 1:
        log_eval(0)
        log_spectrum(0)
    for step in range(start, total + 1):
        for group in opt.param_groups:  # linear warm-up, then constant (as in Power et al.)
            group["lr"] = s["lr"] * min(1.0, step / max(1, s["warmup_steps"]))
        idx = torch.randperm(len(xt), generator=batches)[:bs].to(dev) if bs else slice(None)
        loss = F.cross_entropy(model(xt[idx]), yt[idx])
        if l1:
            loss = loss + l1 * sum(w.abs().sum() for w in model.parameters())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run.check_finite(loss=loss.item())
        last = step in (total, stop["at"])
        crossed = False
        if step % s["eval_every"] == 0 or step in fourier_steps or last:
            va_acc, crossed = log_eval(step)
            if stop["at"] is None and va_acc >= 0.99 and s["stop_after_val"] is not None:
                # Keep training a while after generalization (the clean-up phase), then stop;
                # with stop_after_val 0 that is this very step.
                stop["at"] = min(total, math.ceil(step * (1 + s["stop_after_val"])))
                last = last or stop["at"] == step
        if step in fourier_steps or last or crossed:
            log_spectrum(step)
        if last:
            break
        run.maybe_checkpoint(step)


def _at(values: pd.Series, step: float) -> float:
    """The value logged at `step`, or at the last logged step before it."""
    return float(values.loc[:step].iloc[-1]) if len(values.loc[:step]) else math.nan


def summarize_run(metrics: pd.DataFrame, settings: dict) -> dict[str, float]:
    """Scalars of one run: when training and validation accuracy reached 99% (and 95%), the
    weight norm at those moments, the embedding's Fourier concentration and, for the MLP, the
    hidden layer's single-frequency share at initialization, memorization and the end.
    Spectra are logged at the exact steps where train and val accuracy first reach 99%."""
    t_train = first_step(metrics, "train", "acc", 0.99)
    t_val = first_step(metrics, "val", "acc", 0.99)
    t_val95 = first_step(metrics, "val", "acc", 0.95)
    val = series(metrics, "val", "acc")
    norm = series(metrics, "model", "weight_norm")
    tuned = series(metrics, "neurons", "single_freq_power_weighted")
    end = float(val.index.max())
    top_k = settings["fourier_top_k"]

    def share(step: float) -> float:
        if math.isnan(step):
            return math.nan
        return analysis.top_share(analysis.spectrum_at(metrics, step), top_k)

    out = {
        "frac": float(settings["frac"]),
        "steps_train_99": t_train,
        "steps_val_99": t_val,
        "steps_val_95": t_val95,
        "delay_ratio": t_val / t_train if t_train > 0 else math.nan,
        "delay_ratio_95": t_val95 / t_train if t_train > 0 else math.nan,
        "budget_steps": end,
        "final_train_acc": last_value(metrics, "train", "acc"),
        "final_val_acc": float(val.iloc[-1]),
        "max_val_acc": float(val.max()),
        "fourier_top_share_init": share(0),
        "fourier_top_share_memorized": share(t_train),
        "fourier_top_share_final": share(end),
        "norm_init": _at(norm, 0),
        "norm_at_train_99": _at(norm, t_train) if not math.isnan(t_train) else math.nan,
        "norm_at_val_99": _at(norm, t_val) if not math.isnan(t_val) else math.nan,
        "neuron_single_freq_init": _at(tuned, 0) if len(tuned) else math.nan,
        "neuron_single_freq_memorized": (
            _at(tuned, t_train) if len(tuned) and not math.isnan(t_train) else math.nan
        ),
        "neuron_single_freq_final": float(tuned.iloc[-1]) if len(tuned) else math.nan,
    }
    out["fourier_share_gain"] = out["fourier_top_share_final"] - out["fourier_top_share_memorized"]
    # How far the norm fell from memorization (train 99%) to generalization (val 99%).
    out["norm_window_fall"] = 1 - out["norm_at_val_99"] / out["norm_at_train_99"]
    return out
