"""Whole-model outputs (issue 21 item 6): every output path at n = 36,864 units (all MLP neurons of a
GPT-2-small-shaped model), on a cheap synthetic value function with a known sparse Möbius spectrum.

Oracles are independent of the code under test: Shapley/Banzhaf/SII by their hand formulas summed over
the planted terms, f(x) = Σ_{S ⊆ x} a(S) evaluated term by term, layer sums by a loop over the terms,
faithfulness ratios re-measured from f directly.
"""

from __future__ import annotations

import json
import struct
from itertools import combinations

import numpy as np
import pytest

import spex_mech as sm
from spex_mech.circuits import (
    extract_circuit,
    faithfulness_curves,
    minimal_circuit,
    ranking,
    unit_scores,
)
from spex_mech.circuits.minimal import prefix_sizes
from spex_mech.report import summary_table, write_figures, write_report
from spex_mech.results.layers import layer_summary
from spex_mech.store import MaskStore
from spex_mech.synthetic import SparseFunction

N_LAYERS, D_MLP = 12, 3072
N = N_LAYERS * D_MLP


def _names():
    labels = [f"L{l}N{i}" for l in range(N_LAYERS) for i in range(D_MLP)]
    ids = [f"blocks.{l}.mlp.hook_post[{i}]" for l in range(N_LAYERS) for i in range(D_MLP)]
    return labels, ids


def _planted(count: int = 50, seed: int = 0) -> dict[tuple[int, ...], float]:
    rng = np.random.default_rng(seed)
    terms: dict[tuple[int, ...], float] = {}
    while len(terms) < count:
        order = int(rng.integers(1, 4))
        units = tuple(sorted(int(u) for u in rng.choice(N, size=order, replace=False)))
        terms[units] = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 1.0))
    terms[(5, 6)] = 0.75  # two terms within one layer (layer 0), for the diagonal of the layer map
    terms[(7, 8, 3072)] = -0.5  # a 3-way term across layers 0 and 1
    return terms


@pytest.fixture(scope="module")
def whole():
    labels, ids = _names()
    terms = _planted()
    result = sm.Interactions.from_mobius(terms, N, labels=labels, ids=ids, algorithm="truth", n_evaluations=1234)
    f = SparseFunction(N, terms, basis="mobius", labels=labels)
    f.ids = ids
    return terms, result, f


def _direct(terms, masks: np.ndarray) -> np.ndarray:
    """f(x) = Σ_S a(S)·[S ⊆ x], term by term (no spectrum code)."""
    out = np.zeros(masks.shape[0])
    for units, a in terms.items():
        out += a * masks[:, list(units)].all(axis=1)
    return out


def test_conversions_match_hand_formulas(whole):
    terms, result, _ = whole
    shapley = np.zeros(N)
    banzhaf = np.zeros(N)
    for units, a in terms.items():
        for i in units:
            shapley[i] += a / len(units)
            banzhaf[i] += a / 2 ** (len(units) - 1)
    np.testing.assert_allclose(result.shapley_values(), shapley, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.banzhaf_values(), banzhaf, rtol=0, atol=1e-12)
    mob = {k: v for k, v in result.mobius().items() if abs(v) > 1e-12}
    assert set(mob) == set(terms)
    assert max(abs(mob[k] - v) for k, v in terms.items()) < 1e-12
    sii = {}  # SII(T) = Σ_{S ⊇ T} a(S) / (|S| − |T| + 1), |T| ≤ 2
    for units, a in terms.items():
        for t in (1, 2):
            for sub in combinations(units, t):
                sii[sub] = sii.get(sub, 0.0) + a / (len(units) - t + 1)
    got = {k: v for k, v in result.index("SII", 2).items() if abs(v) > 1e-12}
    assert set(got) == {k for k, v in sii.items() if abs(v) > 1e-12}
    assert max(abs(got[k] - sii[k]) for k in got) < 1e-12
    masks = np.random.default_rng(1).random((300, N)) < 0.5
    masks[0] = True
    masks[1] = False
    np.testing.assert_allclose(result.predict(masks), _direct(terms, masks), rtol=0, atol=1e-9)
    top = result.top(5, basis="SV")
    assert [t.units[0] for t in top] == list(np.argsort(-np.abs(shapley), kind="stable")[:5])


def test_json_round_trip_is_exact(whole, tmp_path):
    _, result, _ = whole
    path = tmp_path / "r.json"
    text = result.to_json(str(path))
    assert len(text) < 3_000_000  # labels and ids once each, the spectrum sparse
    for back in (sm.Interactions.from_json(text), sm.Interactions.from_json(str(path))):
        assert back.n == N and back.labels == result.labels and back.ids == result.ids
        assert np.array_equal(back.keys, result.keys) and np.array_equal(back.coefficients, result.coefficients)
        assert back.n_evaluations == 1234 and back.algorithm == "truth"
    frame = result.to_dataframe("mobius")
    assert len(frame) == len(result.mobius()) and frame["ids"].iloc[0] == tuple(
        result.ids[i] for i in frame["units"].iloc[0]
    )


def test_layer_summary_matches_a_loop_over_the_terms(whole):
    terms, result, _ = whole
    s = layer_summary(result)
    assert s.groups == tuple(range(N_LAYERS)) and list(s.units) == [D_MLP] * N_LAYERS
    share = np.zeros(N_LAYERS)
    shap = np.zeros(N_LAYERS)
    mass = np.zeros((N_LAYERS, N_LAYERS))
    for units, a in terms.items():
        for i in units:
            share[i // D_MLP] += abs(a) / len(units)
            shap[i // D_MLP] += a / len(units)
        for i, j in combinations(units, 2):
            li, lj = i // D_MLP, j // D_MLP
            mass[li, lj] += abs(a)
            if li != lj:
                mass[lj, li] += abs(a)
    np.testing.assert_allclose(s.mobius_share, share, atol=1e-12)
    np.testing.assert_allclose(s.shapley, shap, atol=1e-12)
    np.testing.assert_allclose(s.pair_mass, mass, atol=1e-12)
    assert s.pair_mass[0, 0] >= 0.75 + 0.5  # (5, 6) and the pair (7, 8) of the 3-way term


def test_circuits_and_curves_are_measured_and_bounded(whole):
    terms, result, f = whole
    order = ranking(unit_scores(result, "mobius"))
    curves = faithfulness_curves(f, {"mobius": order}, warn=False)
    c = curves["mobius"]
    assert c.n_evaluations == 2 + 2 * 10  # MIB's 10 sizes, keep + ablate, plus the two ends
    ends = _direct(terms, np.stack([np.ones(N, bool), np.zeros(N, bool)]))
    inside = np.zeros((1, N), bool)
    inside[0, order[: c.sizes[3]]] = True
    assert c.keep[3] == pytest.approx((_direct(terms, inside)[0] - ends[1]) / (ends[0] - ends[1]), abs=1e-12)
    minimal = minimal_circuit(result, f, 0.9, warn=False)
    assert minimal.n_evaluations <= 2 + 2 * (256 + 16)  # bounded prefix grid + bisection, not 2n
    mask = minimal.mask[None]
    assert minimal.keep == pytest.approx((_direct(terms, mask)[0] - ends[1]) / (ends[0] - ends[1]), abs=1e-12)
    assert minimal.ablate == pytest.approx((_direct(terms, ~mask)[0] - ends[1]) / (ends[0] - ends[1]), abs=1e-12)
    assert minimal.found and max(abs(1 - minimal.keep), abs(minimal.ablate)) <= 0.1 + 1e-9
    involved = {u for k in terms for u in k}
    assert set(minimal.units) <= involved  # the ranking puts every unit of a term before the rest
    circuit = extract_circuit(result, 0.9, f=f)
    assert set(circuit.units) <= involved and circuit.measured["clean"] == pytest.approx(ends[0])


def test_prefix_sizes_grid():
    assert list(prefix_sizes(10, 256)) == list(range(1, 11))
    sizes = prefix_sizes(N, 256)
    assert sizes[0] == 1 and sizes[-1] == N and np.all(np.diff(sizes) > 0) and sizes.shape[0] <= 256
    assert list(sizes[:128]) == list(range(1, 129))


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    return struct.unpack(">II", head[16:24])


@pytest.mark.slow
def test_report_and_figures_at_whole_model_scale(whole, tmp_path):
    _, result, f = whole
    rankings = {"mobius": ranking(unit_scores(result, "mobius")), "Shapley": ranking(unit_scores(result, "shapley"))}
    curves = faithfulness_curves(f, rankings, warn=False)
    minimal = minimal_circuit(result, f, 0.9, warn=False)
    circuit = extract_circuit(result, 0.9, f=f)
    figures = write_figures(result, tmp_path, ("png",), circuit=minimal, curves=curves, metric="synthetic")
    assert set(figures) == {"top_interactions", "interaction_graph", "pairwise", "layers", "faithfulness_curves"}
    for file in figures.values():
        w, h = _png_size(tmp_path / file)
        assert w < 4000 and h < 4000  # nothing grows with the number of units
    run = {"units": N, "unit_ids": result.ids}
    path = write_report(
        tmp_path,
        result,
        title="whole model",
        circuit=circuit,
        run_info=run,
        figures=figures,
        curves=curves,
        minimal=minimal,
    )
    page = path.read_text()
    assert len(page) < 200_000
    assert f"… {N - 40} more ({N} in total)" in page  # the 36,864 ids are abbreviated, not listed
    assert "layers.png" in page
    table = summary_table(result, k=10)
    assert len(table.splitlines()) == 11
    json.dumps(run)  # the stored run facts keep every id


def test_store_export_at_whole_model_scale_is_packed(tmp_path):
    rng = np.random.default_rng(0)
    masks = rng.random((600, N)) < 0.5
    values = rng.normal(size=600)
    store = MaskStore(tmp_path / "store", N, {"what": "test"})
    store.append(masks, values)
    found, got = MaskStore(tmp_path / "store", N, {"what": "test"}).lookup(masks[::7])
    assert found.all() and np.array_equal(got, values[::7])
    store.export_npz(tmp_path / "e.npz")
    data = np.load(tmp_path / "e.npz")
    assert "masks" not in data.files  # 600 × 36,864 cells: packed only
    unpacked = np.unpackbits(data["masks_packed"], axis=1, count=int(data["n"]), bitorder="little").astype(bool)
    assert np.array_equal(unpacked, masks) and np.array_equal(data["values"], values)
    small_masks = np.array([[1, 0, 1, 0, 1], [0, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)  # distinct rows
    small = MaskStore(tmp_path / "small", 5, {"what": "small"})
    small.append(small_masks, values[:3])
    small.export_npz(tmp_path / "s.npz")
    data = np.load(tmp_path / "s.npz")
    assert np.array_equal(data["masks"], small_masks) and np.array_equal(data["values"], values[:3])


@pytest.mark.slow
def test_cli_run_with_a_constant_surrogate_reports_instead_of_failing(tmp_path, monkeypatch):
    """A dense model (e.g. random GPT-2 weights) leaves SPEX with only the constant: the sweep must finish
    and say why there is no surrogate circuit, not end in a traceback after the evaluations."""
    import spex_mech
    from spex_mech.cli import main

    def constant_spex(f, n=None, *, budget=None, max_order=None, seed=0):  # spex's signature
        value = float(f(np.ones((1, f.n), dtype=bool))[0])
        return sm.Interactions.from_fourier(
            {(): value}, f.n, labels=f.labels, ids=f.ids, algorithm="spex", n_evaluations=1
        )

    monkeypatch.setattr(spex_mech, "spex", constant_spex)
    monkeypatch.setattr(spex_mech.algorithms.spex, "spex", constant_spex)  # what the CLI's registry resolves
    cfg = tmp_path / "planted.toml"
    cfg.write_text(
        '[model]\nzoo = "planted"\n[units]\nheads = "all"\n[ablation]\nkind = "zero"\n'
        '[algorithm]\nname = "spex"\nbudget = 1000\nmax_order = 3\nseed = 0\n'
        '[output]\nfaithfulness_samples = 50\nfigures = ["png"]\n'
    )
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 0
    run = json.loads((out / "results.json").read_text())["run"]
    assert "surrogate predicts no effect" in run["circuit"]["error"]
    assert run["minimal_circuit"]["n_evaluations"] >= 2  # still measured on the game
    summary = (out / "summary.txt").read_text()
    assert "no surrogate circuit" in summary and "the surrogate is a constant" in summary
    assert set(run["seconds"]) == {"algorithm_incl_model", "faithfulness", "circuits_curves_stability", "total"}


@pytest.mark.parametrize("name", ["gpt2_neurons.toml", "gpt2_neurons_planted.toml"])
def test_gpt2_neuron_configs_are_valid_and_plan_their_budget(name):
    from pathlib import Path

    from spex_mech.algorithms.spex import spex_plan
    from spex_mech.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / name)
    assert [e["layer"] for e in cfg.data["units"]["neurons"]] == list(range(N_LAYERS))
    assert all("neurons" not in e for e in cfg.data["units"]["neurons"])  # every neuron of every layer
    algo = cfg.data["algorithm"]
    plan = spex_plan(N, max_order=algo["max_order"], budget=algo["budget"])
    assert plan.n_evaluations == 4606


@pytest.mark.slow
def test_planted_gpt2_shape_has_the_planted_and_and_first_order_neurons():
    """The planted neurons do what the config's comments say, measured with everything else kept."""
    import torch

    from spex_mech import AblationGame, MLPNeurons
    from spex_mech.engine import metrics
    from spex_mech.zoo.shapes import (
        GPT2_SMALL,
        PLANTED_NEURONS,
        PLANTED_TARGET,
        gpt2_small_planted,
    )

    model = gpt2_small_planted(0)
    assert model.cfg.d_mlp == GPT2_SMALL["d_mlp"] and model.cfg.n_layers == N_LAYERS
    units = MLPNeurons(model, 0)
    for layer in range(1, N_LAYERS):
        units = units + MLPNeurons(model, layer)
    assert len(units) == N
    tokens = torch.tensor([[464, 3139, 286, 4881, 318, 6342, 13, 383]])
    game = AblationGame(
        model, units, tokens, metrics.logprob(target=PLANTED_TARGET, position=-1), ablation="zero", progress=False
    )
    col = {k: l * D_MLP + i for k, (l, i) in PLANTED_NEURONS.items()}
    assert all(
        game.ids[c] == f"blocks.{l}.mlp.hook_post[{i}]" for c, (l, i) in zip(col.values(), PLANTED_NEURONS.values())
    )
    masks = np.ones((6, N), dtype=bool)
    for row, drop in enumerate(["A", "B", "C", "D", "E"], start=1):
        masks[row, col[drop]] = False
    full, no_a, no_b, no_c, no_d, no_e = game(masks)
    for without in (no_a, no_b, no_c):  # the AND: any one of its three neurons ablated removes it
        assert full - without > 2.0
    assert max(no_a, no_b, no_c) - min(no_a, no_b, no_c) < 0.3
    assert full - no_d > 1.0 and no_e - full > 1.0  # D pushes towards the target, E away from it
