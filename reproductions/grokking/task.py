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
from .model import build


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
    decay = s["weight_decay"] if s["regularizer"] == "weight_decay" else 0.0
    l1 = s["l1"] if s["regularizer"] == "l1" else 0.0
    opt = torch.optim.AdamW(
        model.parameters(), lr=s["lr"], betas=tuple(s["betas"]), weight_decay=decay
    )
    batches = torch.Generator().manual_seed(s["seed"] + 1)  # minibatch order, if any
    total, bs = s["steps"], s["batch_size"]
    fourier_steps = _log_steps(total, s["fourier_points"])
    run.data_info = {"p": s["p"], "op": s["op"], "n_train": len(xt), "n_val": len(xv)}
    stop = {"at": None}  # the step to stop at, set once validation accuracy reaches 99%
    run.register(model=model, optimizer=opt, generators=[batches], stop=stop)

    def log_eval(step: int) -> float:
        tr_loss, tr_acc = _eval(model, xt, yt)
        va_loss, va_acc = _eval(model, xv, yv)
        norm = torch.sqrt(sum((w.detach() ** 2).sum() for w in model.parameters())).item()
        run.log(step, "train", {"loss": tr_loss, "acc": tr_acc})
        run.log(step, "val", {"loss": va_loss, "acc": va_acc})
        run.log(step, "model", {"weight_norm": norm})
        run.progress(step, total, loss=tr_loss, train_acc=tr_acc, val_acc=va_acc, norm=norm)
        return va_acc

    def log_spectrum(step: int) -> None:
        norms = analysis.fourier_norms(model.token_embedding())
        run.log(step, "embed", {f"fourier_k{k + 1:03d}": v for k, v in enumerate(norms)})

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
        if step % s["eval_every"] == 0 or step in fourier_steps or last:
            va_acc = log_eval(step)
            if stop["at"] is None and va_acc >= 0.99 and s["stop_after_val"] is not None:
                # Keep training a while after generalization (the clean-up phase), then stop;
                # with stop_after_val 0 that is this very step.
                stop["at"] = min(total, math.ceil(step * (1 + s["stop_after_val"])))
                last = last or stop["at"] == step
        if step in fourier_steps or last:
            log_spectrum(step)
        if last:
            break
        run.maybe_checkpoint(step)


def summarize_run(metrics: pd.DataFrame, settings: dict) -> dict[str, float]:
    t_train = first_step(metrics, "train", "acc", 0.99)
    t_val = first_step(metrics, "val", "acc", 0.99)
    val = series(metrics, "val", "acc")
    norm = series(metrics, "model", "weight_norm")
    top_k = settings["fourier_top_k"]
    out = {
        "frac": float(settings["frac"]),
        "steps_train_99": t_train,
        "steps_val_99": t_val,
        "steps_val_95": first_step(metrics, "val", "acc", 0.95),
        "delay_ratio": t_val / t_train if t_train > 0 else math.nan,
        "budget_steps": float(val.index.max()),
        "final_train_acc": last_value(metrics, "train", "acc"),
        "final_val_acc": float(val.iloc[-1]),
        "max_val_acc": float(val.max()),
        "fourier_top_share_init": analysis.top_share(analysis.spectrum_at(metrics, 0), top_k),
        "fourier_top_share_final": analysis.top_share(
            analysis.spectrum_at(metrics, val.index.max()), top_k
        ),
        "fourier_top_share_memorized": math.nan,
        "norm_peak": math.nan,
        "norm_at_val_99": math.nan,
        "norm_drop": math.nan,
    }
    if not math.isnan(t_train):
        out["fourier_top_share_memorized"] = analysis.top_share(
            analysis.spectrum_at(metrics, t_train), top_k
        )
    if not math.isnan(t_val):
        peak = float(norm.loc[:t_val].max())
        out.update(
            norm_peak=peak,
            norm_at_val_99=float(norm.loc[t_val]),
            norm_drop=1 - float(norm.loc[t_val]) / peak,
        )
    return out
