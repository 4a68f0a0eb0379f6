"""The grokking transformer's fast path is the same model as one built from
nn.MultiheadAttention: same parameters and initial weights, same outputs and gradients."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reproductions.grokking.model import PairTransformer


class ReferenceBlock(nn.Module):
    """The textbook block: nn.MultiheadAttention with a causal mask, then a ReLU MLP."""

    def __init__(self, d: int, heads: int, d_mlp: int, layernorm: bool) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, bias=True, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, d_mlp), nn.ReLU(), nn.Linear(d_mlp, d))
        self.ln1 = nn.LayerNorm(d) if layernorm else nn.Identity()
        self.ln2 = nn.LayerNorm(d) if layernorm else nn.Identity()

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a = self.ln1(h)
        h = h + self.attn(a, a, a, attn_mask=mask, need_weights=False)[0]
        return h + self.mlp(self.ln2(h))


class ReferenceTransformer(nn.Module):
    """Every position through every block, the answer read at '='."""

    def __init__(self, p: int, d: int, heads: int, d_mlp: int, layers: int, ln: bool) -> None:
        super().__init__()
        self.p = p
        self.embed = nn.Embedding(p + 1, d)
        self.pos = nn.Parameter(torch.randn(3, d) / d**0.5)
        self.blocks = nn.ModuleList(ReferenceBlock(d, heads, d_mlp, ln) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d) if ln else nn.Identity()
        self.unembed = nn.Linear(d, p, bias=False)
        self.register_buffer("mask", torch.triu(torch.ones(3, 3, dtype=torch.bool), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(torch.cat([x, torch.full((len(x), 1), self.p)], dim=1)) + self.pos
        for block in self.blocks:
            h = block(h, self.mask)
        return self.unembed(self.ln_f(h[:, -1]))


# (layers, layernorm): Nanda et al.'s 1-layer net without LayerNorm, Power et al.'s 2-layer net
SHAPES = [(1, False), (2, True), (3, True)]


def _pair(layers: int, layernorm: bool) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(7)
    fast = PairTransformer(
        17, d_model=32, n_heads=4, d_mlp=64, n_layers=layers, layernorm=layernorm
    )
    torch.manual_seed(7)
    ref = ReferenceTransformer(17, 32, 4, 64, layers, layernorm)
    return fast, ref


@pytest.mark.parametrize(("layers", "layernorm"), SHAPES)
def test_a_seed_gives_the_reference_models_parameters_names_and_weights(layers, layernorm):
    fast, ref = _pair(layers, layernorm)
    a, b = fast.state_dict(), ref.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [n for n, _ in fast.named_parameters()] == [n for n, _ in ref.named_parameters()]


@pytest.mark.parametrize(("layers", "layernorm"), SHAPES)
def test_outputs_and_gradients_match_the_reference_to_float_rounding(layers, layernorm):
    fast, ref = _pair(layers, layernorm)
    x = torch.randint(0, 17, (64, 2), generator=torch.Generator().manual_seed(0))
    y = (x[:, 0] + x[:, 1]) % 17
    out_fast, out_ref = fast(x), ref(x)
    torch.testing.assert_close(out_fast, out_ref, rtol=1e-5, atol=1e-5)
    F.cross_entropy(out_fast, y).backward()
    F.cross_entropy(out_ref, y).backward()
    for (name, p), q in zip(fast.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_a_reference_state_dict_loads_into_the_fast_model_and_gives_its_outputs():
    fast, ref = _pair(2, True)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))  # weights the fast model did not start from
    fast.load_state_dict(ref.state_dict())
    x = torch.randint(0, 17, (16, 2))
    torch.testing.assert_close(fast(x), ref(x), rtol=1e-5, atol=1e-5)


def test_a_transformer_without_blocks_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        PairTransformer(17, n_layers=0)
