"""The grokking models: an MLP on embedded pairs (cpu scale) and small transformers
(Nanda et al.'s 1-layer net without LayerNorm; Power et al.'s 2-layer net)."""

from __future__ import annotations

import torch
from torch import nn


class PairMLP(nn.Module):
    """Embed a and b with one shared table, concatenate, one hidden ReLU layer, logits over p.

    Same as an MLP on the two one-hot vectors; the shared table is the "embedding" whose
    Fourier spectrum the analysis reads.
    """

    def __init__(self, p: int, d_embed: int = 128, hidden: int = 256) -> None:
        super().__init__()
        self.embed = nn.Embedding(p, d_embed)
        self.hidden = nn.Linear(2 * d_embed, hidden)
        self.out = nn.Linear(hidden, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x).flatten(1)
        return self.out(torch.relu(self.hidden(h)))

    def token_embedding(self) -> torch.Tensor:
        return self.embed.weight


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_mlp: int, layernorm: bool) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_heads, bias=True, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_mlp), nn.ReLU(), nn.Linear(d_mlp, d_model))
        self.ln1 = nn.LayerNorm(d_model) if layernorm else nn.Identity()
        self.ln2 = nn.LayerNorm(d_model) if layernorm else nn.Identity()

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = self.ln1(h)
        h = h + self.attn(a, a, a, attn_mask=mask, need_weights=False)[0]
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
        self.p = p
        self.embed = nn.Embedding(p + 1, d_model)  # token p is '='
        self.pos = nn.Parameter(torch.randn(3, d_model) / d_model**0.5)
        self.blocks = nn.ModuleList(
            Block(d_model, n_heads, d_mlp, layernorm) for _ in range(n_layers)
        )
        self.ln_f = nn.LayerNorm(d_model) if layernorm else nn.Identity()
        self.unembed = nn.Linear(d_model, p, bias=False)
        self.register_buffer("mask", torch.triu(torch.ones(3, 3, dtype=torch.bool), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        eq = torch.full((len(x), 1), self.p, dtype=x.dtype, device=x.device)
        h = self.embed(torch.cat([x, eq], dim=1)) + self.pos
        for block in self.blocks:
            h = block(h, self.mask)
        return self.unembed(self.ln_f(h[:, -1]))

    def token_embedding(self) -> torch.Tensor:
        return self.embed.weight[: self.p]


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
