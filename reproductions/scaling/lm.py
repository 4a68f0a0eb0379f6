"""One language-model run: a GPT of a given shape trained on D tokens of the byte corpus.

Every run is one (N, D) point. The data order is fixed by the seed before training starts: the
run reads one contiguous stretch of the training stream, cut into n_ctx+1-byte sequences and
shuffled, so no token is seen twice unless D exceeds the corpus (the record says how many
passes). Two runs with the same seed and D read the same tokens, whatever their model size.

Counting. `N` is Kaplan's non-embedding count, `N_total` every parameter (the tied token
embedding and the positions too: Chinchilla's count). A compute budget `flops` sets
D = flops / (6·N_count) with N_count per `flops_count` (total or non_embedding); at these sizes
6·N_total is close to the real training FLOPs per token (attention and the 256-way output
layer included), 6·N far below them.

Kaplan's L(D) (`subset_tokens` set): the model trains on `subset_tokens` bytes of whole
sequences drawn at random from the entire training split (the first ones of the seed's order,
so the subsets of one seed are nested), reshuffled every epoch for as many
epochs as it takes, at a constant rate after `warmup_steps`, and stops early: every
`es_eval_every` steps it measures the loss on `es_eval_seqs` validation sequences and stops
after `es_patience` evaluations without a new best (or at `max_steps`), but never before
`es_min_steps`: a byte-level model sits on a plateau near the unigram loss (~3.0) for its first
few hundred steps, and patience alone ended one subset there (the first cpu run of this sweep:
stopped at step 175 with loss 3.04, above the next smaller subset's 2.35). The best
evaluation is tracked from the first step all the same. The run's final loss is that of the
best weights, on the full `eval_seqs`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from dlrepro.data import text
from dlrepro.errors import UserError
from dlrepro.longform import last_value
from dlrepro.models.gpt import (
    GPT,
    GPTConfig,
    embedding_params,
    flops_per_token,
    kaplan_params,
    non_embedding_params,
    parse_shape,
)
from dlrepro.runner import RunContext, RunningMeans
from dlrepro.trainer import lr_at


def kaplan_lr(n_params: float, rule: list[float]) -> float:
    """Kaplan et al. 2020, eq. D.1: the learning rate that worked across their model sizes,
    a - b·ln N, with rule = [a, b] (the setting kaplan_lr)."""
    a, b = rule
    return a - b * math.log(n_params)


def model_config(settings: dict[str, Any]) -> GPTConfig:
    n_layer, d_model = parse_shape(settings["model"])
    return GPTConfig(n_layer=n_layer, d_model=d_model, n_ctx=int(settings["n_ctx"]))


def counts(cfg: GPTConfig) -> dict[str, int]:
    """N (non-embedding, Kaplan) and N_total (all parameters, Chinchilla) of a shape."""
    n = non_embedding_params(cfg.n_layer, cfg.d_model)
    return {"N": n, "N_total": n + embedding_params(cfg)}


def plan(settings: dict[str, Any]) -> dict[str, Any]:
    """N, D, steps, C and the peak learning rate of a run, from its settings alone.

    A run gets either `tokens` (D; at least `min_tokens_per_param` × N_total when that is
    set), or `flops` (a budget C, D = C / (6·N) with N counted per `flops_count`, as on an
    IsoFLOP curve). D is rounded to whole batches, and C is recomputed from the D actually
    trained. An L(D) run (`subset_tokens`) trains for a number of steps only early stopping
    knows: `steps` is its cap, `max_steps`, and D its subset (whole sequences).
    """
    cfg = model_config(settings)
    n = counts(cfg)
    N = n["N"]
    per_step = int(settings["batch_size"]) * cfg.n_ctx
    budget = settings["flops"]
    counted = n["N_total"] if settings["flops_count"] == "total" else N
    if settings["flops_count"] not in ("total", "non_embedding"):
        raise UserError(f"flops_count = {settings['flops_count']!r}; use total or non_embedding")
    if budget:
        want = float(budget) / (6 * counted)
    else:
        want = float(settings["tokens"])
        if settings["min_tokens_per_param"]:
            want = max(want, float(settings["min_tokens_per_param"]) * n["N_total"])
    steps = max(1, round(want / per_step))
    D = steps * per_step
    if settings["subset_tokens"]:  # early stopping decides the steps; D is the subset
        steps = int(settings["max_steps"])
        D = int(settings["subset_tokens"]) // cfg.n_ctx * cfg.n_ctx
    lr = settings["lr"]
    # Kaplan's rate was tuned for 250k-step runs; our runs are 10²–10⁴ steps, where a
    # multiple of it (lr_scale, chosen on short pilot runs) trains markedly better.
    if lr == "kaplan":
        peak = kaplan_lr(N, settings["kaplan_lr"]) * float(settings["lr_scale"])
    else:
        peak = float(lr)
    return {
        "cfg": cfg,
        "N": N,
        "N_total": n["N_total"],
        "D": D,
        "steps": steps,
        "C": 6.0 * N * D,
        "C_total": 6.0 * n["N_total"] * D,
        "C_budget": float(budget) if budget else math.nan,
        "lr": peak,
    }


@torch.no_grad()
def evaluate(model: GPT, val: torch.Tensor, n_seqs: int, T: int, batch: int) -> float:
    """Mean next-byte loss (nats) on `n_seqs` fixed, evenly spaced validation sequences; every
    run uses the same sequences, so differences between runs are not sampling noise."""
    model.eval()
    starts = torch.linspace(0, len(val) - T - 2, n_seqs).long()
    total, count = 0.0, 0
    for i in range(0, n_seqs, batch):
        idx = starts[i : i + batch, None] + torch.arange(T + 1)
        x = val[idx].long()
        logits = model(x[:, :-1])
        total += F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum"
        ).item()
        count += x[:, 1:].numel()
    model.train()
    return total / count


def _optimizer(model: GPT, s: dict[str, Any], lr: float) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (biases and LayerNorm gains are not decayed),
    as in GPT-2. The fused kernel updates each parameter in one pass instead of a dozen
    foreach ops over all of them: the same update rule, rounding aside, and 4-11% less time
    per step for these tiny models (1 thread, quiet: 2x8 5.48 -> 4.89 ms, 2x24 7.44 -> 6.78,
    2x48 12.00 -> 11.52, 2x96 at batch 16 50.3 -> 47.2; medians of 3 rounds)."""
    decay = [q for q in model.parameters() if q.ndim >= 2]
    no_decay = [q for q in model.parameters() if q.ndim < 2]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": s["weight_decay"]},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
        betas=(0.9, float(s["beta2"])),
        fused=True,
    )


def _log_model(run: RunContext, p: dict[str, Any], model: GPT, passes: float) -> None:
    cfg = p["cfg"]
    run.log(
        0,
        "model",
        {
            "n_params": p["N"],
            "n_params_total": model.counts()["n_params_total"],
            "n_params_kaplan": kaplan_params(cfg.n_layer, cfg.d_model),
            "flops_per_token_6n": 6.0 * p["N"],
            "flops_per_token_attn": flops_per_token(cfg, attention=True),
            "flops_per_token_all": flops_per_token(cfg, attention=True, embedding=True),
            "tokens": p["D"],
            "steps": p["steps"],
            "passes": passes,
            "lr_peak": p["lr"],
        },
    )


def _step(
    model: GPT,
    opt: torch.optim.Optimizer,
    batch: torch.Tensor,
    lr: float,
    clip: float,
) -> float:
    for group in opt.param_groups:
        group["lr"] = lr
    logits = model(batch[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return loss.item()


def train(run: RunContext) -> None:
    s = run.settings
    corpus = text.load_corpus(run.datasets["corpus"])
    run.data_info["corpus"] = corpus["meta"]
    if s["subset_tokens"]:
        train_subset(run, corpus)
        return
    p = plan(s)
    cfg, steps = p["cfg"], p["steps"]
    B, T = int(s["batch_size"]), cfg.n_ctx
    train_tokens, val_tokens = corpus["train"], corpus["val"]

    model = GPT(cfg)
    model.init_weights(torch.Generator().manual_seed(int(s["seed"])))
    model.to(run.device)
    opt = _optimizer(model, s, p["lr"])

    # The whole data order, drawn up front from the run's own generator.
    data_gen = torch.Generator().manual_seed(int(s["seed"]) + 7919)
    span = len(train_tokens) - T - 1
    n_seqs = steps * B
    start = int(torch.randint(0, span, (1,), generator=data_gen))
    offsets = (start + torch.arange(n_seqs) * T) % span
    offsets = offsets[torch.randperm(n_seqs, generator=data_gen)]
    passes = n_seqs * T / span

    eval_every = max(1, steps // int(s["n_evals"]))
    log_every = max(1, steps // int(s["n_train_logs"]))
    train_loss = RunningMeans()  # the mean training loss between two logs
    run.register(model=model, optimizer=opt, generators=[data_gen], train_loss=train_loss)
    first = run.resume()
    if first == 1:
        _log_model(run, p, model, passes)
    ar = torch.arange(T + 1)
    for step in range(first, steps + 1):
        lr = lr_at(step, steps, p["lr"], "cosine", s["warmup_frac"], s["final_lr_ratio"])
        batch = train_tokens[offsets[(step - 1) * B : step * B, None] + ar].long().to(run.device)
        loss = _step(model, opt, batch, lr, float(s["grad_clip"]))
        train_loss.add(1, loss=loss)
        if step % log_every == 0 or step == steps:
            mean = train_loss.pop()["loss"]
            run.check_finite(loss=mean)
            run.log(step, "train", {"loss": mean, "lr": lr, "tokens": step * B * T})
        if step % eval_every == 0 and step != steps:
            run.log(
                step, "val", {"loss": evaluate(model, val_tokens, int(s["eval_seqs_quick"]), T, B)}
            )
        if step == steps:
            final = evaluate(model, val_tokens, int(s["eval_seqs"]), T, B)
            run.check_finite(val_loss=final)
            run.log(step, "final", {"val_loss": final})
        run.progress(step, steps, loss=loss, lr=lr)
        run.maybe_checkpoint(step)


def train_subset(run: RunContext, corpus: dict[str, Any]) -> None:
    """Kaplan's L(D): repeated epochs over a fixed subset, early stopping on validation loss
    (see the module doc); the final loss is the best weights' on all `eval_seqs`."""
    s = run.settings
    p = plan(s)
    cfg, max_steps = p["cfg"], p["steps"]
    B, T = int(s["batch_size"]), cfg.n_ctx
    train_tokens, val_tokens = corpus["train"], corpus["val"]
    n_seqs = int(s["subset_tokens"]) // T
    if n_seqs < B:
        raise UserError(
            f"run {run.run_id}: subset_tokens {s['subset_tokens']} holds {n_seqs} sequences of "
            f"{T} bytes, fewer than one batch of {B}; use at least {B * T}"
        )
    if n_seqs * T + 1 >= len(train_tokens):
        raise UserError(
            f"run {run.run_id}: subset_tokens {s['subset_tokens']:,} is more than the corpus's "
            f"{len(train_tokens):,} training bytes; an L(D) subset must fit in the corpus, so set "
            "data.corpus to a larger text (README, Data)"
        )
    model = GPT(cfg)
    model.init_weights(torch.Generator().manual_seed(int(s["seed"])))
    model.to(run.device)
    opt = _optimizer(model, s, p["lr"])
    data_gen = torch.Generator().manual_seed(int(s["seed"]) + 7919)
    # The subset: the first n_seqs of the seed's random order of every whole sequence of the
    # training split. The subsets of one seed are nested, and each is a sample of the whole
    # corpus, as Kaplan's are of WebText2. (A contiguous stretch, as before, holds only a few
    # source files at these sizes: the 2.6e5-byte one memorized a few repetitive files, training
    # loss 0.7 against validation 2.9, while the half-size stretch reached 2.35.)
    slots = (len(train_tokens) - 1) // T
    offsets = torch.randperm(slots, generator=data_gen)[:n_seqs] * T
    per_epoch = n_seqs // B
    state: dict[str, Any] = {
        "perm": torch.zeros(0, dtype=torch.long),
        "best": math.inf,
        "best_step": 0,
        "bad": 0,
        "weights": {},
    }
    train_loss = RunningMeans()
    run.register(model=model, optimizer=opt, generators=[data_gen], train_loss=train_loss, es=state)
    first = run.resume()
    if first == 1:
        _log_model(run, p, model, passes=math.nan)
    ar = torch.arange(T + 1)
    every, n_quick = int(s["es_eval_every"]), int(s["es_eval_seqs"])
    step = first - 1
    for step in range(first, max_steps + 1):
        pos = (step - 1) % per_epoch
        if pos == 0:
            state["perm"] = torch.randperm(n_seqs, generator=data_gen)
        idx = offsets[state["perm"][pos * B : (pos + 1) * B], None] + ar
        lr = p["lr"] * min(1.0, step / max(1, int(s["warmup_steps"])))
        loss = _step(model, opt, train_tokens[idx].long().to(run.device), lr, float(s["grad_clip"]))
        train_loss.add(1, loss=loss)
        stop = False
        if step % every == 0:
            mean = train_loss.pop()["loss"]
            run.check_finite(loss=mean)
            val = evaluate(model, val_tokens, n_quick, T, B)
            epoch = step / per_epoch
            run.log(step, "train", {"loss": mean, "lr": lr, "epochs": epoch}, epoch)
            run.log(step, "val", {"loss": val}, epoch)
            if val < state["best"]:
                state.update(best=val, best_step=step, bad=0)
                state["weights"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                state["bad"] += 1
                stop = state["bad"] >= int(s["es_patience"]) and step >= int(s["es_min_steps"])
        run.progress(step, max_steps, loss=loss, best=state["best"])
        run.maybe_checkpoint(step)
        if stop:
            break
    if state["weights"]:
        model.load_state_dict(state["weights"])
    final = evaluate(model, val_tokens, int(s["eval_seqs"]), T, B)
    run.check_finite(val_loss=final)
    run.log(
        step,
        "final",
        {
            "val_loss": final,
            "best_step": float(state["best_step"]),
            "stopped_at": float(step),
            "subset_tokens": float(n_seqs * T),
            "epochs_at_best": state["best_step"] / per_epoch,
            "early_stopped": float(step < max_steps),
        },
    )


def summarize(metrics: Any, settings: dict[str, Any]) -> dict[str, float]:
    """The scalars of one LM run: N (three ways), D, C (two counts) and the final validation
    loss. For an L(D) run D is the subset's size, and C counts the tokens actually trained on
    up to the best step."""
    p = plan(settings)
    cfg = p["cfg"]
    D = float(p["D"])
    if settings["subset_tokens"]:
        D = last_value(metrics, "final", "subset_tokens")
        seen = last_value(metrics, "final", "best_step") * int(settings["batch_size"]) * cfg.n_ctx
    else:
        seen = D
    return {
        "N": float(p["N"]),
        "N_total": float(p["N_total"]),
        "N_kaplan": float(kaplan_params(cfg.n_layer, cfg.d_model)),
        "D": D,
        "C": 6.0 * p["N"] * seen,
        "C_total": 6.0 * p["N_total"] * seen,
        "C_budget": float(p["C_budget"]),
        "C_attn": float(flops_per_token(cfg, attention=True) * seen),
        "loss": last_value(metrics, "final", "val_loss"),
        "train_loss": last_value(metrics, "train", "loss"),
        "lr_peak": float(p["lr"]),
        "epochs_at_best": last_value(metrics, "final", "epochs_at_best"),
    }
