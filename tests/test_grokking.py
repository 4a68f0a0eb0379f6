"""Grokking task code: data split, models, Fourier analysis and per-run summaries."""

import math

import pandas as pd
import pytest
import torch

from reproductions.grokking import analysis, measures, task
from reproductions.grokking.data import split, table
from reproductions.grokking.model import PairMLP, PairTransformer


def test_the_table_holds_every_pair_once_with_the_right_answers():
    x, y = table(7, "sub")
    assert len(x) == 49
    assert len({tuple(r) for r in x.tolist()}) == 49
    assert all((a - b) % 7 == c for (a, b), c in zip(x.tolist(), y.tolist(), strict=True))


def test_division_skips_zero_and_inverts():
    x, y = table(7, "div")
    assert len(x) == 42
    assert all((c * b) % 7 == a for (a, b), c in zip(x.tolist(), y.tolist(), strict=True))


def test_split_sizes_follow_the_fraction_without_overlap():
    xt, yt, xv, yv = split(11, "add", 0.3, seed=0)
    assert len(xt) == round(0.3 * 121) and len(xt) + len(xv) == 121
    assert not {tuple(r) for r in xt.tolist()} & {tuple(r) for r in xv.tolist()}


def test_split_is_deterministic_per_seed_and_differs_across_seeds():
    a, b, c = split(11, "add", 0.5, 0)[0], split(11, "add", 0.5, 0)[0], split(11, "add", 0.5, 1)[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(
    "model",
    [PairMLP(13, 8, 16), PairTransformer(13, d_model=16, n_heads=2, d_mlp=32, n_layers=2)],
)
def test_models_map_pairs_to_logits_over_p(model):
    x = torch.randint(0, 13, (5, 2))
    assert model(x).shape == (5, 13)
    assert model.token_embedding().shape[0] == 13


def test_fourier_norms_put_a_pure_cosine_at_its_frequency():
    p, k = 13, 4
    a = torch.arange(p, dtype=torch.float64)
    emb = torch.stack([torch.cos(2 * math.pi * k * a / p), torch.sin(2 * math.pi * k * a / p)], 1)
    norms = analysis.fourier_norms(emb)
    assert len(norms) == 6
    assert norms.argmax().item() == k - 1
    assert analysis.top_share(norms, 1) == pytest.approx(1.0)


def test_top_share_of_a_flat_spectrum_is_k_over_n():
    assert analysis.top_share([1.0] * 10, 3) == pytest.approx(0.3)


def metrics_of(rows):
    return pd.DataFrame(rows, columns=["step", "split", "metric", "value"])


def test_summary_finds_the_first_crossing_steps_and_the_norm_drop():
    rows = []
    for step, tr, va, norm in [
        (0, 0.0, 0.0, 10),
        (10, 1.0, 0.1, 12),
        (20, 1.0, 0.5, 11),
        (30, 1.0, 0.995, 9),
    ]:
        rows += [
            (step, "train", "acc", tr),
            (step, "val", "acc", va),
            (step, "model", "weight_norm", norm),
        ]
        rows += [(step, "embed", f"fourier_k{k:03d}", 1.0) for k in range(1, 9)]
    s = task.summarize_run(metrics_of(rows), {"fourier_top_k": 4, "frac": 0.5})
    assert s["steps_train_99"] == 10 and s["steps_val_99"] == 30
    assert s["delay_ratio"] == 3
    assert s["norm_drop"] == pytest.approx(1 - 9 / 12)
    assert s["fourier_top_share_final"] == pytest.approx(0.5)


def test_more_data_faster_counts_a_run_that_never_generalized_as_slowest():
    summary = pd.DataFrame(
        {"frac": [0.3, 0.5, 0.7], "steps_val_99": [math.nan, 800, 300], "seed": [0, 0, 0]}
    )
    m = measures.faster_with_more_data(summary)
    assert m.value == 1.0


# -- the training loop under the engine ---------------------------------------------------------
def tiny_run(**settings):
    from dlrepro.paths import REPRODUCTIONS
    from dlrepro.reproduction import Run, load

    defaults = load(REPRODUCTIONS / "grokking").spec["defaults"]
    tiny = {"p": 7, "d_embed": 8, "hidden": 16, "steps": 40, "eval_every": 10}
    s = {**defaults, **tiny, **settings, "seed": 0}
    return Run("grokking", "smoke", "wd", "wd-s0", 0, {}, s)


def run_tiny(tmp_path, run, checkpoint_seconds=60.0):
    from types import SimpleNamespace

    from dlrepro.runner import run_in_folder

    tmp_path.mkdir(exist_ok=True)
    with open(tmp_path / "log.txt", "a") as log:
        status = run_in_folder(
            SimpleNamespace(task=task),
            run,
            tmp_path,
            checkpoint_seconds=checkpoint_seconds,
            stream=log,
        )
    return status, pd.read_parquet(tmp_path / "metrics.parquet")


@pytest.mark.parametrize("stop_after_val,last_step", [(0.0, 1), (0.5, 2), (1.0, 2), (None, 40)])
def test_a_run_stops_stop_after_val_times_its_step_after_val_acc_reaches_99(
    tmp_path, monkeypatch, stop_after_val, last_step
):
    # Validation accuracy is 100% from the first evaluation on (step 1, a Fourier step).
    monkeypatch.setattr(task, "_eval", lambda model, x, y: (0.1, 1.0))
    status, m = run_tiny(tmp_path, tiny_run(stop_after_val=stop_after_val))
    assert status == "completed" and m["step"].max() == last_step
    assert (m[m["split"] == "embed"]["step"].max()) == last_step  # a spectrum at the end


def test_a_negative_stop_after_val_is_refused_before_training(tmp_path):
    from dlrepro.errors import UserError

    with pytest.raises(UserError, match="stop_after_val"):
        run_tiny(tmp_path, tiny_run(stop_after_val=-0.5))


def test_a_killed_run_resumes_to_the_same_metrics(tmp_path, monkeypatch):
    run = tiny_run(batch_size=8)  # minibatches: the batch generator must be restored too
    _, whole = run_tiny(tmp_path / "a", run)
    real_eval = task._eval
    calls = []

    def crash_mid_run(model, x, y):
        calls.append(1)
        if len(calls) > 2 * 10:  # the 11th evaluation (two calls each), about step 10
            raise RuntimeError("killed")
        return real_eval(model, x, y)

    (tmp_path / "b").mkdir()
    monkeypatch.setattr(task, "_eval", crash_mid_run)
    status, _ = run_tiny(tmp_path / "b", run, checkpoint_seconds=0.0)
    assert status == "failed" and (tmp_path / "b" / "checkpoint.pt").exists()
    monkeypatch.setattr(task, "_eval", real_eval)
    _, resumed = run_tiny(tmp_path / "b", run, checkpoint_seconds=0.0)
    assert "resumed from checkpoint" in (tmp_path / "b" / "log.txt").read_text()
    cols = [c for c in whole.columns if c != "elapsed_s"]
    pd.testing.assert_frame_equal(whole[cols], resumed[cols])
