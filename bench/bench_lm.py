"""Language-model training speed: the engine's loop against a bare torch loop, and FLOP/s.

    .venv/bin/python bench/bench_lm.py [--model 2x64] [--steps 80] [--threads 1] [--repeats 3]

Reports, for one GPT shape at batch 16 × 128 bytes:
* tokens/s of reproductions/scaling's `lm.train` driven by the engine's RunContext (metrics,
  progress, checkpoint checks, the final evaluation made negligible) and of a bare loop with
  the same model, optimizer, schedule and batches; their ratio should be ≥ 0.95;
* achieved FLOP/s, counted as 6N (Kaplan), with the attention term, and with the output layer
  too, as a fraction of this machine's fp32 matmul FLOP/s measured on the spot.
Each variant runs `repeats` times, interleaved, and the fastest is kept: the machine is shared,
so the minimum is the best estimate of the code's own speed.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlrepro.data import text  # noqa: E402
from dlrepro.models.gpt import GPT, flops_per_token  # noqa: E402
from dlrepro.reproduction import Run  # noqa: E402
from dlrepro.runner import RunContext  # noqa: E402
from reproductions.scaling import lm  # noqa: E402


def matmul_flops(threads: int, n: int = 1024, reps: int = 10) -> float:
    """fp32 matmul FLOP/s (2n³ per product), best of `reps`."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def settings(model: str, steps: int) -> dict:
    return {
        "task": "lm",
        "model": model,
        "tokens": steps * 16 * 128,
        "flops": None,
        "n_ctx": 128,
        "batch_size": 16,
        "lr": "kaplan",
        "lr_scale": 3.0,
        "warmup_frac": 0.05,
        "final_lr_ratio": 0.1,
        "weight_decay": 0.1,
        "beta2": 0.95,
        "grad_clip": 1.0,
        "n_evals": 1,  # no evaluation during the run
        "n_train_logs": 50,
        "eval_seqs": 1,  # a one-sequence final evaluation: the bench times training
        "eval_seqs_quick": 1,
        "seed": 0,
    }


def engine_loop(s: dict, corpus: Path, tmp: Path, threads: int) -> float:
    torch.set_num_threads(threads)
    run = Run("scaling", "bench", "bench", "bench", 0, {}, s, ("corpus",))
    ctx = RunContext(run, "cpu", threads, {"corpus": corpus}, tmp / "ck.pt", 60.0, io.StringIO())
    t = time.perf_counter()
    lm.train(ctx)
    return time.perf_counter() - t


def bare_loop(s: dict, corpus: Path, threads: int) -> float:
    """The same work without the engine: load, build, then plain steps."""
    torch.set_num_threads(threads)
    t = time.perf_counter()
    data = text.load_corpus(corpus)["train"]
    p = lm.plan(s)
    cfg, steps, B, T = p["cfg"], p["steps"], s["batch_size"], s["n_ctx"]
    model = GPT(cfg)
    model.init_weights(torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(model.parameters(), lr=p["lr"], betas=(0.9, 0.95), weight_decay=0.1)
    g = torch.Generator().manual_seed(1)
    offsets = torch.randint(0, len(data) - T - 1, (steps * B,), generator=g)
    ar = torch.arange(T + 1)
    for step in range(1, steps + 1):
        for group in opt.param_groups:
            group["lr"] = lm.lr_at(step, steps, p["lr"], 0.05, 0.1)
        batch = data[offsets[(step - 1) * B : step * B, None] + ar].long()
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="2x64")
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--corpus", type=Path, default=None, help="a prepared corpus.pt")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    s = settings(args.model, args.steps)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        corpus = args.corpus
        if corpus is None:
            corpus = tmp / "corpus.pt"
            text.prepare_corpus(corpus, {"corpus": None})
        engine, bare = [], []
        for _ in range(args.repeats):
            engine.append(engine_loop(s, corpus, tmp, args.threads))
            bare.append(bare_loop(s, corpus, args.threads))
    tokens = lm.plan(s)["D"]
    cfg = lm.plan(s)["cfg"]
    peak = matmul_flops(args.threads)
    tps_engine, tps_bare = tokens / min(engine), tokens / min(bare)
    out = {
        "model": args.model,
        "threads": args.threads,
        "steps": args.steps,
        "tokens_per_step": 16 * 128,
        "tokens_per_s_engine": tps_engine,
        "tokens_per_s_bare": tps_bare,
        "engine_over_bare": tps_engine / tps_bare,
        "matmul_flops_per_s": peak,
    }
    for name, fpt in (
        ("6N", 6.0 * lm.plan(s)["N"]),
        ("6N+attention", flops_per_token(cfg)),
        ("6N+attention+output", flops_per_token(cfg, embedding=True)),
    ):
        out[f"flops_per_s[{name}]"] = tps_engine * fpt
        out[f"fraction_of_matmul[{name}]"] = tps_engine * fpt / peak
    for k, v in out.items():
        print(f"{k:36s} {v:.4g}" if isinstance(v, float) else f"{k:36s} {v}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
