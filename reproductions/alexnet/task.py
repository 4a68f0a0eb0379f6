"""AlexNet-style findings on real images: ReLU vs tanh, CNN vs classical, dropout, LRN.

Two kinds of run share the engine's tables:
    kind: cnn        train an AlexNetStyleCNN with SGD on cached uint8 tensors
    kind: classical  fit one scikit-learn pipeline (Xiao et al. Table 3) on the same split

The CNN loop keeps the whole dataset as one tensor (on the GPU when there is one), draws each
epoch's order from a seeded torch.Generator and batches by indexing; normalisation and the
augmentations (CIFAR-10 only) are tensor ops on the batch.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from dlrepro.data import load_prepared
from dlrepro.errors import UserError
from dlrepro.longform import first_step, last_value, series
from dlrepro.models.cnn import build_cnn, config_from_settings, describe

from . import classical


# -- data ------------------------------------------------------------------------------------
def split_indices(n_total: int, n: int | None, split_seed: int) -> torch.Tensor:
    """A fixed subset of `n` indices (all if None), the same for every run with `split_seed`."""
    if n is None or n >= n_total:
        return torch.arange(n_total)
    g = torch.Generator().manual_seed(int(split_seed))
    return torch.randperm(n_total, generator=g)[:n].sort().values


def load_split(run: Any) -> dict[str, torch.Tensor]:
    """The run's train subset and test set as uint8 (N,C,H,W) tensors plus int64 labels."""
    s = run.settings
    name = s["dataset"]
    if name not in run.datasets:
        raise UserError(
            f"run {run.run.run_id} reads dataset {name!r}, but its scale lists only "
            f"{sorted(run.datasets)}; add it to the scale's `datasets` in reproduction.yaml"
        )
    blob = load_prepared(run.datasets[name])
    run.data_info[name] = {"path": str(run.datasets[name]), "sha256": blob["sha256"]}
    out = {}
    for split in ("train", "test"):
        x, y = blob[f"{split}_x"], blob[f"{split}_y"]
        n = s.get("n_train") if split == "train" else s.get("n_test")
        idx = split_indices(len(x), n, s.get("split_seed", 0))
        x = x[idx]
        out[f"{split}_x"] = x.unsqueeze(1) if x.ndim == 3 else x
        out[f"{split}_y"] = y[idx]
    run.data_info[name].update(n_train=len(out["train_x"]), n_test=len(out["test_x"]))
    return out


def input_stats(train_x: torch.Tensor, preprocess: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (mean, std) on the 0–255 scale, from the training subset only.

    `standardize` divides by the std (inputs ~ N(0, 1)); `subtract_mean` keeps the 0–255 scale
    as AlexNet §2 did, which is the input scale its N(0, 0.01) init and LRN constants assume.
    """
    x = train_x.float()
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    if preprocess == "standardize":
        std = x.std(dim=(0, 2, 3), keepdim=True)
    elif preprocess == "subtract_mean":
        std = torch.ones_like(mean)
    else:
        raise UserError(f"preprocess = {preprocess!r}; use standardize or subtract_mean")
    return mean, std


def augment(x: torch.Tensor, g: torch.Generator, pad: int, flip: bool) -> torch.Tensor:
    """Random crops (zero padding `pad`) and horizontal flips as batched tensor ops."""
    n, _, h, w = x.shape
    if flip:
        mask = torch.rand(n, generator=g, device=g.device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    if pad:
        padded = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=g, device=g.device)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=g, device=g.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, chans, rows, cols]
    return x


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, norm: Any) -> dict:
    """Eval-mode loss and accuracy (dropout off) over `x` in large batches."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(x), 1000):
        logits = model(norm(x[i : i + 1000]))
        yb = y[i : i + 1000]
        loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    model.train(was_training)
    return {"loss": loss_sum / len(x), "acc": correct / len(x), "error": 1 - correct / len(x)}


# -- training --------------------------------------------------------------------------------
def train(run: Any) -> None:
    kind = run.settings.get("kind", "cnn")
    if kind == "cnn":
        train_cnn(run)
    elif kind == "classical":
        train_classical(run)
    else:
        raise UserError(f"run {run.run.run_id}: settings.kind = {kind!r}; use cnn or classical")


def lr_at(s: dict[str, Any], step: int, total: int) -> float:
    if s.get("lr_schedule", "constant") == "cosine":
        return 0.5 * s["lr"] * (1 + math.cos(math.pi * step / total))
    return float(s["lr"])


def train_cnn(run: Any) -> None:
    s = run.settings
    dev = run.device
    data = load_split(run)
    train_x, train_y = data["train_x"].to(dev), data["train_y"].to(dev)
    test_x, test_y = data["test_x"].to(dev), data["test_y"].to(dev)
    mean, std = input_stats(train_x, s.get("preprocess", "standardize"))

    def norm(x: torch.Tensor) -> torch.Tensor:
        return (x.float() - mean) / std

    c, h = train_x.shape[1], train_x.shape[2]
    cfg = config_from_settings(s, in_channels=c, image_size=h, num_classes=10)
    model = build_cnn(cfg, seed=s["seed"]).to(dev)
    run.data_info["model"] = describe(cfg)
    opt = torch.optim.SGD(
        model.parameters(),
        lr=s["lr"],
        momentum=s.get("momentum", 0.9),
        weight_decay=s.get("weight_decay", 0.0),
    )
    bs = int(s["batch_size"])
    n = len(train_x)
    steps_per_epoch = n // bs
    if steps_per_epoch < 1:
        raise UserError(f"run {run.run.run_id}: batch_size {bs} exceeds the {n} training images")
    total = int(s["epochs"]) * steps_per_epoch
    log_every = max(1, round(steps_per_epoch / int(s.get("logs_per_epoch", 4))))
    eval_every = int(s.get("eval_every_epochs", 1))
    n_eval = s.get("n_eval")  # periodic evaluation on the first n_eval train/test images
    stop_error = s.get("stop_at_train_error")
    # Data order (and augmentation) come from this generator; dropout uses torch's global
    # RNG, which the engine seeds and saves in every checkpoint.
    g = torch.Generator(device=dev).manual_seed(int(s["seed"]))
    state = run.resume()
    if state is None:
        start, perm = 1, None
        acc = {"loss": 0.0, "wrong": 0.0, "count": 0.0}
    else:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        g.set_state(state["gen"].cpu())
        start, perm, acc = state["step"] + 1, state["perm"].to(dev), state["acc"]
    model.train()
    for step in range(start, total + 1):
        pos = (step - 1) % steps_per_epoch
        if pos == 0:
            perm = torch.randperm(n, generator=g, device=dev)
        idx = perm[pos * bs : (pos + 1) * bs]
        xb = norm(train_x[idx])
        if s.get("augment_pad", 0) or s.get("augment_flip", False):
            xb = augment(xb, g, int(s.get("augment_pad", 0)), bool(s.get("augment_flip", False)))
        yb = train_y[idx]
        for group in opt.param_groups:
            group["lr"] = lr_at(s, step - 1, total)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_v = loss.item()
        if not math.isfinite(loss_v) and s.get("lr_grid_divergence_ok", False):
            # In a learning-rate grid a diverging rate is a result ("never reaches the
            # threshold"), not a failed run: record it and stop.
            run.log(step, "train", {"diverged": 1.0}, step / steps_per_epoch)
            run.print(f"diverged at step {step}; recorded as never reaching the threshold")
            break
        run.check_finite(loss=loss_v)
        acc["loss"] += loss_v * len(yb)
        acc["wrong"] += float((logits.argmax(1) != yb).sum())
        acc["count"] += len(yb)
        epoch = step / steps_per_epoch
        end_of_epoch = step % steps_per_epoch == 0
        stop = False
        if step % log_every == 0 or end_of_epoch or step == total:
            # Running training error over the steps since the last log, as in Fig. 1 (the
            # paper plots the error of the training batches as training goes on).
            err = acc["wrong"] / acc["count"]
            run.log(step, "train", {"loss": acc["loss"] / acc["count"], "error": err}, epoch)
            run.progress(step, total, loss=loss_v, error=err)
            acc = {"loss": 0.0, "wrong": 0.0, "count": 0.0}
            stop = stop_error is not None and err <= float(stop_error)
        last = step == total or stop
        if last or (end_of_epoch and (step // steps_per_epoch) % eval_every == 0 and n_eval != 0):
            # The last evaluation covers the whole test set and (up to n_final_train_eval)
            # the training set; earlier ones the first n_eval images of each.
            k_train = s.get("n_final_train_eval") if last else n_eval
            k_test = None if last else n_eval
            for name, x, y, k in (
                ("train_eval", train_x, train_y, k_train),
                ("test", test_x, test_y, k_test),
            ):
                res = evaluate(model, x[:k], y[:k], norm)
                run.log(step, f"{name}_final" if last else name, res, epoch)
        run.maybe_checkpoint(
            step,
            lambda perm=perm, acc=acc: {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "gen": g.get_state(),
                "perm": perm,
                "acc": dict(acc),
            },
        )
        if stop:
            break


def train_classical(run: Any) -> None:
    s = run.settings
    method = s["method"]
    data = load_split(run)
    train_x, train_y = data["train_x"], data["train_y"]
    n_fit = s.get("n_fit", {}).get(method) if isinstance(s.get("n_fit"), dict) else None
    if n_fit is not None and n_fit < len(train_x):
        # The RBF SVM scales quadratically: it fits on a stated subsample of the split.
        idx = split_indices(len(train_x), int(n_fit), s.get("split_seed", 0) + 1)
        train_x, train_y = train_x[idx], train_y[idx]
    torch.set_num_threads(run.threads)
    t0 = time.perf_counter()
    feats = classical.features(method, train_x)
    clf = classical.make_classifier(method, s, int(s["seed"]))
    clf.fit(feats, train_y.numpy())
    fit_s = time.perf_counter() - t0
    test_pred = clf.predict(classical.features(method, data["test_x"]))
    test_acc = float((torch.as_tensor(test_pred) == data["test_y"]).float().mean())
    run.log(1, "test_final", {"acc": test_acc, "error": 1 - test_acc, "n_fit": len(train_x)})
    run.log(1, "timing", {"fit_s": fit_s})
    run.progress(1, 1, test_acc=test_acc)


# -- one run's summary -----------------------------------------------------------------------
SUMMARY_KEYS = (
    "error_threshold",
    "diverged",
    "epochs_to_threshold",
    "epochs_run",
    "final_running_error",
    "train_acc",
    "test_acc",
    "test_error",
    "gap",
    "n_fit",
)


def summarize_run(metrics: pd.DataFrame, settings: dict[str, Any]) -> dict[str, float]:
    """Scalars of one run: epochs to the error threshold, final accuracies and their gap.

    CNN and classical runs return the same keys (NaN where a kind has none), so that every
    summary column has one type.
    """
    out = dict.fromkeys(SUMMARY_KEYS, math.nan)
    if settings["kind"] == "classical":
        acc = last_value(metrics, "test_final", "acc")
        n_fit = last_value(metrics, "test_final", "n_fit")
        out.update(test_acc=acc, test_error=1 - acc, n_fit=n_fit)
        return out
    train_acc = last_value(metrics, "train_eval_final", "acc")
    test_acc = last_value(metrics, "test_final", "acc")
    running_error = series(metrics, "train", "error", index="epoch")
    threshold = float(settings["error_threshold"])
    out.update(
        error_threshold=threshold,
        diverged=float((metrics["metric"] == "diverged").any()),
        # The first quarter-epoch at which the running training error is at most the threshold.
        epochs_to_threshold=first_step(
            metrics, "train", "error", threshold, below=True, index="epoch"
        ),
        epochs_run=float(running_error.index.max()) if len(running_error) else math.nan,
        final_running_error=last_value(metrics, "train", "error"),
        train_acc=train_acc,
        test_acc=test_acc,
        test_error=1 - test_acc,
        gap=train_acc - test_acc,
    )
    return out
