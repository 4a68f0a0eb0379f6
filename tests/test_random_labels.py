"""Random labels (Zhang et al. 2017): label corruption, randomized inputs, the networks, the
claims' measures on hand-made summary tables, and the reproduction through the CLI."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from dlrepro.claims import judge
from dlrepro.data import images
from dlrepro.paths import REPRODUCTIONS
from dlrepro.reproduction import Run, load
from dlrepro.runner import RunContext
from dlrepro.trainer import ImageData
from reproductions.random_labels import task
from reproductions.random_labels.measures import MEASURES
from reproductions.random_labels.model import build_model, n_params

N_TRAIN, N_TEST = 2000, 500


@pytest.fixture(scope="module")
def repro():
    return load(REPRODUCTIONS / "random_labels")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared 'fashion_mnist' file of random images with balanced labels."""
    g = torch.Generator().manual_seed(0)
    tensors = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        tensors[f"{split}_x"] = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
        tensors[f"{split}_y"] = torch.arange(10).repeat(n // 10)
    path = tmp_path_factory.mktemp("data") / "fashion_mnist.pt"
    images.save_prepared(path, "fashion_mnist", tensors, images.FASHION_CLASSES, "synthetic")
    return path


def _context(repro, prepared: Path, tmp_path: Path, seed: int = 0, **settings) -> RunContext:
    run = repro.run("smoke", "mlp-corruption1-s0")
    resolved = {**run.settings, "n_train": None, "n_test": None, **settings, "seed": seed}
    run = Run(**{**run.__dict__, "seed": seed, "settings": resolved})
    return RunContext(
        run,
        device="cpu",
        threads=1,
        datasets={"fashion_mnist": prepared},
        checkpoint_path=tmp_path / "ckpt.pt",
        checkpoint_seconds=1e9,
        stream=io.StringIO(),
    )


def _prepare(repro, prepared, tmp_path, seed=0, **settings) -> tuple[ImageData, dict]:
    return task.prepare_data(_context(repro, prepared, tmp_path, seed, **settings))


def _true(prepared: Path) -> dict[str, torch.Tensor]:
    return images.load_prepared(prepared)


# -- label corruption ------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.0, 0.3, 1.0])
def test_corruption_makes_exactly_the_fraction_wrong_in_training_labels_only(
    repro, prepared, tmp_path, fraction
):
    data, info = _prepare(repro, prepared, tmp_path, corruption=fraction, noise_mode="wrong")
    true = _true(prepared)
    wrong = int((data.y_train != true["train_y"]).sum())
    assert wrong == round(fraction * N_TRAIN)  # "wrong" mode: every chosen label changes
    assert info["corrupted_fraction"] == pytest.approx(fraction)
    assert info["labels_changed"] == pytest.approx(fraction)
    assert torch.equal(data.y_test, true["test_y"])
    assert torch.equal(data.x_train.squeeze(1), true["train_x"])
    assert torch.equal(data.x_test.squeeze(1), true["test_x"])


def test_zhangs_uniform_redraw_chooses_the_exact_fraction_and_keeps_about_a_tenth_of_them(
    repro, prepared, tmp_path
):
    data, info = _prepare(repro, prepared, tmp_path, corruption=0.5, noise_mode="uniform")
    changed = int((data.y_train != _true(prepared)["train_y"]).sum())
    assert info["corrupted_fraction"] == 0.5
    assert 0.85 * 1000 <= changed <= 0.95 * 1000  # 1,000 redrawn, ~1/10 land on the true class
    assert info["labels_changed"] == changed / N_TRAIN


def test_fully_random_labels_agree_with_the_true_ones_only_at_chance(repro, prepared, tmp_path):
    data, _ = _prepare(repro, prepared, tmp_path, corruption=1.0, noise_mode="uniform")
    agreement = float((data.y_train == _true(prepared)["train_y"]).float().mean())
    assert abs(agreement - 0.1) < 0.03  # 2,000 labels: sd 0.007


def test_corrupted_labels_are_the_same_for_a_seed_and_differ_between_seeds(
    repro, prepared, tmp_path
):
    a, _ = _prepare(repro, prepared, tmp_path, seed=0, corruption=0.4)
    b, _ = _prepare(repro, prepared, tmp_path, seed=0, corruption=0.4)
    c, _ = _prepare(repro, prepared, tmp_path, seed=1, corruption=0.4)
    assert torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.y_train, c.y_train)


def test_a_lower_fraction_corrupts_a_subset_of_the_examples_a_higher_one_does(
    repro, prepared, tmp_path
):
    true = _true(prepared)["train_y"]
    low, _ = _prepare(repro, prepared, tmp_path, corruption=0.2, noise_mode="wrong")
    high, _ = _prepare(repro, prepared, tmp_path, corruption=0.6, noise_mode="wrong")
    low_set = set((low.y_train != true).nonzero().flatten().tolist())
    high_set = set((high.y_train != true).nonzero().flatten().tolist())
    assert low_set < high_set


def test_the_labels_of_a_seed_do_not_depend_on_the_inputs(repro, prepared, tmp_path):
    real, _ = _prepare(repro, prepared, tmp_path, corruption=1.0)
    noise, _ = _prepare(repro, prepared, tmp_path, corruption=1.0, inputs="gaussian")
    assert torch.equal(real.y_train, noise.y_train)


def test_a_corruption_outside_zero_to_one_is_refused_before_training(repro, prepared, tmp_path):
    with pytest.raises(Exception, match="must lie in"):
        _prepare(repro, prepared, tmp_path, corruption=1.5)


# -- randomized inputs (Fig. 1a) and cropping ------------------------------------------------


def _distinct_images(n: int = 6) -> ImageData:
    """4x4 images whose 16 pixels are all different, shifted per image."""
    x = torch.stack([torch.arange(16, dtype=torch.uint8).view(1, 4, 4) * 10 + i for i in range(n)])
    y = torch.arange(n) % 10
    return ImageData(x_train=x, y_train=y, x_test=x[:2].clone(), y_test=y[:2], n_classes=10)


def _orders(x: torch.Tensor) -> list[list[int]]:
    """Where each image's pixels came from (pixel values encode their original position)."""
    return [((img.flatten().long() - i) // 10).tolist() for i, img in enumerate(x)]


def test_shuffled_pixels_apply_one_permutation_to_every_training_and_test_image():
    data = _distinct_images()
    out = task.randomize_inputs(data, "shuffled_pixels", torch.Generator().manual_seed(0))
    orders = _orders(out.x_train) + _orders(out.x_test)
    assert orders[0] != list(range(16))
    assert all(o == orders[0] for o in orders)
    assert torch.equal(out.y_train, data.y_train)


def test_random_pixels_permute_each_image_differently_keeping_its_pixels():
    data = _distinct_images()
    out = task.randomize_inputs(data, "random_pixels", torch.Generator().manual_seed(0))
    orders = _orders(out.x_train)
    assert all(sorted(o) == list(range(16)) for o in orders)
    assert len({tuple(o) for o in orders}) == len(orders)


def _unlabelled(x: torch.Tensor) -> ImageData:
    zeros = torch.zeros(len(x), dtype=torch.int64)
    return ImageData(x_train=x, y_train=zeros, x_test=x, y_test=zeros, n_classes=10)


def test_gaussian_inputs_match_the_training_images_mean_and_std():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 200, (400, 1, 8, 8), generator=g, dtype=torch.uint8)
    data = _unlabelled(x)
    out = task.randomize_inputs(data, "gaussian", g)
    assert out.x_train.dtype == torch.float32
    assert float(out.x_train.mean()) == pytest.approx(float(x.float().mean()), rel=0.02)
    assert float(out.x_train.std()) == pytest.approx(float(x.float().std()), rel=0.02)
    assert not torch.equal(out.x_train, out.x_test)


def test_unknown_inputs_are_refused_naming_the_choices():
    with pytest.raises(Exception, match="gaussian"):
        task.randomize_inputs(_distinct_images(), "noise", torch.Generator())


def test_centre_crop_keeps_the_middle_pixels():
    x = torch.arange(36, dtype=torch.uint8).view(1, 1, 6, 6).repeat(2, 1, 1, 1)
    data = _unlabelled(x)
    out = task.centre_crop(data, 2)
    assert out.x_train[0, 0].tolist() == [[14, 15], [20, 21]]


def _table1_parameters(repro) -> dict[str, int]:
    ref = repro.reference()
    rows = ref[ref["y_label"] == "parameters"]
    return {str(r.series): int(r.y) for r in rows.itertuples()}


def test_paper_scale_networks_on_28x28_crops_have_table_1s_parameter_counts(repro):
    published = _table1_parameters(repro)
    s = repro.run("paper", "mlp-corruption0-s0").settings
    assert n_params(build_model(s, (3, 28, 28), 10, 0)) == published["MLP 1x512"]
    three = {**s, "hidden": [512, 512, 512]}
    assert n_params(build_model(three, (3, 28, 28), 10, 0)) == published["MLP 3x512"]
    cnn = repro.run("paper", "cnn-corruption0-s0").settings
    assert n_params(build_model(cnn, (3, 28, 28), 10, 0)) == published["small AlexNet"]


def test_cpu_scale_nets_have_the_papers_parameters_per_training_image(repro):
    """Sizes chosen so that memorizing is as hard per example as in Table 1 (within 10%)."""
    published = _table1_parameters(repro)
    pairs = (("mlp-corruption1-s0", "MLP 1x512"), ("cnn-corruption1-s0", "small AlexNet"))
    for run_id, paper in pairs:
        s = repro.run("cpu", run_id).settings
        ours = n_params(build_model(s, (1, 28, 28), 10, 0)) / s["n_train"]
        assert ours == pytest.approx(published[paper] / 50_000, rel=0.1), run_id


# -- training stops once the labels are fitted -----------------------------------------------


def test_a_run_stops_once_its_running_training_accuracy_reaches_the_fit_level(
    repro, prepared, tmp_path
):
    ctx = _context(
        repro, prepared, tmp_path, corruption=0.0, n_train=200, hidden=[64], lr=0.05,
        batch_size=50, epochs=200, fit_train_acc=0.9,
    )  # fmt: skip
    task.train(ctx)
    metrics = ctx.metrics_frame()
    summary = task.summarize_run(metrics, ctx.settings)
    assert summary["fitted"] == 1.0
    assert summary["epochs_to_fit"] == summary["epochs_run"] < 200
    # Judged on whole epochs (logs_per_epoch 1), never on a window of a few batches.
    assert summary["epochs_to_fit"] == int(summary["epochs_to_fit"])
    assert summary["train_acc"] >= 0.9  # eval mode, all training images, after the stop
    assert summary["n_params"] == 784 * 64 + 64 + 64 * 10 + 10
    assert summary["train_images"] == 200


# -- the claims on hand-made summary tables --------------------------------------------------


def _rows(sweep: str, per_fraction: dict[float, list[tuple]], budget: float = 600) -> pd.DataFrame:
    """Summary rows: per corruption fraction, one (epochs_to_fit, train_acc, test_acc) per seed;
    epochs None means never fitted."""
    rows = []
    for frac, runs in per_fraction.items():
        for seed, (epochs, train_acc, test_acc) in enumerate(runs):
            rows.append(
                {
                    "run_id": f"{sweep}-corruption{frac:g}-s{seed}",
                    "sweep": sweep,
                    "seed": seed,
                    "status": "completed",
                    "corruption": frac,
                    "epochs_to_fit": math.nan if epochs is None else float(epochs),
                    "epoch_budget": budget,
                    "train_acc": train_acc,
                    "test_acc": test_acc,
                    "train_images": 16800.0,
                }
            )
    return pd.DataFrame(rows)


def _judge(repro, claim_id: str, rows: pd.DataFrame) -> dict:
    claim = next(c for c in repro.claims if c["id"] == claim_id)
    need = repro.seeds_per_point("cpu", claim["sweeps"], None)
    empty = pd.DataFrame(columns=["run_id"])
    params = repro.swept_params("cpu")
    return judge(claim, rows, empty, MEASURES, min_seeds=need, params=params)


FITTED = (
    {0.0: [(50, 0.995, 0.86), (52, 0.994, 0.85)],
     0.2: [(70, 0.993, 0.80), (72, 0.995, 0.79)],
     0.4: [(85, 0.992, 0.66), (90, 0.993, 0.65)],
     0.6: [(100, 0.994, 0.48), (98, 0.992, 0.50)],
     0.8: [(110, 0.991, 0.29), (112, 0.993, 0.30)],
     1.0: [(119, 0.992, 0.102), (121, 0.991, 0.094)]}
)  # fmt: skip


def _with(table: dict, fraction: float, runs: list[tuple]) -> dict:
    return {**table, fraction: runs}


CASES = {
    "mlp_fits_random_labels": (
        FITTED,
        _with(FITTED, 1.0, [(119, 0.992, 0.10), (None, 0.97, 0.10)]),
    ),
    "mlp_random_labels_test_at_chance": (
        FITTED,
        _with(FITTED, 1.0, [(119, 0.992, 0.102), (121, 0.991, 0.125)]),
    ),
    "fit_time_rises": (
        FITTED,
        {f: [(60 + s, 0.99, 0.5), (75 - s, 0.99, 0.5)] for s, f in enumerate(FITTED)},
    ),
    "mlp_random_vs_true_factor": (
        FITTED,
        _with(FITTED, 1.0, [(None, 0.5, 0.1), (None, 0.5, 0.1)]),  # never: ratio >= 600/51
    ),
}


@pytest.mark.parametrize("claim_id", sorted(CASES))
def test_each_claim_is_reproduced_on_a_table_that_shows_it_and_not_on_one_that_does_not(
    repro, claim_id
):
    shows, does_not = CASES[claim_id]
    assert _judge(repro, claim_id, _rows("mlp", shows))["verdict"] == "reproduced"
    assert _judge(repro, claim_id, _rows("mlp", does_not))["verdict"] == "not reproduced"


def test_random_labels_fitting_faster_than_true_ones_is_not_the_claim(repro):
    faster = _with(FITTED, 1.0, [(40, 0.99, 0.1), (41, 0.99, 0.1)])
    row = _judge(repro, "mlp_random_vs_true_factor", _rows("mlp", faster))
    assert row["verdict"] == "not reproduced" and row["measured"] < 1


def test_never_fitting_within_a_budget_under_ten_times_true_labels_is_inconclusive(repro):
    never = _with(FITTED, 1.0, [(None, 0.6, 0.1), (None, 0.6, 0.1)])
    row = _judge(repro, "mlp_random_vs_true_factor", _rows("mlp", never, budget=400))
    assert row["verdict"] == "inconclusive" and "at least 7.84" in row["reason"]


def test_the_cnn_claims_are_judged_on_the_cnn_sweep(repro):
    cnn = {0.0: [(60, 0.995, 0.85)], 0.5: [(90, 0.993, 0.5)], 1.0: [(130, 0.994, 0.104)]}
    rows = _rows("cnn", cnn)
    for claim_id in ("cnn_fits_random_labels", "cnn_random_labels_test_at_chance",
                     "cnn_random_vs_true_factor"):  # fmt: skip
        assert _judge(repro, claim_id, rows)["verdict"] == "reproduced", claim_id
    slow = _rows("cnn", {**cnn, 1.0: [(None, 0.9, 0.1)]}, budget=700)
    assert _judge(repro, "cnn_fits_random_labels", slow)["verdict"] == "not reproduced"
    assert _judge(repro, "cnn_random_vs_true_factor", slow)["verdict"] == "not reproduced"


def test_a_diverged_run_counts_as_never_fitting_in_the_fit_time_trend(repro):
    rows = _rows("mlp", FITTED)
    rows.loc[rows["run_id"] == "mlp-corruption0-s0", "status"] = "diverged"
    row = _judge(repro, "fit_time_rises", rows)
    details = json.loads(row["details_json"])
    assert details["median_epochs_by_corruption"]["0"] == math.inf
    assert row["verdict"] == "not reproduced"  # the slowest "run" now sits at corruption 0


def test_the_informative_claims_report_a_value_without_a_verdict(repro):
    linear = pd.DataFrame(
        [
            {"run_id": f"linear-ntrain{n}-s0", "sweep": "linear", "seed": 0,
             "status": "completed", "corruption": None, "train_acc": acc,
             "test_acc": 0.1, "train_images": float(n)}
            for n, acc in ((4000, 0.45), (16800, 0.29))
        ]
    )  # fmt: skip
    row = _judge(repro, "linear_control", linear)
    assert row["verdict"] == "inconclusive" and row["measured"] == 0.45
    row = _judge(repro, "true_labels_generalize", _rows("mlp", FITTED))
    assert row["verdict"] == "inconclusive" and row["measured"] == pytest.approx(0.855)


# -- the reproduction through the CLI --------------------------------------------------------


@pytest.mark.workflow
@pytest.mark.skipif(
    not images.DEBIAN_FASHION_MNIST.is_dir(),
    reason="needs Fashion-MNIST: apt-get install -y dataset-fashion-mnist",
)
def test_random_labels_runs_at_smoke_scale_through_the_cli(smoke_all):
    # the whole pipeline at smoke scale, run through the CLI once per session (conftest)
    out = smoke_all.workdir / "results" / "smoke" / "random_labels"
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs["status"]) == {"completed"} and len(runs) == 8
    summary = pd.read_parquet(out / "summary.parquet")
    random = summary[summary["run_id"] == "mlp-corruption1-s0"].iloc[0]
    assert random["corrupted_fraction"] == 1.0 and 0.8 < random["labels_changed"] < 1.0
    assert (summary["n_params"] > 0).all()
    claims = pd.read_parquet(out / "claims.parquet")
    assert set(claims["claim_id"]) == {
        c["id"] for c in load(REPRODUCTIONS / "random_labels").claims
    }
    for fig in ("fit_time", "accuracy", "curves"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
