"""Any model with TransformerLens hook names and hooks()/run_with_hooks works, with no cfg and no bridge."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import spex_mech as sm
from spex_mech import metrics

from .conftest import reference_masked_values


class _Block(nn.Module):
    def __init__(self, d, heads, d_head, d_mlp, gen):
        super().__init__()
        from transformer_lens.hook_points import HookPoint

        self.hook_resid_pre = HookPoint()
        self.attn = nn.Module()
        self.attn.hook_z = HookPoint()
        self.mlp = nn.Module()
        self.mlp.hook_post = HookPoint()
        self.W_V = nn.Parameter(torch.randn(d, heads, d_head, generator=gen) / d**0.5)
        self.W_O = nn.Parameter(torch.randn(heads, d_head, d, generator=gen) / d_head**0.5)
        self.W_in = nn.Parameter(torch.randn(d, d_mlp, generator=gen) / d**0.5)
        self.W_out = nn.Parameter(torch.randn(d_mlp, d, generator=gen) / d_mlp**0.5)

    def forward(self, x):
        x = self.hook_resid_pre(x)
        # causal mean-pooling "attention": each position mixes the prefix, per head
        ctx = torch.cumsum(x, dim=1) / torch.arange(1, x.shape[1] + 1, device=x.device)[None, :, None]
        z = self.attn.hook_z(torch.einsum("bpd,dhe->bphe", ctx, self.W_V))
        x = x + torch.einsum("bphe,hed->bpd", z, self.W_O)
        post = self.mlp.hook_post(torch.relu(x @ self.W_in))
        return x + post @ self.W_out


def make_toy():
    from transformer_lens import HookedRootModule

    class Toy(HookedRootModule):
        def __init__(self, vocab=20, d=16, heads=3, d_head=4, d_mlp=10, layers=2):
            super().__init__()
            gen = torch.Generator().manual_seed(0)
            self.W_E = nn.Parameter(torch.randn(vocab, d, generator=gen))
            self.blocks = nn.ModuleList(_Block(d, heads, d_head, d_mlp, gen) for _ in range(layers))
            self.W_U = nn.Parameter(torch.randn(d, vocab, generator=gen))
            self.setup()

        def forward(self, tokens):
            x = self.W_E[tokens]
            for block in self.blocks:
                x = block(x)
            return x @ self.W_U

    return Toy()


def test_plain_hooked_root_module():
    model = make_toy()
    toks = torch.randint(0, 20, (4, 7), generator=torch.Generator().manual_seed(1))
    units = sm.AttentionHeads(model, n_heads=3, n_layers=2, layers=[1]) + sm.MLPNeurons(
        model, 1, neurons=[2, 4], d_mlp=10
    )
    game = sm.AblationGame(model, units, toks, metrics.logprob(target=3, position=-1), ablation="mean")
    assert game.plan["share_prefix"]  # blocks.1.hook_resid_pre exists and reproduces the plain forward
    assert not game.plan["restrict_unembed"]  # no unembed hook on this model: full logits, then positions
    rng = np.random.default_rng(0)
    masks = rng.random((12, game.n)) < 0.5

    def value(logits):
        return torch.log_softmax(logits[:, -1].double(), -1)[:, 3]

    oracle = reference_masked_values(
        model, toks, masks, [(1, 0), (1, 1), (1, 2)], [(1, 2), (1, 4)], "mean", toks, value
    )
    np.testing.assert_allclose(game(masks), oracle, rtol=1e-5, atol=1e-6)
