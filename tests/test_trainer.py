"""The shared image-classification trainer (dlrepro.trainer): data, schedule, loop, options."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from dlrepro.data import images
from dlrepro.errors import UserError
from dlrepro.reproduction import Run
from dlrepro.runner import RunContext
from dlrepro.trainer import (
    SETTINGS,
    ImageData,
    crop_flip,
    load_images,
    lr_at,
    split_indices,
    train_classifier,
)

TRAINER = {
    "optimizer": "sgd",
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 0.0,
    "lr_schedule": "constant",
    "warmup_frac": 0.0,
    "final_lr_ratio": 0.0,
    "batch_size": 20,
    "epochs": 3,
}


@pytest.fixture(scope="module")
def stripes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four classes of 8×8 images, each a bright horizontal stripe at its own height."""
    g = torch.Generator().manual_seed(0)

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % 4
        x = torch.randint(0, 60, (n, 8, 8), generator=g, dtype=torch.uint8)
        for i in range(n):
            x[i, 2 * int(y[i]) : 2 * int(y[i]) + 2] = 250
        return x, y

    (tx, ty), (vx, vy) = make(120), make(40)
    path = tmp_path_factory.mktemp("data") / "stripes.pt"
    tensors = {"train_x": tx, "train_y": ty, "test_x": vx, "test_y": vy}
    images.save_prepared(path, "stripes", tensors, ["a", "b", "c", "d"], "test")
    return path


def context(tmp_path: Path, data: Path | None = None, **settings: object) -> RunContext:
    run = Run("t", "smoke", "s", "s-s0", 0, {}, {**TRAINER, **settings, "seed": 0})
    return RunContext(
        run,
        device="cpu",
        threads=1,
        datasets={"stripes": data} if data else {},
        checkpoint_path=tmp_path / "ck.pt",
        checkpoint_seconds=60.0,
        stream=io.StringIO(),
    )


def small_net(n_classes: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, n_classes)
    )


# -- data ---------------------------------------------------------------------------------------
def test_load_images_gives_a_fixed_subset_on_the_device_with_its_statistics(stripes, tmp_path):
    run = context(tmp_path, stripes)
    a = load_images(run, "stripes", n_train=50, n_test=10, split_seed=3)
    b = load_images(run, "stripes", n_train=50, n_test=10, split_seed=3)
    assert a.x_train.shape == (50, 1, 8, 8) and a.x_train.dtype == torch.uint8
    assert torch.equal(a.x_train, b.x_train) and len(a.y_test) == 10
    assert a.n_classes == 4 and a.classes == ("a", "b", "c", "d")
    z = a.normalize(a.x_train)
    assert abs(float(z.mean())) < 1e-5 and float(z.std()) == pytest.approx(1, abs=1e-3)
    assert run.data_info["stripes"]["n_train"] == 50 and run.data_info["stripes"]["sha256"]


def test_subset_and_label_hooks_choose_the_training_images_and_their_labels(stripes, tmp_path):
    run = context(tmp_path, stripes)
    data = load_images(
        run, "stripes", subset=lambda y: torch.nonzero(y < 2).flatten(), labels=lambda y: 1 - y
    )
    assert len(data.y_train) == 60 and set(data.y_train.tolist()) == {0, 1}
    part = data.subset(train=torch.arange(10), test=(torch.arange(5), torch.zeros(5).long()))
    assert len(part.x_train) == 10 and part.y_test.tolist() == [0] * 5


def test_a_dataset_the_scale_does_not_list_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="add it to the scale"):
        load_images(context(tmp_path), "stripes")


def test_split_indices_are_sorted_and_the_same_for_one_seed():
    a, b = split_indices(100, 10, 1), split_indices(100, 10, 1)
    assert torch.equal(a, b) and torch.equal(a, a.sort().values)
    assert not torch.equal(a, split_indices(100, 10, 2))
    assert torch.equal(split_indices(5, None, 0), torch.arange(5))


def test_unknown_preprocessing_is_a_user_error():
    x = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(UserError, match="standardize or subtract_mean"):
        ImageData(x, torch.zeros(2).long(), x, torch.zeros(2).long(), 2, preprocess="whiten")


# -- pieces -------------------------------------------------------------------------------------
def test_schedule_warms_up_then_decays_to_the_floor():
    lrs = [lr_at(s, 100, 1.0, "cosine", 0.05, 0.1) for s in range(1, 101)]
    assert lrs[4] == 1.0 and lrs[0] == pytest.approx(0.2)
    assert lrs[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:], strict=False))
    assert {lr_at(s, 100, 0.3) for s in range(1, 101)} == {0.3}  # constant, no warm-up


def test_augmentation_is_a_batched_tensor_op():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    out = crop_flip(pad=0, flip=True)(x, torch.Generator().manual_seed(0))
    for i in range(2):  # each image either unchanged or mirrored
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(2))
    assert crop_flip(pad=1, flip=False)(x, torch.Generator()).shape == x.shape
    assert crop_flip(pad=0, flip=False) is None


# -- the loop -----------------------------------------------------------------------------------
def test_it_learns_and_logs_curves_and_final_evaluations(stripes, tmp_path):
    run = context(tmp_path, stripes)
    out = train_classifier(run, small_net(), load_images(run, "stripes"), n_eval=20)
    assert out["test"]["acc"] > 0.9 and out["steps"] == 3 * 6 and out["epochs"] == 3
    m = run.metrics_frame()
    assert set(m["split"]) == {"train", "train_eval", "test", "train_eval_final", "test_final"}
    assert set(m[m["split"] == "train"]["metric"]) == {"loss", "error", "lr"}
    assert run.model_info["n_params"] == run.model_info["n_trainable"] == 64 * 16 + 16 + 16 * 4 + 4


def test_frozen_layers_keep_their_weights(stripes, tmp_path):
    run = context(tmp_path, stripes)
    net = small_net()
    before = net[1].weight.detach().clone()
    train_classifier(run, net, load_images(run, "stripes"), freeze=["1."])
    assert torch.equal(net[1].weight, before) and run.model_info["n_trainable"] == 16 * 4 + 4


def test_initial_weights_are_loaded_and_must_fit(stripes, tmp_path):
    run = context(tmp_path, stripes, epochs=1, lr=0.0)
    donor = small_net()
    torch.nn.init.constant_(donor[3].weight, 0.5)
    net = small_net()
    train_classifier(
        run, net, load_images(run, "stripes"), init_weights={"3.weight": donor[3].weight}
    )
    assert torch.all(net[3].weight == 0.5)
    with pytest.raises(UserError, match="do not fit"):
        train_classifier(
            context(tmp_path, stripes),
            small_net(),
            load_images(run, "stripes"),
            init_weights={"3.weight": torch.zeros(2, 2)},
        )


def test_undeclared_trainer_settings_are_named_in_one_error(stripes, tmp_path):
    run = context(tmp_path, stripes)
    for key in ("momentum", "warmup_frac"):
        del run.settings[key]
    with pytest.raises(UserError, match=r"\['momentum', 'warmup_frac'\]") as e:
        train_classifier(run, small_net(), load_images(run, "stripes"))
    assert all(key in str(e.value) for key in SETTINGS)  # the message lists what to declare


def test_a_batch_larger_than_the_training_set_is_a_user_error(stripes, tmp_path):
    run = context(tmp_path, stripes, batch_size=500)
    with pytest.raises(UserError, match="batch_size 500 exceeds"):
        train_classifier(run, small_net(), load_images(run, "stripes"))


def test_the_stop_judges_whole_running_error_windows_never_a_batch_left_over(tmp_path):
    """10 images in batches of 2 (5 steps an epoch), 2 logs an epoch. A network that always
    says class 0 gets only the two class-0 images right, and they form the epoch's last batch.
    A step-count cadence (every round(5/2) = 2 steps, plus each epoch's end) left that batch
    alone in a window at step 5, whose error 0 stopped the run; windows are now steps 1-3 and
    4-5 of each epoch, none at or below 0.1, so the run goes on to its budget."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 255, (10, 1, 2, 2), generator=g, dtype=torch.uint8)
    last_batch = torch.randperm(10, generator=torch.Generator().manual_seed(0))[8:]
    y = torch.ones(10, dtype=torch.long)
    y[last_batch] = 0
    data = ImageData(x, y, x[:4], y[:4], n_classes=2)

    def says_zero() -> torch.nn.Module:
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
        torch.nn.init.zeros_(net[1].weight)
        net[1].bias.data = torch.tensor([1.0, 0.0])
        return net

    def fit(data: ImageData, name: str) -> tuple[dict, list[int]]:
        run = context(tmp_path / name, lr=0.0, batch_size=2, epochs=2)
        out = train_classifier(
            run, says_zero(), data, stop_at_train_error=0.1, logs_per_epoch=2, n_eval=0,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
        m = run.metrics_frame()
        train = m[(m["split"] == "train") & (m["metric"] == "error")]
        return out, sorted(int(s) for s in train["step"])

    out, logged = fit(data, "lucky")
    assert out["steps"] == 10 and logged == [3, 5, 8, 10]
    # A whole window at the level still stops the run, at that window's end.
    out, logged = fit(ImageData(x, torch.zeros(10, dtype=torch.long), x[:4], y[:4], 2), "all")
    assert out["steps"] == 3 and logged == [3]
