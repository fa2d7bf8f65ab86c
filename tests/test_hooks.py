"""Hook names, argument checks, block evaluation, and the prefix-sharing plan read from hook names.

Covers spex_mech.hooks, spex_mech.validation, spex_mech.chunked and spex_mech.engine.prefix.
"""

from __future__ import annotations

import numpy as np
import pytest

from spex_mech import hooks
from spex_mech.chunked import evaluate_blocks, rows_per_block
from spex_mech.engine.prefix import first_masked_layer, sharing_candidates
from spex_mech.units.base import Site


def test_hook_names_round_trip():
    assert hooks.block_hook(3, "hook_resid_pre") == "blocks.3.hook_resid_pre"
    assert hooks.head_hook(1) == "blocks.1.attn.hook_z"
    assert hooks.head_hook(1, "hook_result") == "blocks.1.attn.hook_result"
    assert hooks.neuron_hook(0) == "blocks.0.mlp.hook_post"
    for layer in (0, 7, 12):
        for tail in ("attn.hook_z", "mlp.hook_post", "hook_resid_mid"):
            name = hooks.block_hook(layer, tail)
            assert hooks.hook_layer(name) == layer and hooks.hook_tail(name) == tail
    assert hooks.hook_layer("hook_embed") == -1 and hooks.hook_layer("pos_embed.hook_out") == -1


@pytest.mark.parametrize(
    "name", ["ln_final.hook_normalized", "unembed.hook_in", "blocks.x.attn.hook_z", "", "blocks.3"]
)
def test_hook_layer_raises_naming_the_hook(name):
    with pytest.raises(ValueError, match=f"cannot read a layer from hook name {name!r}"):
        hooks.hook_layer(name)
    assert hooks.block_layer(name) is None
    with pytest.raises(ValueError, match="is not inside a block"):
        hooks.hook_tail(name)
    with pytest.raises(ValueError, match="cannot read a layer"):
        Site(name, dim=None, size=1, slices=(0,), columns=(0,)).layer


def test_unit_ids_parse_into_hook_and_index():
    assert hooks.unit_hook("blocks.1.attn.hook_z[2]") == ("blocks.1.attn.hook_z", "2")
    assert hooks.unit_hook("blocks.0.hook_resid_pre[:, 3]") == ("blocks.0.hook_resid_pre", ":, 3")
    assert hooks.unit_hook("blocks.0.hook_attn_out") == ("blocks.0.hook_attn_out", None)
    assert hooks.head_of_unit_id("blocks.1.attn.hook_z[2]") == (1, 2)
    assert hooks.head_of_unit_id("blocks.4.attn.hook_result[0]") == (4, 0)
    for other in ("blocks.1.mlp.hook_post[2]", "blocks.0.hook_resid_pre[:, 3]", "tok2", "train[3]", "L1H2"):
        assert hooks.head_of_unit_id(other) is None


def test_first_masked_layer_is_explicit_about_hooks_outside_the_blocks():
    assert first_masked_layer(["blocks.2.attn.hook_z", "blocks.1.mlp.hook_post"]) == 1
    assert first_masked_layer(["blocks.2.attn.hook_z", "ln_final.hook_normalized"]) == 2  # after the blocks
    assert first_masked_layer(["ln_final.hook_normalized"]) is None  # nothing in a block: no prefix to share
    assert first_masked_layer(["hook_embed", "blocks.1.attn.hook_z"]) is None  # masked before the blocks
    assert first_masked_layer(["encoder.hook_x", "blocks.1.attn.hook_z"]) is None  # a place we cannot tell


def test_sharing_candidates_for_heads_and_neurons():
    def everything(name):
        return True

    heads = sharing_candidates(["blocks.1.attn.hook_z"], everything, bridge=False)
    assert heads[0] == {
        "mode": "branch",
        "expand_hook": "blocks.1.hook_resid_pre",
        "branch_hook": "blocks.1.ln1.hook_in",
        "first_hook": ("blocks.1.attn.hook_z",),
    }
    assert heads[-1] == {"mode": "block", "expand_hook": "blocks.1.hook_resid_pre"}
    neurons = sharing_candidates(["blocks.0.mlp.hook_post"], everything, bridge=False)
    assert [c["expand_hook"] for c in neurons] == ["blocks.0.hook_resid_mid", "blocks.0.hook_resid_pre"]
    assert [c["expand_hook"] for c in sharing_candidates(["blocks.0.mlp.hook_post"], everything, bridge=True)] == [
        "blocks.0.hook_resid_pre"
    ]
    assert sharing_candidates(["hook_embed"], everything, bridge=False) == []


def test_evaluate_blocks_matches_one_call_and_bounds_each_block():
    rng = np.random.default_rng(0)
    masks = rng.random((103, 7)) < 0.5
    sizes = []

    def f(block):
        sizes.append(len(block))
        return block @ np.arange(1.0, 8.0)

    out = evaluate_blocks(f, 103, lambda a, b: masks[a:b], rows_per_block(7, max_cells=7 * 10))
    np.testing.assert_array_equal(out, masks @ np.arange(1.0, 8.0))
    assert sizes == [10] * 10 + [3]
    assert rows_per_block(1 << 30) == 1 and rows_per_block(0) == 1 << 25
