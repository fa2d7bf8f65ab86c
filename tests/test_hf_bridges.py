"""boot_transformers bridges at full speed: prefix sharing and restricted unembedding on, and exact."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import spex_mech as sm
from spex_mech import metrics

from ._hf_folders import boot, gpt2_folder, llama_folder, neox_folder
from .conftest import reference_masked_values

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

BUILDERS = {"gpt2": gpt2_folder, "neox": neox_folder, "llama": llama_folder}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def hf_model(request, tmp_path_factory):
    return request.param, boot(BUILDERS[request.param](tmp_path_factory.mktemp(request.param), n_layer=3))


def _tokens(seed: int = 0, shape=(3, 9)) -> torch.Tensor:
    return torch.randint(1, 300, shape, generator=torch.Generator().manual_seed(seed))  # id 0 is padding


def _logprob_at_last(target):
    return lambda logits: torch.log_softmax(logits[:, -1].double(), -1)[:, target]


@pytest.mark.parametrize("ablation", ["mean", "resample"])
@pytest.mark.parametrize("kind", ["heads_late", "neurons", "heads_all"])
def test_sharing_on_and_exact_against_per_mask_hooks(hf_model, kind, ablation):
    name, model = hf_model
    toks = _tokens()
    ref = _tokens(1) if ablation == "resample" else None
    if kind == "heads_late":
        units, heads, neurons = sm.AttentionHeads(model, layers=[2]), [(2, h) for h in range(4)], []
    elif kind == "neurons":
        units, heads, neurons = sm.MLPNeurons(model, 1, neurons=[0, 3, 7, 11]), [], [(1, 0), (1, 3), (1, 7), (1, 11)]
    else:
        units, heads, neurons = sm.AttentionHeads(model), [(l, h) for l in range(3) for h in range(4)], []
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no fallback warning allowed
        game = sm.AblationGame(model, units, toks, metrics.logprob(target=5), ablation=ablation, reference=ref)
    assert game.plan["share_prefix"] and game.plan["restrict_unembed"], (name, game.plan)
    masks = np.random.default_rng(0).random((8, game.n)) < 0.5
    oracle = reference_masked_values(
        model, toks, masks, heads, neurons, ablation, toks if ref is None else ref, _logprob_at_last(5)
    )
    np.testing.assert_allclose(game(masks), oracle, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["heads", "neurons", "attn_layers"])
def test_game_build_costs_reference_plus_two_small_passes(hf_model, kind):
    _, model = hf_model
    units = {
        "heads": lambda: sm.AttentionHeads(model, layers=[1, 2]),
        "neurons": lambda: sm.MLPNeurons(model, 0) + sm.MLPNeurons(model, 2),
        "attn_layers": lambda: sm.AttentionLayers(model),
    }[kind]()
    calls = []
    handle = model.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0] if args else None))
    try:
        game = sm.AblationGame(model, units, _tokens(shape=(6, 9)), metrics.logprob(target=5))
    finally:
        handle.remove()
    assert game.plan["share_prefix"] and game.plan["restrict_unembed"]
    # one clean pass that also records the mean reference, then the plain and the fast verification runs
    assert len(calls) == 3, calls
    assert calls[0] == 6 and calls[1] == 3 * 4 and calls[2] == 4  # 3 masks × 4 prompts plainly; 4 rows shared


# -------------------------------------------------------------- a model that cannot share its prefix
class _SideBlock(nn.Module):
    """A block that adds a per-prompt side input computed from the tokens (batch-shaped, not in the stream)."""

    def __init__(self, d, heads, d_head, gen):
        super().__init__()
        from transformer_lens.hook_points import HookPoint

        self.hook_resid_pre = HookPoint()
        self.attn = nn.Module()
        self.attn.hook_z = HookPoint()
        self.ln1 = nn.Module()
        self.W_V = nn.Parameter(torch.randn(d, heads, d_head, generator=gen) / d**0.5)
        self.W_O = nn.Parameter(torch.randn(heads, d_head, d, generator=gen) / d_head**0.5)

    def forward(self, x, side):
        x = self.hook_resid_pre(x)
        ctx = torch.cumsum(x, dim=1) / torch.arange(1, x.shape[1] + 1)[None, :, None]
        z = self.attn.hook_z(torch.einsum("bpd,dhe->bphe", ctx, self.W_V))
        return x + torch.einsum("bphe,hed->bpd", z, self.W_O) + side


def _side_input_model():
    from transformer_lens import HookedRootModule

    class SideModel(HookedRootModule):
        def __init__(self, vocab=20, d=16, heads=3, d_head=4, layers=2):
            super().__init__()
            gen = torch.Generator().manual_seed(0)
            self.W_E = nn.Parameter(torch.randn(vocab, d, generator=gen))
            self.blocks = nn.ModuleList(_SideBlock(d, heads, d_head, gen) for _ in range(layers))
            self.W_U = nn.Parameter(torch.randn(d, vocab, generator=gen))
            self.setup()

        def forward(self, tokens):
            x = self.W_E[tokens]
            side = x.mean(dim=1, keepdim=True)  # [batch, 1, d]
            for block in self.blocks:
                x = block(x, side)
            return x @ self.W_U

    return SideModel()


def test_model_that_cannot_share_warns_in_words():
    model = _side_input_model()
    toks = torch.randint(0, 20, (3, 6), generator=torch.Generator().manual_seed(0))
    units = sm.AttentionHeads(model, layers=[1], n_heads=3, n_layers=2)
    with pytest.warns(
        UserWarning, match=r"prefix sharing is off for this model: every mask re-runs the embeddings and layers 0\.\.0"
    ) as rec:
        game = sm.AblationGame(model, units, toks, metrics.logprob(target=2))
    text = " ".join(str(w.message) for w in rec)
    assert "once per prompt" in text and "exactness check" in text
    assert not game.plan["share_prefix"]
    masks = np.random.default_rng(1).random((6, game.n)) < 0.5
    oracle = reference_masked_values(
        model, toks, masks, [(1, h) for h in range(3)], [], "mean", toks, _logprob_at_last(2)
    )
    np.testing.assert_allclose(game(masks), oracle, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="prefix sharing is off"):
        sm.AblationGame(model, units, toks, metrics.logprob(target=2), share_prefix=True)
