"""One run of the transfer study: train a network on one half of the classes, optionally
starting from layers 1..n of another run's network, frozen or fine-tuned.

A run's role comes from its settings: `half` (A or B), `n` (layers copied from the weights its
sweep's `init_from` names) and `freeze`. The loop, optimizer, evaluation, checkpoints, resume
and the final weights file are the shared trainer's (dlrepro.trainer).
"""

from __future__ import annotations

import pandas as pd

from dlrepro.errors import UserError
from dlrepro.longform import last_value
from dlrepro.runner import RunContext
from dlrepro.trainer import ImageData, load_images, train_classifier

from .model import bottom_layers, build, layer_prefixes
from .split import split_classes, take_per_class

# A transferred run's fresh upper layers come from another init stream than its base run's:
# with the same seed they would start exactly where the base network's upper layers started.
TRANSFER_INIT_OFFSET = 1000


def half_of(run: RunContext, data: ImageData) -> ImageData:
    """The run's half of the classes (labels 0..4), `per_class` training images per class."""
    s = run.settings
    split_seed = run.seed if s["split_seed"] is None else s["split_seed"]
    halves = split_classes(data.n_classes, split_seed)
    classes = halves[s["half"]]
    fewest = int(data.y_train.bincount(minlength=data.n_classes)[classes].min())
    if s["per_class"] > fewest:
        raise UserError(
            f"run {run.run_id}: per_class = {s['per_class']}, but a class of half {s['half']} "
            f"has only {fewest} training images; lower per_class"
        )
    train = take_per_class(data.y_train.cpu(), classes, s["per_class"], split_seed)
    test = take_per_class(data.y_test.cpu(), classes, s["test_per_class"], split_seed)
    names = data.classes or tuple(str(c) for c in range(data.n_classes))
    run.data_info["split"] = {
        "split_seed": split_seed,
        "A": [names[c] for c in halves["A"]],
        "B": [names[c] for c in halves["B"]],
        "half": s["half"],
        "n_train": len(train[0]),
        "n_test": len(test[0]),
    }
    dev = data.x_train.device
    half = data.subset(
        train=tuple(t.to(dev) for t in train),
        test=tuple(t.to(dev) for t in test),
        n_classes=len(classes),
    )
    # Every run normalises with the whole training set's statistics: a copied first layer
    # then sees inputs on the scale it was trained on, whatever half and subset feed it.
    half.mean, half.std = data.mean, data.std
    return half


def train(run: RunContext) -> None:
    s = run.settings
    data = half_of(run, load_images(run, s["dataset"]))
    base = run.init_weights()
    n = s["n"]
    model = build(
        s,
        n_classes=data.n_classes,
        in_channels=data.x_train.shape[1],
        image_size=data.x_train.shape[-1],
        init_seed=run.seed + (TRANSFER_INIT_OFFSET if base is not None else 0),
    )
    depth = len(model.layers)
    if not 0 <= n < depth:
        raise UserError(f"run {run.run_id}: n = {n}; a {depth}-layer net copies 0..{depth - 1}")
    if n and base is None and not s["freeze"]:
        raise UserError(
            f"run {run.run_id}: n = {n} without `init_from` copies nothing; give the sweep an "
            "init_from, or set freeze: true for a frozen random-feature control"
        )
    run.model_info.update(layers=depth, copied=n if base is not None else 0, frozen=s["freeze"] * n)
    train_classifier(
        run,
        model,
        data,
        init_weights=bottom_layers(base, n) if base is not None else None,
        freeze=layer_prefixes(n) if s["freeze"] else (),
        steps=s["steps"],
        # Evaluate about every `eval_every` steps, whatever the epoch length (a 10-per-class
        # run has one step per epoch).
        eval_every_epochs=max(1, s["eval_every"] // max(1, len(data.y_train) // s["batch_size"])),
        n_eval=s["n_eval"],
        n_final_train_eval=s["n_eval"],
    )


def summarize_run(metrics: pd.DataFrame, settings: dict) -> dict[str, float]:
    """Final accuracies on B's (or A's) test images and training images, and the run's role."""
    return {
        "test_acc": last_value(metrics, "test_final", "acc"),
        "train_acc": last_value(metrics, "train_eval_final", "acc"),
        "examples_per_class": float(settings["per_class"]),
        "copied_layers": float(settings["n"]),
        "frozen": float(settings["freeze"]),
    }
