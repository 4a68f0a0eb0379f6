"""The grokking models: an MLP on embedded pairs (cpu scale) and small transformers
(Nanda et al.'s 1-layer net without LayerNorm; Power et al.'s 2-layer net).

The transformer is written for its one job, a 3-token sequence [a, b, =] whose answer is read
at '=', and does only that arithmetic (measured in bench/bench_grokking.py; `power` setting
on 2 CPU threads: 32 -> 22 ms per step, the Nanda setting 108 -> 55 ms):
* the last block computes the '=' position only: the other positions' outputs of the last
  block are never read, so only their keys and values are needed there (a third less work for
  two layers, two thirds less for one);
* attention is a fused QKV projection and a softmax over scores formed elementwise: with three
  positions the (batch, 3, 3, heads) scores are a few hundred thousand products, which
  broadcasting does in a pass where SDPA's CPU kernel or nn.MultiheadAttention spend more on
  their per-call generality than on the arithmetic. The other blocks mask the later keys; in
  the last block one query sees every key, so there is no mask. (SDPA with is_causal=True in
  the other blocks, as before 2026-11-30: the `power` step 39.3 -> 32.2 ms on 2 threads, median
  of 7 alternating rounds; SDPA's fused kernel took ~8 ms of a block's forward and backward there,
  the elementwise form ~3.)
It is the same model as one built from nn.MultiheadAttention: the same parameters under the
same names and shapes, initialised by the same random draws in the same order (a seed gives
the same weights, and state_dicts load either way); outputs agree to float rounding.
torch.compile was measured and does not pay here (~33 s to compile, slower steps after).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PairMLP(nn.Module):
    """Embed a and b with one shared table, concatenate, one hidden ReLU layer, logits over p.

    Same as an MLP on the two one-hot vectors; the shared table is the "embedding" whose
    Fourier spectrum the analysis reads.

    The hidden layer's input from each operand depends on that token alone, so the forward
    multiplies the p-row embedding table by the hidden weights once per step (two p x d x hidden
    products) and looks the rows up per pair, instead of multiplying every pair's concatenated
    embedding (n x 2d x hidden; n = 4,704 pairs at the cpu scale): the same function and
    parameters, summed in another order (outputs agree to float rounding), and the full-batch
    step at the cpu scale takes 12.7 ms instead of 25.2 (1 thread, quiet).
    """

    def __init__(self, p: int, d_embed: int = 128, hidden: int = 256) -> None:
        super().__init__()
        self.embed = nn.Embedding(p, d_embed)
        self.hidden = nn.Linear(2 * d_embed, hidden)
        self.out = nn.Linear(hidden, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # relu(W [E[a]; E[b]] + bias) = relu((E W_a^T + bias)[a] + (E W_b^T)[b])
        w_a, w_b = self.hidden.weight.split(self.embed.embedding_dim, dim=1)
        from_a = F.linear(self.embed.weight, w_a, self.hidden.bias)  # (p, hidden)
        from_b = F.linear(self.embed.weight, w_b)
        h = F.embedding(x[:, 0], from_a) + F.embedding(x[:, 1], from_b)
        return self.out(torch.relu(h))

    def token_embedding(self) -> torch.Tensor:
        return self.embed.weight


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with bias, as nn.MultiheadAttention(d, heads,
    batch_first=True) computes it with a causal mask and no dropout.

    Parameters, names and initialisation are nn.MultiheadAttention's (the output projection's
    default Linear init is drawn first, then Xavier-uniform for the packed QKV weight; biases
    zero), so the same seed gives the same weights.
    """

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """(batch, T, d) -> (batch, T, d): every position attends to itself and earlier ones."""
        B, T, d = a.shape
        q, k, v = F.linear(a, self.in_proj_weight, self.in_proj_bias).view(B, T, 3, -1).unbind(2)
        later = torch.ones(T, T, dtype=torch.bool, device=a.device).triu(1)
        return self.out_proj(self._attend(q, k, v, later).reshape(B, T, d))

    def last_position(self, a: torch.Tensor) -> torch.Tensor:
        """(batch, T, d) -> (batch, d): the output at the last position only. It attends to
        every position, so no mask is needed; the other queries are not computed."""
        B, T, d = a.shape
        w_q, w_kv = self.in_proj_weight.split([d, 2 * d])
        b_q, b_kv = self.in_proj_bias.split([d, 2 * d])
        q = F.linear(a[:, -1:], w_q, b_q)
        k, v = F.linear(a, w_kv, b_kv).view(B, T, 2, d).unbind(2)
        return self.out_proj(self._attend(q, k, v).reshape(B, d))

    def _attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, masked: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Queries (batch, Tq, d) over keys and values (batch, Tk, d), per head, -> (batch, Tq,
        heads, d_head). The scores are formed elementwise, (batch, Tq, Tk, heads, d_head)
        products: cheap for the three positions this model sees, not meant for long sequences.
        `masked` (Tq, Tk) marks the keys a query may not see."""
        H = self.n_heads
        q, k, v = (t.unflatten(-1, (H, -1)) for t in (q, k, v))  # (batch, T, heads, d_head)
        scores = (q.unsqueeze(2) * k.unsqueeze(1)).sum(-1) / math.sqrt(q.shape[-1])
        if masked is not None:  # scores: (batch, Tq, Tk, heads)
            scores = scores.masked_fill(masked[:, :, None], float("-inf"))
        return (scores.softmax(dim=2).unsqueeze(-1) * v.unsqueeze(1)).sum(2)


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_mlp: int, layernorm: bool) -> None:
        super().__init__()
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_mlp), nn.ReLU(), nn.Linear(d_mlp, d_model))
        self.ln1 = nn.LayerNorm(d_model) if layernorm else nn.Identity()
        self.ln2 = nn.LayerNorm(d_model) if layernorm else nn.Identity()

    def forward(self, h: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """(batch, T, d) -> (batch, T, d), or (batch, d) for the last position only."""
        a = self.ln1(h)
        h = h[:, -1] + self.attn.last_position(a) if last_only else h + self.attn(a)
        return h + self.mlp(self.ln2(h))


class PairTransformer(nn.Module):
    """Decoder-only transformer on the sequence [a, b, =]; the answer is read at '='."""

    def __init__(
        self,
        p: int,
        d_model: int = 128,
        n_heads: int = 4,
        d_mlp: int = 512,
        n_layers: int = 1,
        layernorm: bool = False,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers is {n_layers}; the transformer needs at least 1")
        self.p = p
        self.embed = nn.Embedding(p + 1, d_model)  # token p is '='
        self.pos = nn.Parameter(torch.randn(3, d_model) / d_model**0.5)
        self.blocks = nn.ModuleList(
            Block(d_model, n_heads, d_mlp, layernorm) for _ in range(n_layers)
        )
        self.ln_f = nn.LayerNorm(d_model) if layernorm else nn.Identity()
        self.unembed = nn.Linear(d_model, p, bias=False)
        # The causal mask, no longer read (attention is causal by construction); kept so that
        # state_dicts saved before and after the fast path load into either.
        self.register_buffer("mask", torch.triu(torch.ones(3, 3, dtype=torch.bool), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        eq = torch.full((len(x), 1), self.p, dtype=x.dtype, device=x.device)
        h = self.embed(torch.cat([x, eq], dim=1)) + self.pos
        for block in self.blocks[:-1]:
            h = block(h)
        return self.unembed(self.ln_f(self.blocks[-1](h, last_only=True)))

    def token_embedding(self) -> torch.Tensor:
        return self.embed.weight[: self.p]


def make_optimizer(model: nn.Module, settings: dict) -> torch.optim.AdamW:
    """AdamW as the settings ask: decoupled weight decay only when the regularizer is
    weight decay. The fused kernel does each step in one pass over the parameters instead of a
    dozen small tensor ops per parameter; same update rule, rounding aside (measured in
    bench/bench_grokking.py)."""
    decay = settings["weight_decay"] if settings["regularizer"] == "weight_decay" else 0.0
    return torch.optim.AdamW(
        model.parameters(),
        lr=settings["lr"],
        betas=tuple(settings["betas"]),
        weight_decay=decay,
        fused=True,
    )


def build(settings: dict) -> nn.Module:
    p, kind = settings["p"], settings["model"]
    if kind == "mlp":
        return PairMLP(p, settings["d_embed"], settings["hidden"])
    if kind == "transformer":
        return PairTransformer(
            p,
            settings["d_model"],
            settings["n_heads"],
            settings["d_mlp"],
            settings["n_layers"],
            settings["layernorm"],
        )
    raise ValueError(f"unknown model {kind!r}; use mlp or transformer")
