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


def test_the_mlp_computes_relu_of_the_hidden_layer_on_the_concatenated_pair_embedding():
    # The forward looks up per-token products of the embedding and the hidden weights; it must
    # be the textbook MLP on [E[a]; E[b]], in value and in every parameter's gradient.
    torch.manual_seed(0)
    model = PairMLP(13, 8, 16).double()
    x, y = torch.randint(0, 13, (40, 2)), torch.randint(0, 13, (40,))

    def textbook(m):
        return m.out(torch.relu(m.hidden(m.embed(x).flatten(1))))

    def value_and_grads(forward):
        model.zero_grad()
        logits = forward(model)
        torch.nn.functional.cross_entropy(logits, y).backward()
        return logits.detach(), [q.grad.clone() for q in model.parameters()]

    ours, g_ours = value_and_grads(lambda m: m(x))
    ref, g_ref = value_and_grads(textbook)
    assert torch.allclose(ours, ref, atol=1e-12)
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(g_ours, g_ref, strict=True))


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


def test_summary_finds_the_crossing_steps_the_norm_window_and_the_share_gain():
    rows = []
    for step, tr, va, norm, top in [
        (0, 0.0, 0.0, 10, 1.0),
        (10, 1.0, 0.1, 12, 1.0),
        (20, 1.0, 0.5, 11, 1.0),
        (30, 1.0, 0.995, 9, 3.0),
    ]:
        rows += [
            (step, "train", "acc", tr),
            (step, "val", "acc", va),
            (step, "model", "weight_norm", norm),
        ]
        # 8 frequencies; from step 30 on the first carries 3× the norm of each other one.
        rows += [(step, "embed", f"fourier_k{k:03d}", top if k == 1 else 1.0) for k in range(1, 9)]
    s = task.summarize_run(metrics_of(rows), {"fourier_top_k": 1, "frac": 0.5})
    assert s["steps_train_99"] == 10 and s["steps_val_99"] == 30
    assert s["delay_ratio"] == 3
    assert s["norm_at_train_99"] == 12 and s["norm_window_fall"] == pytest.approx(1 - 9 / 12)
    assert s["fourier_top_share_memorized"] == pytest.approx(1 / 8)
    assert s["fourier_top_share_final"] == pytest.approx(9 / 16)
    assert s["fourier_share_gain"] == pytest.approx(9 / 16 - 1 / 8)
    assert math.isnan(s["neuron_single_freq_final"])  # no MLP neurons logged here


def test_more_data_faster_counts_a_run_that_never_generalized_as_slowest():
    summary = pd.DataFrame(
        {"frac": [0.3, 0.5, 0.7], "steps_val_99": [math.nan, 800, 300], "seed": [0, 0, 0]}
    )
    m = measures.faster_with_more_data(summary)
    assert m.value == 1.0


def test_more_data_faster_rests_on_the_seeds_every_fraction_ran():
    summary = pd.DataFrame(
        {
            "frac": [0.5, 0.5, 0.5, 0.6, 0.7],
            "steps_val_99": [900, 1000, 950, 700, 500],
            "seed": [0, 1, 2, 0, 0],
        }
    )
    m = measures.faster_with_more_data(summary)
    assert m.value == 1.0 and m.seeds == [0]
    assert m.details["seed_spread_steps_val_99"]["0.5"] == 100


def wd_and_none(none_steps, none_budget, wd_steps=(1000, 1200, 1100)):
    wd = [
        {"run_id": f"wd-s{i}", "sweep": "wd", "seed": i, "steps_val_99": t, "budget_steps": 1.2 * t}
        for i, t in enumerate(wd_steps)
    ]
    none = [
        {
            "run_id": f"none-s{i}",
            "sweep": "none",
            "seed": i,
            "steps_val_99": t,
            "budget_steps": none_budget,
        }
        for i, t in enumerate(none_steps)
    ]
    return pd.DataFrame(wd + none)


def test_weight_decay_speedup_is_the_factor_when_the_unregularized_run_generalizes():
    m = measures.speedup_over(wd_and_none([2200], 8000), "none", ["wd"], decisive_above=3)
    assert m.value == pytest.approx(2.0)  # 2200 / median 1100: under 3, not reproduced


def test_a_budget_too_short_to_show_the_factor_is_inconclusive_and_a_long_one_decides():
    short = measures.speedup_over(wd_and_none([math.nan], 3000), "none", ["wd"], decisive_above=3)
    assert short.value is None and "only known to exceed" in short.reason
    long = measures.speedup_over(wd_and_none([math.nan], 4000), "none", ["wd"], decisive_above=3)
    assert long.value == pytest.approx(4000 / 1100) and "budget bound" in long.reason


def test_a_censored_seed_that_cannot_move_the_median_leaves_it_exact():
    rows = wd_and_none([1650, 1540, math.nan], 2000)
    m = measures.speedup_over(rows, "none", ["wd"], decisive_above=3)
    assert m.value == pytest.approx(1650 / 1100)  # exact even though one seed is censored


def norm_metrics(run_id, norms):
    return pd.DataFrame(
        [
            {"run_id": run_id, "step": s, "split": "model", "metric": "weight_norm", "value": v}
            for s, v in norms.items()
        ]
    )


def test_the_norm_fall_is_compared_with_the_unregularized_run_over_the_same_window():
    rows = pd.DataFrame(
        [
            {
                "run_id": "wd-s0",
                "sweep": "wd",
                "seed": 0,
                "steps_train_99": 100.0,
                "steps_val_99": 300.0,
                "norm_window_fall": 0.4,
            },
            {
                "run_id": "none-s0",
                "sweep": "none",
                "seed": 0,
                "steps_train_99": 100.0,
                "steps_val_99": math.nan,
                "norm_window_fall": math.nan,
            },
        ]
    )
    metrics = norm_metrics("none-s0", {0: 10.0, 100: 20.0, 200: 21.0, 300: 22.0, 400: 23.0})
    m = measures.norm_fall_vs(rows, metrics, ["wd"], "none")
    assert m.value == pytest.approx(0.4 - (1 - 22 / 20))  # the control's norm rose 10%
    short = norm_metrics("none-s0", {0: 10.0, 100: 20.0, 200: 21.0})
    assert measures.norm_fall_vs(rows, short, ["wd"], "none").value is None


def test_grokking_delay_counts_a_run_that_never_generalized_as_no_grokking():
    rows = pd.DataFrame(
        [
            {"run_id": "l1-s0", "seed": 0, "steps_val_95": 3000.0, "steps_train_99": 200.0},
            {"run_id": "l1-s1", "seed": 1, "steps_val_95": math.nan, "steps_train_99": 200.0},
        ]
    )
    m = measures.grokking_delay(rows, "steps_val_95", "steps_train_99")
    assert m.per_seed == {0: 15.0, 1: 0.0} and m.value == 7.5
    assert m.details["never_generalized"] == ["l1-s1"]


def test_neurons_reading_one_frequency_each_count_as_tuned_and_random_ones_do_not():
    p, d = 13, 4
    model = PairMLP(p, d_embed=d, hidden=6)
    a = torch.arange(p, dtype=torch.float32)
    with torch.no_grad():
        # Embedding columns: cos and sin of frequencies 2 and 5; each neuron reads one pair.
        model.embed.weight.copy_(
            torch.stack(
                [
                    torch.cos(2 * math.pi * 2 * a / p),
                    torch.sin(2 * math.pi * 2 * a / p),
                    torch.cos(2 * math.pi * 5 * a / p),
                    torch.sin(2 * math.pi * 5 * a / p),
                ],
                1,
            )
        )
        w = torch.zeros(6, 2 * d)
        w[:3, 0], w[:3, 1] = 1.0, 0.5
        w[3:, 2], w[3:, 3] = 0.3, 1.0
        model.hidden.weight.copy_(w)
    tuned = analysis.single_frequency_share(model)
    assert tuned == {"power_weighted": pytest.approx(1.0), "count": 1.0}
    torch.manual_seed(0)
    random = analysis.single_frequency_share(PairMLP(97, 128, 256))
    assert random["count"] == 0.0 and random["power_weighted"] == 0.0


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
