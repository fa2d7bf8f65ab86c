"""Value functions in one place (spex_mech.games).

The shared protocol, old import paths, packed masks, the store composition, and the import layering
(units never import the engine).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import spex_mech as sm
from spex_mech import metrics
from spex_mech.games import Game, PartialEvaluation, Recorder, StoredValueFunction, TrainingSubsets
from spex_mech.store import MemoryStore, StoreError
from spex_mech.valuefn import PackedMasks

PACKAGE = Path(sm.__file__).resolve().parent


def _sum_train(indices, seed):
    return float(len(indices))


def _identity(model):
    return model


def _games(tiny_model, tiny_tokens, tmp_path):
    game = sm.AblationGame(tiny_model, sm.AttentionHeads(tiny_model), tiny_tokens, metrics.logprob(target=7))
    data = TrainingSubsets([[0, 1], [2], [3, 4]], _sum_train, _identity)
    stored = StoredValueFunction(game, tmp_path / "store")
    recorder = Recorder(data)
    return {"ablation": game, "training": data, "stored": stored, "recorder": recorder}


@pytest.mark.parametrize("kind", ["ablation", "training", "stored", "recorder"])
def test_every_value_function_satisfies_the_protocol(kind, tiny_model, tiny_tokens, tmp_path):
    f = _games(tiny_model, tiny_tokens, tmp_path)[kind]
    assert isinstance(f, Game)
    masks = np.ones((3, f.n), dtype=bool)
    masks[1, 0] = masks[2, -1] = False
    values = f(masks)
    assert values.dtype == np.float64 and values.shape == (3,)
    assert f.n_evaluations == 3  # three distinct masks, each evaluated once
    prov = f.provenance()
    assert prov == {"labels": list(f.labels), "ids": f.ids, "n_evaluations": 3}
    assert len(prov["labels"]) == f.n
    # the protocol is what algorithms read: a result carries the same provenance
    result = sm.exhaustive(f)
    assert result.labels == list(f.labels) and result.n == f.n


def test_old_import_paths_name_the_same_objects():
    from spex_mech.engine import AblationGame as a1
    from spex_mech.engine.game import AblationGame as a2
    from spex_mech.games import AblationGame as a3
    from spex_mech.store import StoredValueFunction as s1
    from spex_mech.units.data import Recorder as r1, TrainingSubsets as t1, linear_datamodel as d1, lds as l1
    from spex_mech.units.lds import Recorder as r2, linear_datamodel as d2, lds as l2
    from spex_mech.algorithms.baselines import linear_datamodel as d3
    from spex_mech.evaluation import lds as l3
    import spex_mech.engine.metrics as m1
    import spex_mech.engine.prompts as p1

    assert a1 is a2 is a3 is sm.AblationGame
    assert s1 is StoredValueFunction and t1 is TrainingSubsets is sm.TrainingSubsets
    assert r1 is r2 is Recorder and d1 is d2 is d3 and l1 is l2 is l3
    assert m1 is sm.metrics and p1.prepare_prompts is sm.engine.prepare_prompts


def _nodes(tree: ast.AST):
    """Yield every node, except the bodies of module ``__getattr__`` functions.

    Those are lazy re-exports of old names, run only when that name is asked for.
    """
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            continue
        yield node
        yield from _nodes(node)


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth of its code (functions too)."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = set()
    for node in _nodes(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            out.add(name)
            out |= {f"{name}.{alias.name}" for alias in node.names}  # `from pkg import submodule`
    return {n for n in out if n.startswith("spex_mech")}


def _graph() -> dict[str, set[str]]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        # the root package is the public façade that imports everything; it runs before any submodule
        deps = {d for d in _imports(path, name) if d in modules and d != "spex_mech"}
        # importing a submodule runs its parent packages (the root package aside: it imports everything)
        parts = name.split(".")
        deps |= {".".join(parts[:k]) for k in range(2, len(parts))}
        graph[name] = deps - {name}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_units_never_import_the_engine():
    graph = _graph()
    units = [m for m in graph if m == "spex_mech.units" or m.startswith("spex_mech.units.")]
    assert "spex_mech.units.tokens" in units and len(units) >= 8
    for module in units:
        engine = sorted(m for m in _reachable(graph, module) if m.startswith("spex_mech.engine"))
        assert not engine, f"{module} imports {engine}"
    # the check can fail: the engine's own game module does reach the engine
    assert any(m.startswith("spex_mech.engine") for m in _reachable(graph, "spex_mech.games.ablation"))


def test_engine_does_not_import_the_games_at_import_time():
    graph = _graph()
    reach = _reachable(graph, "spex_mech.engine.hookgroups") | _reachable(graph, "spex_mech.engine.prefix")
    assert not {m for m in reach if m.startswith("spex_mech.games")}


# ------------------------------------------------------------------------------ packed masks
def test_ablation_game_packed_masks_are_bit_identical_and_unpacked_per_pass(tiny_model, tiny_tokens, monkeypatch):
    game = sm.AblationGame(
        tiny_model, sm.AttentionHeads(tiny_model), tiny_tokens, metrics.logprob(target=7), batch_size=2 * 5
    )
    assert game.accepts_packed is True
    rng = np.random.default_rng(3)
    masks = rng.random((9, game.n)) < 0.5
    plain = game(masks)
    seen = []
    real = PackedMasks.unpack

    def counting(self):
        seen.append(len(self))
        return real(self)

    monkeypatch.setattr(PackedMasks, "unpack", counting)
    packed = game(PackedMasks.from_bool(masks))
    assert packed.tobytes() == plain.tobytes()
    assert seen and max(seen) <= 2 and sum(seen) == 9  # one forward pass (2 masks × 5 prompts) at a time
    with pytest.raises(ValueError, match="mask width 7 does not match the 8 units"):
        game(PackedMasks.from_bool(masks[:, :7]))


def test_spex_on_a_model_gives_the_same_result_with_packed_masks(tiny_model, tiny_tokens):
    game = sm.AblationGame(tiny_model, sm.AttentionHeads(tiny_model), tiny_tokens, metrics.logprob(target=7))
    seen_types = set()

    def bool_only(masks):  # the same game without accepts_packed: SPEX hands it bool masks
        seen_types.add(type(masks).__name__)
        return game(masks)

    bool_only.n = game.n
    packed = sm.spex(game, max_order=2, b=3, seed=0)
    unpacked = sm.spex(bool_only, max_order=2, b=3, seed=0)
    assert seen_types == {"ndarray"}
    assert packed.fourier.keys() == unpacked.fourier.keys()
    for key, value in packed.fourier.items():
        assert np.float64(value).tobytes() == np.float64(unpacked.fourier[key]).tobytes()


# ------------------------------------------------------------------------------ the store composition
def test_stored_value_function_evaluates_new_masks_once_in_the_order_chosen():
    asked = []

    def f(masks):
        asked.extend(tuple(r) for r in masks.astype(int))
        return masks.sum(axis=1).astype(float)

    f.n = 3
    masks = np.array([[1, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=bool)
    first_asked = [(1, 1, 0), (0, 0, 1), (1, 0, 0)]
    packed_order = [(0, 0, 1), (1, 0, 0), (1, 1, 0)]  # packbits: 0b00100000 < 0b10000000 < 0b11000000
    for in_order, expect in ((True, first_asked), (False, packed_order)):
        asked.clear()
        stored = StoredValueFunction(f, MemoryStore(3), flush_every=2, in_order=in_order)
        np.testing.assert_array_equal(stored(masks), [2, 1, 2, 1, 1])
        assert asked == expect
        assert stored.n_evaluations == 3 and stored.n_reused == 0
        stored(masks[::-1])
        assert len(asked) == 3 and stored.n_reused == 5


def test_partial_evaluation_keeps_finished_rows_and_names_the_failing_one():
    def f(masks):
        done = np.ones(len(masks), dtype=bool)
        done[1:] = False
        raise PartialEvaluation(done, np.where(done, 4.0, np.nan), 1, RuntimeError("boom"))

    f.n = 2
    stored = StoredValueFunction(f, MemoryStore(2), flush_every=8, in_order=True)
    masks = np.array([[1, 1], [1, 1], [0, 1], [1, 0]], dtype=bool)
    with pytest.raises(PartialEvaluation) as err:
        stored(masks)
    assert err.value.row == 2 and stored.n_evaluations == 1  # the duplicate row 1 is not evaluated
    found, values = stored.store.lookup(masks)
    np.testing.assert_array_equal(found, [True, True, False, False])
    assert values[0] == 4.0


def test_memory_store_refuses_one_mask_with_two_values():
    store = MemoryStore(3)
    masks = np.array([[1, 0, 1], [0, 0, 0]], dtype=bool)
    store.append(masks, np.array([1.0, 2.0]))
    store.append(masks[:1], np.array([1.0]))  # the same value again: fine
    with pytest.raises(StoreError, match="already recorded with value 1.0, now 1.5"):
        store.append(masks[:1], np.array([1.5]))
    loaded, values = store.load()
    np.testing.assert_array_equal(loaded, masks)
    np.testing.assert_array_equal(values, [1.0, 2.0])
    assert len(store) == 2
