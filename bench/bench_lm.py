"""Language-model training speed: the engine's loop against a bare torch loop, the FLOP/s it
reaches, and where the step's time goes.

    .venv/bin/python bench/bench_lm.py [--model 2x64] [--steps 80] [--threads 1] [--rounds 11]

For one GPT shape of the scaling reproduction at batch 16 x 128 bytes:
* seconds for reproductions/scaling's `lm.train` under the engine's run_job (metrics,
  progress, checkpoint checks, record, weights) and for a bare loop doing the same science
  (same corpus, model, initialisation, optimizer groups, data order, schedule, clipping and
  final evaluation). Target: engine/bare speed >= 0.95.
* achieved FLOP/s, counted as 6N (Kaplan), with the attention term, and with the output
  layer too, as a fraction of this machine's fp32 matmul FLOP/s measured in the same rounds;
* the bare step's time by kind of operation (torch.profiler, self time): what the matmul
  ceiling leaves out.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DEFAULT_ROUNDS,
    Report,
    Series,
    bare_process_state,
    engine_run,
    engine_speed,
    interleave,
)

from dlrepro import reproduction  # noqa: E402
from dlrepro.data import text  # noqa: E402
from dlrepro.models.gpt import GPT, flops_per_token  # noqa: E402
from dlrepro.paths import REPRODUCTIONS  # noqa: E402
from dlrepro.trainer import lr_at  # noqa: E402
from reproductions.scaling import lm  # noqa: E402

# The bench times training: no evaluation during the run, a one-sequence final evaluation.
# One evaluation of one sequence, and exactly `--steps` steps: the ln sweep this copies from
# gives each model at least 20 bytes per parameter, which at 2x64 is ~1,000 steps a round.
OVERRIDES = {"n_evals": 1, "eval_seqs": 1, "eval_seqs_quick": 1, "min_tokens_per_param": None}

# Profiler op names by kind, for the time breakdown (self CPU time of each op).
KINDS = {
    "matmul (mm, addmm, bmm)": ("aten::mm", "aten::addmm", "aten::bmm"),
    "attention kernel (SDPA)": ("aten::_scaled_dot_product",),
    "optimizer (AdamW) and grad clipping": (
        "Optimizer.",
        "aten::_fused_adamw",
        "aten::_foreach",
        "aten::lerp",
        "aten::addcdiv",
        "aten::addcmul",
        "aten::sqrt",
        "aten::linalg_vector_norm",
        "aten::norm",
    ),
    "LayerNorm": ("aten::native_layer_norm",),
    "GELU": ("aten::gelu",),
    "softmax + cross-entropy": ("aten::_log_softmax", "aten::nll_loss"),
    "embedding lookup and its gradient": ("aten::embedding", "aten::index"),
    "copies, fills and adds": ("aten::copy_", "aten::fill_", "aten::add", "aten::zero_"),
}


def bare_loop(s: dict, corpus: Path, threads: int, steps_hook=None) -> float:
    """Seconds for lm.train's science without the engine (no metrics, progress, checks,
    checkpoints, record)."""
    bare_process_state(threads, s["seed"])
    t0 = time.perf_counter()
    c = text.load_corpus(corpus)
    data, val = c["train"], c["val"]
    p = lm.plan(s)
    cfg, steps, B, T = p["cfg"], p["steps"], s["batch_size"], s["n_ctx"]
    model = GPT(cfg)
    model.init_weights(torch.Generator().manual_seed(s["seed"]))
    decay = [q for q in model.parameters() if q.ndim >= 2]
    no_decay = [q for q in model.parameters() if q.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": s["weight_decay"]}, {"params": no_decay}],
        lr=p["lr"],
        betas=(0.9, s["beta2"]),
        weight_decay=0.0,
        fused=True,  # as lm._optimizer
    )
    g = torch.Generator().manual_seed(s["seed"] + 7919)
    span = len(data) - T - 1
    start = int(torch.randint(0, span, (1,), generator=g))
    offsets = (start + torch.arange(steps * B) * T) % span
    offsets = offsets[torch.randperm(steps * B, generator=g)]
    ar = torch.arange(T + 1)
    for step in range(1, steps + 1):
        lr = lr_at(step, steps, p["lr"], "cosine", s["warmup_frac"], s["final_lr_ratio"])
        for group in opt.param_groups:
            group["lr"] = lr
        batch = data[offsets[(step - 1) * B : step * B, None] + ar].long()
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), s["grad_clip"])
        opt.step()
        loss.item()
        if steps_hook is not None:
            steps_hook(step)
    lm.evaluate(model, val, s["eval_seqs"], T, B)
    return time.perf_counter() - t0


def time_by_kind(s: dict, corpus: Path, threads: int, n: int = 10) -> dict[str, float]:
    """Shares of the bare loop's self CPU time by kind of op, over `n` profiled steps."""
    from torch.profiler import ProfilerActivity, profile, schedule

    short = {**s, "tokens": (n + 5) * s["batch_size"] * s["n_ctx"]}
    captured = []
    with profile(
        activities=[ProfilerActivity.CPU],
        schedule=schedule(wait=0, warmup=5, active=n, repeat=1),
        on_trace_ready=lambda p: captured.append(p.key_averages()),
    ) as prof:
        bare_loop(short, corpus, threads, steps_hook=lambda step: prof.step())
    events = captured[0]
    total = sum(e.self_cpu_time_total for e in events)
    shares = dict.fromkeys(KINDS, 0.0)
    for e in events:
        for kind, prefixes in KINDS.items():
            if e.key.startswith(prefixes):
                shares[kind] += e.self_cpu_time_total / total
                break
    shares["everything else (autograd, views, Python)"] = 1 - sum(shares.values())
    return shares


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="2x64")
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    ap.add_argument("--corpus", type=Path, default=None, help="a prepared corpus.pt")
    args = ap.parse_args()
    repro = reproduction.load(REPRODUCTIONS / "scaling")
    proto = next(r for r in repro.runs("cpu") if r.settings["task"] == "lm")
    s = {**proto.settings, **OVERRIDES, "model": args.model, "flops": None}
    s["tokens"] = args.steps * s["batch_size"] * s["n_ctx"]
    run = dataclasses.replace(proto, run_id="bench", settings=s, params={})
    report = Report("bench_lm")
    report.section(f"GPT {args.model}, batch {s['batch_size']} x {s['n_ctx']} bytes", args.threads)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        corpus = args.corpus
        if corpus is None:
            corpus = tmp / "corpus.pt"
            text.prepare_corpus(corpus, {"corpus": None})
        engine_run(repro, run, args.threads, tmp / "warm", {"corpus": corpus})  # warm-up

        def engine() -> float:
            return engine_run(repro, run, args.threads, tmp / "e", {"corpus": corpus}).seconds

        times, ceiling = interleave(
            args.rounds,
            args.threads,
            {"engine": engine, "bare": lambda: bare_loop(s, corpus, args.threads)},
        )
        shares = time_by_kind(s, corpus, args.threads)
    p = lm.plan(s)
    tokens, cfg = p["D"], p["cfg"]
    for name in ("bare", "engine"):
        ms = Series([1000 * t / p["steps"] for t in times[name].values])
        report.figure(f"{name} loop", f"{ms.median:6.1f} ms/step ({ms.spread('.1f')})", ceiling)
    engine_speed(report, "LM ", times, ceiling)
    tps = tokens / times["engine"].median
    for name, fpt in (
        ("6N", 6.0 * p["N"]),
        ("6N+attention", flops_per_token(cfg)),
        ("6N+attention+output layer", flops_per_token(cfg, embedding=True)),
    ):
        report.figure(
            f"engine FLOP/s counted as {name}",
            f"{tps * fpt / 1e9:6.1f} GFLOP/s = {tps * fpt / 1e9 / ceiling.median:.1%} of matmul",
            ceiling,
        )
    print("   where the bare step's time goes (profiler, self CPU time):")
    for kind, share in shares.items():
        print(f"     {share:6.1%}  {kind}")
    report.finish()


if __name__ == "__main__":
    main()
