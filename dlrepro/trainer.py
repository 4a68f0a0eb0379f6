"""One image-classification trainer for every finding that trains a classifier on images.

A task loads its images, builds its model and hands both over; the trainer owns the loop,
the optimizer and learning-rate schedule (from the run's settings), batching, augmentation,
evaluation, the train/test curves, checkpoints and resume:

    from dlrepro.trainer import load_images, train_classifier

    def train(run):
        data = load_images(run, "fashion_mnist")            # uint8 tensors on run.device
        model = MyNet(data.n_classes)                       # any nn.Module: images -> logits
        train_classifier(run, model, data)

    # reproduction.yaml, under defaults: (the settings train_classifier reads)
    #   optimizer: sgd        # sgd | adam | adamw
    #   lr: 0.01              # peak learning rate
    #   momentum: 0.9         # sgd only
    #   weight_decay: 0.0
    #   lr_schedule: constant # constant | cosine (to final_lr_ratio × lr at the last step)
    #   warmup_frac: 0.0      # linear warm-up over this fraction of the steps
    #   final_lr_ratio: 0.0
    #   batch_size: 128
    #   epochs: 5

What it logs (dlrepro.longform reads it back), `epoch` = step / steps per epoch:
    train             loss, error, lr: running means over the steps since the last log,
                      `logs_per_epoch` times an epoch (the error of the batches as trained,
                      dropout on, as the papers' training curves show it). Each epoch is cut
                      into `logs_per_epoch` windows of near-equal length (⌊steps per epoch /
                      logs_per_epoch⌋ batches or one more), the last ending with the epoch;
                      with a `steps` budget the last log also closes a shorter window
    train_eval, test  loss, acc, error in eval mode on the first `n_eval` training and test
                      images, every `eval_every_epochs` epochs (n_eval=0: never)
    train_eval_final, test_final
                      the same after the last step, on all test images and the first
                      `n_final_train_eval` training images (None: all)
The run's final weights are the model's (the trainer registers it with the RunContext).

Data stays on the device as uint8 (N, C, H, W) tensors; a batch is an index into them,
normalised on the fly: no DataLoader, no worker processes. Each epoch is a fresh permutation
from the run's generator, cut into n // batch_size batches (the remainder is dropped).

Options of `train_classifier` (keyword arguments; a reproduction that wants one as a setting
passes `run.settings[...]`): `augment` (a function (x, generator) -> x on normalised batches,
e.g. `crop_flip(pad=4, flip=True)`), `init_weights` (a state_dict, or part of one, loaded
before training, e.g. `run.init_weights()`), `freeze` (parameter-name prefixes not trained;
parameters with requires_grad False are never trained either), `steps` (the budget in
optimizer steps instead of `epochs`), `stop_at_train_error` (stop once a whole running-error
window is at most this; the shorter last window of a `steps` budget never stops a run,
it ends it anyway), the cadence options above,
`generator` (the run's batch-order and augmentation RNG), `settings_prefix` (read
`<prefix>lr` etc., for a reproduction whose other runs use those names for something else)
and `at_start` (called once before the first step of a fresh run, not after a resume: log
the initial network there).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F

from dlrepro.data import load_prepared
from dlrepro.errors import UserError
from dlrepro.runner import RunContext, RunningMeans

# What train_classifier reads from run.settings; each must be declared in the yaml defaults.
SETTINGS = {
    "optimizer": "sgd | adam | adamw",
    "lr": "peak learning rate",
    "momentum": "SGD momentum (unused by adam and adamw)",
    "weight_decay": "L2 penalty (sgd, adam) or decoupled weight decay (adamw)",
    "lr_schedule": "constant | cosine",
    "warmup_frac": "linear warm-up over this fraction of the steps (0: none)",
    "final_lr_ratio": "cosine ends at this fraction of lr",
    "batch_size": "images per step",
    "epochs": "passes over the training images",
}
EVAL_BATCH = 1000
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


# -- data ------------------------------------------------------------------------------------
def split_indices(n_total: int, n: int | None, split_seed: int) -> torch.Tensor:
    """A fixed random subset of `n` indices, sorted (all if None); the same for every run
    with the same `split_seed`."""
    if n is None or n >= n_total:
        return torch.arange(n_total)
    g = torch.Generator().manual_seed(int(split_seed))
    return torch.randperm(n_total, generator=g)[:n].sort().values


@dataclass
class ImageData:
    """A run's images: uint8 (N, C, H, W) and int64 labels, on one device.

    `normalize` maps a uint8 batch to the network's input: minus the per-channel mean of the
    training images, divided by their std (`standardize`) or by 1 (`subtract_mean`: 0–255
    pixels minus their mean, as AlexNet §2 fed its net).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    classes: tuple[str, ...] = ()
    preprocess: str = "standardize"
    mean: torch.Tensor = field(init=False, repr=False)
    std: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        x = self.x_train.float()
        self.mean = x.mean(dim=(0, 2, 3), keepdim=True)
        if self.preprocess == "standardize":
            self.std = x.std(dim=(0, 2, 3), keepdim=True)
        elif self.preprocess == "subtract_mean":
            self.std = torch.ones_like(self.mean)
        else:
            raise UserError(f"preprocess = {self.preprocess!r}; use standardize or subtract_mean")

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / self.std

    def subset(
        self,
        train: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
        test: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
        n_classes: int | None = None,
    ) -> ImageData:
        """The same data with only the `train` / `test` indices kept (None: all); a pair
        (indices, labels) also replaces the labels. Normalisation statistics are those of the
        training images kept."""

        def pick(x: torch.Tensor, y: torch.Tensor, sel: Any) -> tuple[torch.Tensor, ...]:
            if sel is None:
                return x, y
            idx, labels = sel if isinstance(sel, tuple) else (sel, y[sel])
            return x[idx], labels

        x_train, y_train = pick(self.x_train, self.y_train, train)
        x_test, y_test = pick(self.x_test, self.y_test, test)
        return replace(
            self,
            x_train=x_train,
            y_train=y_train,
            x_test=x_test,
            y_test=y_test,
            n_classes=self.n_classes if n_classes is None else n_classes,
        )


def load_images(
    run: RunContext,
    name: str,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    split_seed: int = 0,
    preprocess: str = "standardize",
    subset: Callable[[torch.Tensor], torch.Tensor] | None = None,
    labels: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> ImageData:
    """The prepared dataset `name` (declared in the scale's `datasets`) on the run's device.

    Training images: `subset(all training labels) -> indices` if given, else a fixed random
    `n_train` of them (`split_seed`; None: all). Test images: a fixed random `n_test` (None:
    all). `labels(training labels) -> labels` then replaces the training labels (label noise,
    random labels). What was read goes into the run record.
    """
    path = run.datasets[name]
    blob = load_prepared(path)
    x_train, y_train, x_test, y_test = (blob[k] for k in ("train_x", "train_y", "test_x", "test_y"))
    train_idx = subset(y_train) if subset else split_indices(len(x_train), n_train, split_seed)
    test_idx = split_indices(len(x_test), n_test, split_seed)
    x_train, y_train = x_train[train_idx], y_train[train_idx]
    x_test, y_test = x_test[test_idx], y_test[test_idx]
    if labels is not None:
        y_train = labels(y_train)
    if x_train.ndim == 3:  # grayscale: add the channel dimension
        x_train, x_test = x_train.unsqueeze(1), x_test.unsqueeze(1)
    run.data_info[name] = {
        "path": str(path),
        "sha256": blob["sha256"],
        "source": blob["source"],
        "n_train": len(x_train),
        "n_test": len(x_test),
    }
    dev = run.device
    classes = tuple(blob["classes"])
    return ImageData(
        x_train=x_train.to(dev),
        y_train=y_train.to(dev),
        x_test=x_test.to(dev),
        y_test=y_test.to(dev),
        n_classes=len(classes) or int(y_train.max()) + 1,
        classes=classes,
        preprocess=preprocess,
    )


# -- pieces ----------------------------------------------------------------------------------
def lr_at(
    step: int,
    total: int,
    peak: float,
    schedule: str = "constant",
    warmup_frac: float = 0.0,
    final_ratio: float = 0.0,
) -> float:
    """The learning rate of step `step` (1..total): a linear warm-up over
    max(1, ⌈warmup_frac·total⌉) steps, then `peak` (constant) or a cosine from `peak` down to
    `final_ratio`·peak at the last step (cosine)."""
    warmup = max(1, math.ceil(warmup_frac * total))
    if step <= warmup:
        return peak * step / warmup
    if schedule == "constant":
        return peak
    if schedule != "cosine":
        raise UserError(f"lr_schedule = {schedule!r}; use constant or cosine")
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def crop_flip(pad: int, flip: bool) -> Augment | None:
    """Random crops (zero padding `pad`) and horizontal flips, as batched tensor ops; None
    when both are off."""
    if not pad and not flip:
        return None

    def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
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

    return augment


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    normalize: Callable[[torch.Tensor], torch.Tensor],
) -> dict[str, float]:
    """Loss, accuracy and error in eval mode (dropout off) over `x`, in large batches."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(x), EVAL_BATCH):
        logits = model(normalize(x[i : i + EVAL_BATCH]))
        yb = y[i : i + EVAL_BATCH]
        loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    model.train(was_training)
    return {"loss": loss_sum / len(x), "acc": correct / len(x), "error": 1 - correct / len(x)}


def make_optimizer(
    params: Sequence[torch.nn.Parameter], s: Mapping[str, Any]
) -> torch.optim.Optimizer:
    """The optimizer the settings name, at the peak learning rate."""
    kind = s["optimizer"]
    if kind == "sgd":
        return torch.optim.SGD(
            params, lr=s["lr"], momentum=s["momentum"], weight_decay=s["weight_decay"]
        )
    if kind == "adam":
        return torch.optim.Adam(params, lr=s["lr"], weight_decay=s["weight_decay"])
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=s["lr"], weight_decay=s["weight_decay"])
    raise UserError(f"optimizer = {kind!r}; use sgd, adam or adamw")


def _settings(run: RunContext, prefix: str) -> dict[str, Any]:
    missing = [prefix + k for k in SETTINGS if prefix + k not in run.settings]
    if missing:
        lines = "; ".join(f"{prefix}{k}: {SETTINGS[k]}" for k in SETTINGS)
        raise UserError(
            f"run {run.run_id} trains with dlrepro.trainer, which reads settings {missing} "
            f"that reproduction.yaml does not declare; add them under `defaults:` ({lines})"
        )
    return {k: run.settings[prefix + k] for k in SETTINGS}


def _load_init(model: torch.nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Copy the given entries (all or some of a state_dict) into `model`, checking names and
    shapes: a mismatch is a mistake, not something to skip silently."""
    own = model.state_dict()
    unknown = sorted(set(weights) - set(own))
    wrong = sorted(k for k in weights if k in own and weights[k].shape != own[k].shape)
    if unknown or wrong:
        raise UserError(
            f"the initial weights do not fit the model: unknown {unknown[:5]}, "
            f"shape differs {wrong[:5]}; start from a run of the same architecture"
        )
    model.load_state_dict(dict(weights), strict=False)


# -- the loop --------------------------------------------------------------------------------
def train_classifier(
    run: RunContext,
    model: torch.nn.Module,
    data: ImageData,
    *,
    augment: Augment | None = None,
    init_weights: Mapping[str, torch.Tensor] | None = None,
    freeze: Sequence[str] = (),
    steps: int | None = None,
    stop_at_train_error: float | None = None,
    logs_per_epoch: int = 4,
    eval_every_epochs: int = 1,
    n_eval: int | None = 2000,
    n_final_train_eval: int | None = None,
    generator: torch.Generator | None = None,
    settings_prefix: str = "",
    at_start: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Train `model` on `data` with cross-entropy; return the final evaluations (`test`,
    `train_eval`: loss, acc, error), the steps run and the epochs reached."""
    s = _settings(run, settings_prefix)
    dev = run.device
    # On CPU, channels-last convolution weights (4-d tensors only; nothing else changes): the
    # convolutions, and above all max pooling, run 1.1-1.8x faster per step than over NCHW
    # (bench/bench_cnn.py); the values are the same up to float rounding. GPUs keep the
    # default layout: there it was not measured.
    layout = torch.channels_last if dev.type == "cpu" else torch.preserve_format
    model.to(dev, memory_format=layout)
    if init_weights is not None:
        _load_init(model, init_weights)
    for name, p in model.named_parameters():
        if any(name.startswith(prefix) for prefix in freeze):
            p.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(trainable, s)
    n, bs = len(data.x_train), int(s["batch_size"])
    steps_per_epoch = n // bs
    if steps_per_epoch < 1:
        raise UserError(
            f"run {run.run_id}: batch_size {bs} exceeds the {n} training images; lower it"
        )
    total = int(steps) if steps is not None else int(s["epochs"]) * steps_per_epoch
    if logs_per_epoch < 1:
        raise UserError(f"logs_per_epoch = {logs_per_epoch!r}; use 1 or more")
    # Running-error windows end at these batch positions (1..steps_per_epoch) of every epoch:
    # the epoch cut into logs_per_epoch near-equal windows, so the stop never judges a window
    # of one or two batches left over between a step-count cadence and the epoch's end.
    window_ends = {
        max(1, (2 * k * steps_per_epoch + logs_per_epoch) // (2 * logs_per_epoch))
        for k in range(1, logs_per_epoch + 1)
    }
    # Batch order and augmentation come from this generator; dropout uses torch's global
    # RNG, which the runner seeds and checkpoints.
    g = torch.Generator(device=dev).manual_seed(run.seed) if generator is None else generator
    order: dict[str, torch.Tensor | None] = {"perm": None}  # this epoch's permutation
    train_means = RunningMeans()
    run.model_info.update(
        n_params=sum(p.numel() for p in model.parameters()),
        n_trainable=sum(p.numel() for p in trainable),
    )
    run.register(model=model, optimizer=opt, generators=[g], order=order, train_means=train_means)
    start = run.resume()
    if start == 1 and at_start is not None:
        at_start()  # a fresh start: e.g. log what the initial network looks like
    model.train()
    step, epoch, final = start - 1, (start - 1) / steps_per_epoch, {}
    for step in range(start, total + 1):
        pos = (step - 1) % steps_per_epoch
        if pos == 0:
            order["perm"] = torch.randperm(n, generator=g, device=g.device).to(dev)
        idx = order["perm"][pos * bs : (pos + 1) * bs]
        xb = data.normalize(data.x_train[idx])
        if augment is not None:
            xb = augment(xb, g)
        yb = data.y_train[idx]
        lr = lr_at(step, total, s["lr"], s["lr_schedule"], s["warmup_frac"], s["final_lr_ratio"])
        for group in opt.param_groups:
            group["lr"] = lr
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_v = loss.item()
        run.check_finite(loss=loss_v)
        wrong = float((logits.argmax(1) != yb).sum())
        train_means.add(len(yb), loss=loss_v * len(yb), error=wrong)
        epoch = step / steps_per_epoch
        end_of_epoch = step % steps_per_epoch == 0
        window_end = pos + 1 in window_ends
        stop = False
        if window_end or step == total:
            means = train_means.pop()
            run.log(step, "train", {**means, "lr": lr}, epoch)
            run.progress(step, total, loss=loss_v, error=means["error"])
            stop = (
                window_end
                and stop_at_train_error is not None
                and means["error"] <= stop_at_train_error
            )
        else:  # the run's length and ETA every step (printed every few seconds at most), so a
            # preflight knows the length after its first steps, not at the first log
            run.progress(step, total)
        last = step == total or stop
        due = end_of_epoch and (step // steps_per_epoch) % eval_every_epochs == 0
        if last or (due and n_eval != 0):
            # The last evaluation covers all test images (and n_final_train_eval training
            # images); the periodic ones the first n_eval of each.
            k_train = n_final_train_eval if last else n_eval
            k_test = None if last else n_eval
            suffix = "_final" if last else ""
            for split, x, y, k in (
                ("train_eval", data.x_train, data.y_train, k_train),
                ("test", data.x_test, data.y_test, k_test),
            ):
                res = evaluate(model, x[:k], y[:k], data.normalize)
                run.log(step, split + suffix, res, epoch)
                final[split] = res
        run.maybe_checkpoint(step)
        if stop:
            break
    return {**final, "steps": step, "epochs": epoch}
