"""The scaling reproduction's model counts, run plan, schedule and measures."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dlrepro.longform import reference_value
from dlrepro.models import gpt
from dlrepro.reproduction import check_task, load
from reproductions.scaling import fits as sfits
from reproductions.scaling import lm, measures

REPRO = Path(__file__).resolve().parents[1] / "reproductions" / "scaling"


@pytest.mark.parametrize("n_layer,d", [(1, 16), (2, 64), (4, 128)])
def test_parameter_count_matches_the_module_and_the_hand_formula(n_layer, d):
    model = gpt.GPT(gpt.GPTConfig(n_layer=n_layer, d_model=d))
    # By hand: per layer QKV 3d²+3d, out-proj d²+d, MLP 4d²+4d and 4d²+d, two LayerNorms 4d;
    # final LayerNorm 2d. Embeddings (256·d tokens, 128·d positions) are not counted.
    hand = n_layer * (3 * d * d + 3 * d + d * d + d + 4 * d * d + 4 * d + 4 * d * d + d + 4 * d)
    hand += 2 * d
    assert model.counts()["n_params"] == hand == gpt.non_embedding_params(n_layer, d)
    assert model.counts()["n_params_total"] == hand + 256 * d + 128 * d
    assert gpt.kaplan_params(n_layer, d) == 12 * n_layer * d * d
    assert hand / gpt.kaplan_params(n_layer, d) == pytest.approx(1, abs=0.1)


def test_flops_per_token_by_hand():
    cfg = gpt.GPTConfig(n_layer=2, d_model=64, n_ctx=128)
    N = 2 * (12 * 64**2 + 13 * 64) + 2 * 64  # 100,096
    assert gpt.flops_per_token(cfg, attention=False) == 6 * N
    assert gpt.flops_per_token(cfg) == 6 * N + 6 * 2 * 128 * 64  # Kaplan Table 1, ×3
    assert gpt.flops_per_token(cfg, embedding=True) == 6 * N + 6 * 2 * 128 * 64 + 6 * 64 * 256


def test_parse_shape():
    assert gpt.parse_shape("4x128") == (4, 128)
    with pytest.raises(ValueError):
        gpt.parse_shape("4-128")


def test_gpt_is_causal():
    model = gpt.GPT(gpt.GPTConfig(n_layer=1, d_model=16, n_ctx=8))
    model.init_weights(torch.Generator().manual_seed(0))
    x = torch.randint(0, 256, (1, 8))
    y = x.clone()
    y[0, 5] = (y[0, 5] + 1) % 256
    with torch.no_grad():
        assert torch.allclose(model(x)[0, :5], model(y)[0, :5])


PLAN = {
    "model": "2x64",
    "n_ctx": 128,
    "batch_size": 16,
    "flops": None,
    "flops_count": "total",
    "tokens": 0,
    "min_tokens_per_param": None,
    "subset_tokens": None,
    "max_steps": 0,
    "lr": 0.01,
}


def test_plan_isoflop_run_counts_kaplans_way_or_chinchillas():
    p = lm.plan({**PLAN, "flops": 1e12, "flops_count": "non_embedding"})
    assert p["N"] == 100_096 and p["N_total"] == 100_096 + (256 + 128) * 64
    assert p["D"] % 2048 == 0 and p["D"] == p["steps"] * 2048
    assert p["C"] == pytest.approx(1e12, rel=2048 * 6 * p["N"] / 1e12)
    total = lm.plan({**PLAN, "flops": 1e12})  # C = 6 · N_total · D
    assert total["C_total"] == pytest.approx(1e12, rel=2048 * 6 * total["N_total"] / 1e12)
    assert total["D"] < p["D"]
    assert lm.kaplan_lr(1e6, [0.003, 0.0001]) == pytest.approx(0.003 - 0.0001 * math.log(1e6))


def test_plan_gives_large_models_at_least_the_declared_tokens_per_parameter():
    p = lm.plan({**PLAN, "tokens": 2048 * 10, "min_tokens_per_param": 20})
    assert p["D"] == pytest.approx(20 * p["N_total"], abs=2048)
    assert lm.plan({**PLAN, "tokens": 2048 * 10})["D"] == 2048 * 10


def test_an_unknown_flops_count_is_refused():
    from dlrepro.errors import UserError

    with pytest.raises(UserError, match="flops_count"):
        lm.plan({**PLAN, "flops": 1e12, "flops_count": "bytes"})


def _summary(N, L, C, sweep):
    return pd.DataFrame(
        {
            "run_id": [f"{sweep}{i}" for i in range(len(N))],
            "sweep": sweep,
            "seed": 0,
            "status": "completed",
            "N": N,
            "loss": L,
            "C_budget": C,
            "N_total": np.asarray(N) + 1000.0,
            "D": np.asarray(C) / 6 / np.asarray(N),
        }
    )


def test_isoflop_measures_on_synthetic_profiles():
    rows = []
    for i, C in enumerate([1e10, 1e11, 1e12]):
        opt = math.sqrt(C / 120)  # 20 tokens per parameter
        N = opt * np.geomspace(0.1, 10, 5)
        rows.append(_summary(N, 2.0 + 0.1 * np.log10(N / opt) ** 2, [C] * 5, f"iso{i}"))
    rows = pd.concat(rows, ignore_index=True)
    assert measures.isoflop_u_fraction(rows, n="N").value == 1.0
    m = measures.isoflop_exponent(rows, n="N", also="N_total")
    assert m.value == pytest.approx(0.5, abs=1e-6)
    assert m.details["a_N_total"] < 0.5  # a fixed 1,000 embedding parameters flatten it
    assert measures.tokens_per_param(rows, n="N").value == pytest.approx(20, rel=1e-6)
    balance = measures.allocation_balance(rows, n="N")
    assert balance.value == pytest.approx(0.0, abs=1e-6) and balance.details["b"] == pytest.approx(
        0.5, abs=1e-6
    )


def test_allocation_balance_is_one_minus_twice_a():
    rows = []
    for i, C in enumerate([1e10, 1e11, 1e12]):
        opt = 3.0 * C**0.7  # a = 0.7
        N = opt * np.geomspace(0.1, 10, 5)
        rows.append(_summary(N, 2.0 + 0.1 * np.log10(N / opt) ** 2, [C] * 5, f"iso{i}"))
    m = measures.allocation_balance(pd.concat(rows, ignore_index=True), n="N")
    assert m.value == pytest.approx(abs(1 - 2 * 0.7), abs=1e-6)


def test_the_isoflop_exponent_carries_its_t_interval_and_the_balance_follows_it():
    # optima off the line N_opt = C^0.5 by x1.3, /1.3, x1.3: a = 0.5 with scatter
    rows = []
    for i, (C, jitter) in enumerate(zip([1e10, 1e11, 1e12], [1.3, 1 / 1.3, 1.3], strict=True)):
        opt = jitter * math.sqrt(C / 120)
        N = opt * np.geomspace(0.1, 10, 5)
        rows.append(_summary(N, 2.0 + 0.1 * np.log10(N / opt) ** 2, [C] * 5, f"iso{i}"))
    rows = pd.concat(rows, ignore_index=True)
    m = measures.isoflop_exponent(rows, n="N")
    lo, hi = m.interval
    # 3 budgets leave 1 degree of freedom: t(0.975, 1) = 12.71 standard errors either side
    assert hi - m.value == pytest.approx(12.706 * m.details["a_se"], rel=1e-3)
    assert lo < 0.5 < hi
    balance = measures.allocation_balance(rows, n="N")
    # a's interval spans 0.5, where |1 - 2a| is 0: the balance's interval starts at 0
    assert balance.interval == (0.0, pytest.approx(max(abs(1 - 2 * lo), abs(1 - 2 * hi))))


def test_the_power_law_exponent_carries_the_fits_95_percent_interval():
    N = np.geomspace(3e3, 3e5, 6)
    rows = _summary(
        N, 9.0 * N**-0.3 * np.array([1.02, 0.98, 1.01, 0.99, 1.02, 0.98]), [1.0] * 6, "ln"
    )
    m = measures.power_law_exponent(rows, x="N", y="loss")
    assert m.interval == (m.details["pure"]["alpha_ci_low"], m.details["pure"]["alpha_ci_high"])
    assert m.interval[0] < m.value < m.interval[1]


def test_optimum_at_the_edge_is_inconclusive():
    N = np.geomspace(1e3, 1e5, 5)
    rows = pd.concat(
        [
            _summary(N, 3.0 - 0.1 * np.log10(N) + 0.01 * i, [C] * 5, f"iso{i}")
            for i, C in enumerate([1e10, 1e11, 1e12])
        ],
        ignore_index=True,
    )
    m = measures.tokens_per_param(rows)
    assert m.value is None and "outside the sampled sizes" in m.reason
    assert measures.isoflop_u_fraction(rows).value == 0.0
    assert measures.allocation_balance(rows).value is None


def test_power_law_measures():
    N = np.geomspace(3e3, 3e5, 6)
    rows = _summary(N, 1.2 + 9.0 * N**-0.3, [1.0] * 6, "ln")
    m = measures.power_law_r2(rows, x="N", y="loss")
    assert m.value > 0.99 and m.details["fit"]["alpha"] == pytest.approx(0.3, abs=0.02)
    assert measures.monotone_fraction(rows, x="N", y="loss").value == 1.0
    bumpy = _summary(N, [3.0, 2.9, 2.95, 2.8, 2.7, 2.6], [1.0] * 6, "ln")
    assert measures.monotone_fraction(bumpy, x="N", y="loss").value == pytest.approx(0.8)


def test_reproduction_file_and_task_agree():
    repro = load(REPRO)
    check_task(repro)
    cpu = repro.runs("cpu")
    ln = [r for r in cpu if r.sweep == "ln"]
    Ns = [lm.plan(r.settings)["N"] for r in ln]
    assert len(ln) >= 6 and math.log10(max(Ns) / min(Ns)) >= 1.5
    Ds = [lm.plan(r.settings)["D"] for r in cpu if r.sweep == "ld"]
    assert math.log10(max(Ds) / min(Ds)) >= 1.5
    assert len({r.sweep for r in cpu if r.sweep.startswith("isoflop")}) >= 3
    n = [r.settings["n_train"] for r in cpu if r.sweep == "vision"]
    assert math.log10(max(n) / min(n)) >= 1.5


class StopError(Exception):
    pass


def _context(tmp_path, settings, corpus, ckpt_seconds):
    import io

    from dlrepro.reproduction import Run
    from dlrepro.runner import RunContext

    run = Run("scaling", "smoke", "t", "t-s0", 0, {}, settings, ("corpus",))
    return RunContext(
        run,
        device="cpu",
        threads=1,
        datasets={"corpus": corpus},
        checkpoint_path=tmp_path / "ck.pt",
        checkpoint_seconds=ckpt_seconds,
        stream=io.StringIO(),
    )


def lm_settings() -> dict:
    """A tiny LM run's settings (every key the task reads)."""
    return {
        "task": "lm",
        "model": "1x8",
        "tokens": 12 * 4 * 16,
        "flops": None,
        "n_ctx": 16,
        "batch_size": 4,
        "lr": 0.01,
        "warmup_frac": 0.1,
        "final_lr_ratio": 0.1,
        "weight_decay": 0.1,
        "beta2": 0.95,
        "grad_clip": 1.0,
        "n_evals": 3,
        "n_train_logs": 4,
        "eval_seqs": 8,
        "eval_seqs_quick": 4,
        "flops_count": "total",
        "min_tokens_per_param": None,
        "subset_tokens": None,
        "max_steps": 0,
        "warmup_steps": 2,
        "es_eval_every": 2,
        "es_patience": 2,
        "es_eval_seqs": 4,
        "es_min_steps": 0,
        "seed": 3,
    }


def small_corpus(tmp_path):
    from dlrepro.data import text

    src = tmp_path / "corpus.txt"
    src.write_bytes(b"".join(f"line {i}: x = {i * i}\n".encode() for i in range(3000)))
    corpus = tmp_path / "corpus.pt"
    text.prepare_corpus(corpus, {"corpus": str(src)})
    return corpus


@pytest.mark.parametrize("min_steps,stopped_at", [(0, 4), (20, 20)])
def test_early_stopping_waits_for_es_min_steps(tmp_path, min_steps, stopped_at):
    """A run whose validation loss never improves (learning rate 0) stops after `es_patience`
    evaluations without a new best, but not before `es_min_steps`: an L(D) run must not end
    on the plateau a byte-level model sits on before it learns."""
    settings = lm_settings()
    settings.update(
        subset_tokens=64 * 16, max_steps=40, lr=0.0, es_patience=1, es_min_steps=min_steps
    )
    torch.manual_seed(0)
    ctx = _context(tmp_path, settings, small_corpus(tmp_path), 1e9)
    lm.train(ctx)
    final = ctx.metrics_frame().query("split == 'final'").set_index("metric")["value"]
    assert final["stopped_at"] == stopped_at and final["best_step"] == 2


@pytest.mark.parametrize("subset", [None, 64 * 16])
def test_resumed_run_gives_identical_metrics(tmp_path, subset):
    """Stop a run after step 7 (with a checkpoint every step), resume it in a fresh context:
    every metric except elapsed_s equals that of an uninterrupted run with the same seed.
    `subset`: an early-stopped L(D) run, whose best weights must survive the restart too."""
    corpus = small_corpus(tmp_path)
    settings = lm_settings()
    if subset:
        settings.update(subset_tokens=subset, max_steps=40, lr=0.05)
    torch.manual_seed(0)
    whole = _context(tmp_path / "a", settings, corpus, 1e9)
    lm.train(whole)

    first = _context(tmp_path / "b", settings, corpus, 0.0)

    def stop_after(step, total, **kw):
        if step == 7:
            raise StopError

    first.progress = stop_after
    with pytest.raises(StopError):
        lm.train(first)
    torch.manual_seed(123)  # global RNG state must not matter
    second = _context(tmp_path / "b", settings, corpus, 0.0)
    lm.train(second)
    a = whole.metrics_frame().drop(columns="elapsed_s")
    b = second.metrics_frame().drop(columns="elapsed_s")
    pd.testing.assert_frame_equal(a, b)
    assert (b["split"] == "final").any()


# -- the finding's own fits (reproductions/scaling/fits.py) ------------------------------------
def test_isoflop_parabola_finds_the_optimum():
    N = np.geomspace(1e4, 1e6, 5)
    L = 2.0 + 0.3 * (np.log10(N) - np.log10(8e4)) ** 2
    f = sfits.fit_isoflop(N, L)
    assert f.n_opt == pytest.approx(8e4, rel=1e-6)
    assert f.loss_opt == pytest.approx(2.0)
    assert f.u_shaped and f.interior


def test_isoflop_monotone_profile_is_not_u_shaped():
    N = np.geomspace(1e4, 1e6, 5)
    f = sfits.fit_isoflop(N, 3.0 - 0.1 * np.log10(N) + 0.001 * np.log10(N) ** 2)
    assert not f.u_shaped  # the fitted vertex lies far outside the sampled sizes


def test_nopt_exponent_from_isoflop_profiles():
    """Profiles generated from a known N_opt ∝ C^0.5 give a = 0.5 back."""
    budgets = [1e11, 1e12, 1e13]
    n_opts = []
    for C in budgets:
        true_opt = 0.09 * C**0.5
        N = true_opt * np.geomspace(0.1, 10, 5)
        n_opts.append(sfits.fit_isoflop(N, 2 + 0.2 * np.log10(N / true_opt) ** 2).n_opt)
    e = sfits.fit_exponent(budgets, n_opts)
    assert e.a == pytest.approx(0.5, abs=1e-6)
    assert e.k == pytest.approx(0.09, rel=1e-4)


def test_parametric_fit_recovers_chinchilla_like_law():
    truth = sfits.ParametricFit(E=1.8, A=400.0, B=800.0, alpha=0.35, beta=0.3)
    N = np.repeat(np.geomspace(1e4, 1e7, 6), 5)
    D = np.tile(np.geomspace(1e6, 1e9, 5), 6)
    got = sfits.fit_parametric(N, D, truth.predict(N, D))
    assert got.alpha == pytest.approx(0.35, abs=0.03)
    assert got.beta == pytest.approx(0.3, abs=0.03)
    assert got.a == pytest.approx(truth.a, abs=0.03)


def test_published_constants_in_the_reference_imply_their_exponents():
    ref = load(REPRO).reference()
    chinchilla = sfits.published_fit(ref, "approach3")
    besiroglu = sfits.published_fit(ref, "besiroglu")
    assert chinchilla.a == pytest.approx(0.45, abs=0.01)  # β/(α+β) = 0.28/0.62
    assert besiroglu.a == pytest.approx(reference_value(ref, "a_besiroglu"), abs=1e-3)
    # Besiroglu's refit puts the optimum near Chinchilla's 20 tokens per parameter.
    assert 10 < besiroglu.tokens_per_param(5.76e23) < 40


def test_an_ld_run_stops_early_and_reports_its_best_weights_on_the_subset(tmp_path):
    corpus = small_corpus(tmp_path)
    settings = {
        **lm_settings(),
        "subset_tokens": 32 * 16,  # 32 sequences, repeated: the model overfits them fast
        "max_steps": 400,
        "lr": 0.05,
        "weight_decay": 0.0,
    }
    ctx = _context(tmp_path, settings, corpus, 1e9)
    torch.manual_seed(0)
    lm.train(ctx)
    m = ctx.metrics_frame()
    final = m[m["split"] == "final"].set_index("metric")["value"]
    assert final["early_stopped"] == 1 and final["best_step"] < final["stopped_at"] < 400
    assert final["subset_tokens"] == 32 * 16
    s = lm.summarize(m, settings)
    assert s["D"] == 32 * 16 and s["epochs_at_best"] == final["best_step"] / 8
