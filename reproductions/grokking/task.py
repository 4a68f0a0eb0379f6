"""Grokking on modular arithmetic: training, per-run summaries, claim measures, figures.

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

from dlrepro.claims import Measurement, median_over_seeds
from dlrepro.figures import FigureData, new, overlay_reference
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
    dev = run.device
    xt, yt, xv, yv = (t.to(dev) for t in split(s["p"], s["op"], s["frac"], s["seed"]))
    torch.manual_seed(s["seed"])
    model = build(s).to(dev)
    decay = s["weight_decay"] if s["regularizer"] == "weight_decay" else 0.0
    l1 = s["l1"] if s["regularizer"] == "l1" else 0.0
    opt = torch.optim.AdamW(
        model.parameters(), lr=s["lr"], betas=tuple(s["betas"]), weight_decay=decay
    )
    batches = torch.Generator().manual_seed(s["seed"] + 1)  # minibatch order, if any
    total, bs = s["steps"], s["batch_size"]
    fourier_steps = _log_steps(total, s["fourier_points"])
    run.data_info = {"p": s["p"], "op": s["op"], "n_train": len(xt), "n_val": len(xv)}

    def log_eval(step: int, spectrum: bool) -> float:
        tr_loss, tr_acc = _eval(model, xt, yt)
        va_loss, va_acc = _eval(model, xv, yv)
        norm = torch.sqrt(sum((w.detach() ** 2).sum() for w in model.parameters())).item()
        run.log(step, "train", {"loss": tr_loss, "acc": tr_acc})
        run.log(step, "val", {"loss": va_loss, "acc": va_acc})
        run.log(step, "model", {"weight_norm": norm})
        if spectrum:
            norms = analysis.fourier_norms(model.token_embedding())
            run.log(step, "embed", {f"fourier_k{k + 1:03d}": v for k, v in enumerate(norms)})
        run.progress(step, total, loss=tr_loss, train_acc=tr_acc, val_acc=va_acc, norm=norm)
        return va_acc

    start, stop_at = 1, None
    state = run.resume()
    if state is None:
        log_eval(0, spectrum=True)
    else:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        batches.set_state(state["batches"])
        start, stop_at = state["step"] + 1, state["stop_at"]

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
        last = step in (total, stop_at)
        if step % s["eval_every"] == 0 or step in fourier_steps or last:
            va_acc = log_eval(step, spectrum=step in fourier_steps or last)
            if stop_at is None and va_acc >= 0.99 and s["stop_after_val"] is not None:
                # Keep training a while after generalization (the clean-up phase), then stop.
                stop_at = min(total, math.ceil(step * (1 + s["stop_after_val"])))
        if last:
            break
        run.maybe_checkpoint(
            step,
            lambda stop_at=stop_at: {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "batches": batches.get_state(),
                "stop_at": stop_at,
            },
        )


def summarize_run(metrics: pd.DataFrame, settings: dict) -> dict[str, float]:
    t_train = analysis.first_step(metrics, "train", "acc", 0.99)
    t_val = analysis.first_step(metrics, "val", "acc", 0.99)
    val = analysis.series(metrics, "val", "acc")
    norm = analysis.series(metrics, "model", "weight_norm")
    top_k = settings["fourier_top_k"]
    out = {
        "frac": float(settings["frac"]),
        "steps_train_99": t_train,
        "steps_val_99": t_val,
        "steps_val_95": analysis.first_step(metrics, "val", "acc", 0.95),
        "delay_ratio": t_val / t_train if t_train > 0 else math.nan,
        "budget_steps": float(val.index.max()),
        "final_train_acc": float(analysis.series(metrics, "train", "acc").iloc[-1]),
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


# -- claim measures: each returns the median over the seeds of the claim's sweep -------------


def _per_seed(summary: pd.DataFrame, sweep: str, column: str) -> dict[int, float | None]:
    rows = summary[summary["sweep"] == sweep]
    return {int(r.seed): getattr(r, column) for r in rows.itertuples()}


def median_of(summary: pd.DataFrame, metrics: pd.DataFrame, sweep: str, column: str) -> Measurement:
    return median_over_seeds(_per_seed(summary, sweep, column), f"{column} ({sweep})")


def val_acc_within(
    summary: pd.DataFrame,
    metrics: pd.DataFrame,
    sweep: str,
    reference_sweep: str,
    factor: float,
) -> Measurement:
    """Best val accuracy of `sweep` within `factor` × the reference sweep's median steps to
    99% val accuracy; inconclusive if its budget was shorter than that."""
    ref = median_of(summary, metrics, reference_sweep, "steps_val_99")
    if ref.value is None:
        return Measurement(
            None, reason=f"the {reference_sweep} runs did not generalize: {ref.reason}"
        )
    horizon = factor * ref.value
    per_seed: dict[int, float | None] = {}
    for r in summary[summary["sweep"] == sweep].itertuples():
        if r.budget_steps < horizon:
            return Measurement(
                None,
                reason=f"{r.run_id} ran {r.budget_steps:.0f} steps < {factor}× {ref.value:.0f}",
            )
        acc = metrics[
            (metrics["run_id"] == r.run_id)
            & (metrics["split"] == "val")
            & (metrics["metric"] == "acc")
            & (metrics["step"] <= horizon)
        ]["value"]
        per_seed[int(r.seed)] = float(acc.max())
    m = median_over_seeds(per_seed, "val accuracy")
    m.details.update(horizon_steps=horizon, reference_steps_val_99=ref.value)
    return m


def faster_with_more_data(
    summary: pd.DataFrame, metrics: pd.DataFrame, param: str = "frac"
) -> Measurement:
    """Share of adjacent fraction pairs (ascending) where median steps to 99% val accuracy
    falls; a run that never generalized counts as slower than any that did."""
    steps = summary.assign(t=summary["steps_val_99"].fillna(math.inf))
    by_frac = steps.groupby(param)["t"].median().sort_index()
    if len(by_frac) < 3:
        return Measurement(None, reason=f"{len(by_frac)} fractions run, 3 needed")
    t = by_frac.to_numpy()
    if np.isinf(t).all():
        return Measurement(None, reason="no fraction reached 99% validation accuracy")
    falls = [bool(b < a) for a, b in zip(t[:-1], t[1:], strict=True)]
    return Measurement(
        sum(falls) / len(falls),
        seeds=sorted(set(summary["seed"].astype(int))),
        details={"median_steps_val_99": {str(k): v for k, v in by_frac.items()}},
    )


MEASURES = {
    "median_of": median_of,
    "val_acc_within": val_acc_within,
    "faster_with_more_data": faster_with_more_data,
}


# -- figures ---------------------------------------------------------------------------------


def _x(values: pd.Series) -> np.ndarray:
    """Steps for a log axis: step 0 (initialization) is drawn at 1."""
    return np.maximum(values.index.to_numpy(), 1)


def _curves(ax, metrics: pd.DataFrame, run_id: str, label: str, color: str) -> None:
    m = metrics[metrics["run_id"] == run_id]
    tr = analysis.series(m, "train", "acc")
    va = analysis.series(m, "val", "acc")
    ax.plot(_x(tr), tr.values, color=color, ls="--", lw=1, label=f"{label} train")
    ax.plot(_x(va), va.values, color=color, lw=1.5, label=f"{label} val")


def _first_run(summary: pd.DataFrame, sweep: str) -> str | None:
    rows = summary[summary["sweep"] == sweep].sort_values("seed")
    return rows["run_id"].iloc[0] if len(rows) else None


def fig_curves(data: FigureData) -> object:
    fig, (ax,) = new(width=7, height=4.5)
    colors = {"wd": "tab:blue", "none": "tab:red", "l1": "tab:green"}
    for sweep, color in colors.items():
        run_id = _first_run(data.summary, sweep)
        if run_id:
            _curves(ax, data.metrics, run_id, sweep, color)
    overlay_reference(ax, data.reference, series="acc_vs_step")
    ax.set_xscale("log")
    ax.set_xlabel("optimization step")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, loc="center left")
    return fig


def fig_fourier(data: FigureData) -> object:
    fig, (ax1, ax2) = new(ncols=2, width=5.5)
    run_id = _first_run(data.summary, "wd")
    if run_id:
        m = data.metrics[data.metrics["run_id"] == run_id]
        row = data.summary[data.summary["run_id"] == run_id].iloc[0]
        for step, label in [
            (0, "init"),
            (row["steps_train_99"], "memorized"),
            (m["step"].max(), "final"),
        ]:
            if pd.notna(step):
                spec = analysis.spectrum_at(m, step)
                ax1.plot(
                    range(1, len(spec) + 1),
                    spec.values,
                    marker=".",
                    lw=1,
                    label=f"{label} (step {step:.0f})",
                )
    ax1.set_xlabel("frequency k")
    ax1.set_ylabel("embedding norm at frequency k")
    ax1.legend(fontsize=7)
    top_k = 8
    for r in data.summary[data.summary["sweep"].isin(["wd", "none", "l1"])].itertuples():
        emb = data.metrics[
            (data.metrics["run_id"] == r.run_id) & (data.metrics["split"] == "embed")
        ]
        shares = emb.groupby("step")["value"].apply(lambda v: analysis.top_share(v, top_k))
        ax2.plot(_x(shares), shares.values, lw=1, label=r.run_id)
    overlay_reference(ax2, data.reference, series="fourier_top_share")
    ax2.set_xscale("log")
    ax2.set_xlabel("optimization step")
    ax2.set_ylabel(f"share of power in top {top_k} frequencies")
    ax2.legend(fontsize=6)
    return fig


def fig_norm(data: FigureData) -> object:
    fig, (ax,) = new(width=7, height=4.5)
    twin = ax.twinx()
    for sweep, color in {"wd": "tab:blue", "none": "tab:red", "l1": "tab:green"}.items():
        run_id = _first_run(data.summary, sweep)
        if not run_id:
            continue
        m = data.metrics[data.metrics["run_id"] == run_id]
        norm = analysis.series(m, "model", "weight_norm")
        va = analysis.series(m, "val", "acc")
        ax.plot(_x(norm), norm.values, color=color, lw=1.5, label=f"{sweep} weight norm")
        twin.plot(_x(va), va.values, color=color, lw=1, ls=":", label=f"{sweep} val acc")
    ax.set_xscale("log")
    ax.set_xlabel("optimization step")
    ax.set_ylabel("total weight norm (solid)")
    twin.set_ylabel("validation accuracy (dotted)")
    ax.legend(fontsize=7, loc="lower left")
    return fig


def fig_fractions(data: FigureData) -> object:
    fig, (ax,) = new()
    s = data.summary[data.summary["sweep"].isin(["wd", "frac"])]
    ax.scatter(s["frac"], s["steps_val_99"], label="steps to 99% val acc")
    ax.scatter(s["frac"], s["steps_train_99"], marker="x", label="steps to 99% train acc")
    med = s.groupby("frac")["steps_val_99"].median()
    ax.plot(med.index, med.values, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("training fraction of all pairs")
    ax.set_ylabel("optimization steps")
    ax.legend(fontsize=8)
    return fig


FIGURES = {
    "curves": fig_curves,
    "fourier": fig_fourier,
    "norm": fig_norm,
    "fractions": fig_fractions,
}
