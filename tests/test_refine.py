"""Coarse to fine (refine_units) on a planted neuron-level AND, and its documented failure mode."""

from __future__ import annotations

import numpy as np
import pytest

import spex_mech as sm
from spex_mech.units.refine import refine_units, select_units, subset
from spex_mech.zoo import neuron_and


def _game(planted, units):
    return sm.AblationGame(planted.model, units, neuron_and.tokens(), neuron_and.metric(), ablation="zero")


def _close(got, truth, tol=1e-4):
    got = {k: v for k, v in got.items() if abs(v) > tol}
    assert set(got) == set(truth), (got, truth)
    for k, v in truth.items():
        assert got[k] == pytest.approx(v, abs=tol)


@pytest.fixture(scope="module")
def planted():
    return neuron_and.build(n_layers=3, d_mlp=16, n_heads=1, layer_a=0, layer_b=1, distractors=3, seed=1)


@pytest.fixture(scope="module")
def cancelling():
    return neuron_and.build(n_layers=3, d_mlp=8, n_heads=1, layer_a=0, layer_b=1, distractors=2, cancel=True, seed=2)


def test_coarse_then_fine_recovers_the_planted_neuron_and(planted):
    model = planted.model
    coarse = sm.AttentionHeads(model) + sm.MLPLayers(model)  # 3 heads + 3 MLPs
    first = sm.exhaustive(_game(planted, coarse))
    _close(first.mobius(), planted.true_mobius(coarse))  # the construction's truth, whole-MLP level
    fine = refine_units(first, coarse, others="active")
    # only the two interacting MLPs are expanded; everything else is fixed at kept
    assert fine.ids == sm.MLPNeurons(model, 0).ids + sm.MLPNeurons(model, 1).ids
    second = sm.spex(_game(planted, fine), max_order=2, b=4, seed=0)
    truth = planted.true_mobius(fine)
    a = fine.index(f"blocks.{planted.a[0]}.mlp.hook_post[{planted.a[1]}]")
    b = fine.index(f"blocks.{planted.b[0]}.mlp.hook_post[{planted.b[1]}]")
    assert truth[(a, b)] == planted.and_weight
    _close(second.mobius(), truth)
    # the refined units really are the neurons: values equal a hand-built game's on random masks
    masks = np.random.default_rng(0).random((40, len(fine))) < 0.5
    by_hand = sm.MLPNeurons(model, 0) + sm.MLPNeurons(model, 1)
    np.testing.assert_array_equal(_game(planted, fine)(masks), _game(planted, by_hand)(masks))


def test_others_keep_puts_neurons_in_place_of_their_mlp(planted):
    model = planted.model
    coarse = sm.AttentionHeads(model) + sm.MLPLayers(model)
    fine = refine_units(None, coarse, expand=["L1M"])
    assert fine.ids == coarse.ids[:4] + sm.MLPNeurons(model, 1).ids + coarse.ids[5:]
    expected = subset(coarse, [0, 1, 2, 3]) + sm.MLPNeurons(model, 1) + subset(coarse, [5])
    masks = np.random.default_rng(1).random((30, len(fine))) < 0.5
    np.testing.assert_array_equal(_game(planted, fine)(masks), _game(planted, expected)(masks))
    # the truth moves with the units: L0M stays whole, layer 1 is per neuron
    _close(
        sm.exhaustive(
            _game(planted, subset(fine, [3, fine.index(f"blocks.1.mlp.hook_post[{planted.b[1]}]")]))
        ).mobius(),
        planted.true_mobius(subset(fine, [3, fine.index(f"blocks.1.mlp.hook_post[{planted.b[1]}]")])),
    )


def test_cancelling_neurons_hide_from_the_coarse_search(cancelling):
    """The failure mode: neurons a (+1) and a2 (−1) of one layer cancel, so the whole-MLP unit writes
    nothing either way; the coarse search sees no interaction and the neuron-level AND is never searched."""
    model = cancelling.model
    coarse = sm.AttentionHeads(model) + sm.MLPLayers(model)
    first = sm.exhaustive(_game(cancelling, coarse))
    l0, l1 = coarse.index("L0M"), coarse.index("L1M")
    assert abs(first.mobius().get((l0, l1), 0.0)) < 1e-6  # the whole-MLP pair shows nothing
    assert select_units(first) == []
    with pytest.raises(ValueError, match="cancel inside a layer"):
        refine_units(first, coarse)
    # yet at neuron level the interaction is there (flat search over the two layers' neurons)
    neurons = sm.MLPNeurons(model, 0) + sm.MLPNeurons(model, 1)
    flat = sm.exhaustive(_game(cancelling, neurons))
    truth = cancelling.true_mobius(neurons)
    _close(flat.mobius(), truth)
    a, a2, b = (
        neurons.index(f"blocks.{layer}.mlp.hook_post[{n}]") for layer, n in (cancelling.a, cancelling.a2, cancelling.b)
    )
    assert truth[(a, b)] == 2.0 and truth[tuple(sorted((a, a2, b)))] == -2.0
    # choosing the layers by hand recovers it
    fine = refine_units(None, coarse, expand=["L0M", "L1M"], others="none")
    _close(sm.exhaustive(_game(cancelling, fine)).mobius(), cancelling.true_mobius(fine))


def test_bad_requests_are_named(planted):
    model = planted.model
    coarse = sm.AttentionHeads(model) + sm.MLPLayers(model)
    with pytest.raises(ValueError, match="only whole-MLP units"):
        refine_units(None, coarse, expand=["L0H0"])
    with pytest.raises(ValueError, match="no unit with id or label 'L9M'"):
        refine_units(None, coarse, expand=["L9M"])
    with pytest.raises(ValueError, match="others must be one of"):
        refine_units(None, coarse, expand=["L0M"], others="drop")
    other = sm.Interactions.from_mobius({(0,): 1.0}, n=len(coarse) - 1)
    with pytest.raises(ValueError, match="the result is over 5 units"):
        refine_units(other, coarse)
    with pytest.raises(ValueError, match="names layer"):
        refine_units(None, coarse, expand=["L0M"], neurons={2: [0]})
    fine = refine_units(None, coarse, expand=["L1M"], neurons={1: [3, 5]}, others="none")
    assert fine.labels == ["L1N3", "L1N5"]
