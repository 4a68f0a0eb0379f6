"""A small decoder-only transformer (GPT-2 shape: pre-LayerNorm, learned positions, tied
embeddings, GELU MLP), sized by depth and width, with Kaplan et al.'s parameter and FLOP counts.

Counting (Kaplan et al. 2020, Table 1 and §2.1):
* N, the non-embedding parameters, leaves out the token and position embeddings (the output
  layer is tied to the token embedding, so it is not counted either). Per layer: attention
  QKV and output projection 4·d² + 4·d, MLP (4·d wide) 8·d² + 5·d, two LayerNorms 4·d; plus
  the final LayerNorm 2·d. So N = n_layer·(12·d² + 13·d) + 2·d ≈ 12·n_layer·d².
* Training FLOPs per token: C ≈ 6·N + 6·n_layer·n_ctx·d (forward 2N + 2·n_layer·n_ctx·d_attn,
  backward twice that); the paper then drops the attention term, C ≈ 6N, and C = 6ND is the
  compute of a run over D tokens. The output (de-embedding) matmul, 2·d·n_vocab per token
  forward, is also left out by the paper; at byte-level vocabularies and d ≤ 128 it is a
  sizeable share of the real work, so `flops_per_token(..., embedding=True)` can include it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class GPTConfig:
    n_layer: int
    d_model: int
    n_ctx: int = 128
    vocab_size: int = 256
    d_head: int = 32  # heads = d_model // d_head (at least one)

    @property
    def n_head(self) -> int:
        return max(1, self.d_model // self.d_head)


def parse_shape(shape: str) -> tuple[int, int]:
    """'4x128' -> (n_layer=4, d_model=128)."""
    m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", str(shape))
    if not m:
        raise ValueError(f"model shape {shape!r} is not '<n_layer>x<d_model>', e.g. '2x64'")
    return int(m.group(1)), int(m.group(2))


def kaplan_params(n_layer: int, d_model: int) -> int:
    """Kaplan's approximation N ≈ 12·n_layer·d_model² (eq. 2.1)."""
    return 12 * n_layer * d_model**2


def non_embedding_params(n_layer: int, d_model: int) -> int:
    """The exact non-embedding parameter count of this module's GPT (see the module doc)."""
    return n_layer * (12 * d_model**2 + 13 * d_model) + 2 * d_model


def embedding_params(cfg: GPTConfig) -> int:
    return cfg.vocab_size * cfg.d_model + cfg.n_ctx * cfg.d_model


def flops_per_token(cfg: GPTConfig, attention: bool = True, embedding: bool = False) -> float:
    """Training FLOPs per token: 6N, plus the attention term 6·n_layer·n_ctx·d (Kaplan
    Table 1, ×3 for forward and backward), plus the de-embedding 6·d·n_vocab if asked."""
    c = 6.0 * non_embedding_params(cfg.n_layer, cfg.d_model)
    if attention:
        c += 6.0 * cfg.n_layer * cfg.n_ctx * cfg.d_model
    if embedding:
        c += 6.0 * cfg.d_model * cfg.vocab_size
    return c


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_head = cfg.n_head
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        # (B, heads, T, d_head); SDPA picks the fused causal kernel on each backend.
        q, k, v = (t.view(B, T, self.n_head, d // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, d))
        # The exact (erf) GELU, as nanoGPT and nn.GELU() use. GPT-2's tanh approximation of it
        # differs by < 1e-3 and is 2-4x slower on CPU (aten, 1 thread, 2048x384: forward
        # 1.49 vs 0.39 ms, backward 1.56 vs 0.68): 13-15% of the 2x64 step (make bench). Whole
        # steps, 1 thread, quiet, medians of 7 alternating rounds: 2x32 at batch 8 -5.9%, 2x48
        # and 2x96 at batch 16 -8.8% and -7.8%, 2x64 -4.7%; 2x8 and 2x16 within noise.
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)

    def init_weights(self, generator: torch.Generator) -> None:
        """GPT-2 initialisation from an explicit generator, so that a seed fixes the model
        regardless of what else drew from torch's global RNG: N(0, 0.02), residual output
        projections scaled by 1/sqrt(2·n_layer), zero biases, unit LayerNorms."""
        std_out = 0.02 / math.sqrt(2 * self.cfg.n_layer)
        for name, p in self.named_parameters():
            with torch.no_grad():
                if name.endswith("bias"):
                    p.zero_()
                elif ".ln" in name or name.startswith("ln_"):
                    p.fill_(1.0)
                else:
                    std = std_out if name.endswith(("proj.weight", "out.weight")) else 0.02
                    p.copy_(torch.randn(p.shape, generator=generator) * std)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        x = self.tok(idx) + self.pos.weight[:T]
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.tok.weight.T  # tied output layer

    def counts(self) -> dict[str, int]:
        total = sum(p.numel() for p in self.parameters())
        emb = self.tok.weight.numel() + self.pos.weight.numel()
        return {"n_params_total": total, "n_params": total - emb}
