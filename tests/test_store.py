"""The SQLite mask store: values answered only for the exact mask they were stored for, never from a
damaged, edited or foreign store, and whole batches or nothing after a SIGKILL at any moment."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import numpy as np
import pytest

from spex_mech.store import DB_NAME, MaskStore, StoreError, StoredValueFunction


def oracle(masks: np.ndarray) -> np.ndarray:
    """A value that depends on every bit, so a value served for the wrong mask shows."""
    masks = np.asarray(masks, dtype=bool)
    weights = np.sin(np.arange(1, masks.shape[1] + 1))
    return (masks * weights).sum(axis=1) + 0.1 * masks[:, 0] * masks[:, -1]  # no BLAS: safe in a forked child


def random_masks(n: int, m: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((m, n)) < 0.5


def test_lookup_and_load_against_a_dict(tmp_path):
    n = 37
    store = MaskStore(tmp_path / "s", n, {"kind": "test"})
    masks = random_masks(n, 300, 0)
    masks = np.unique(masks, axis=0)
    store.append(masks[:200], oracle(masks[:200]))
    store.append(masks[150:], oracle(masks[150:]))  # overlap with identical values: skipped, not duplicated
    assert len(store) == len(masks)
    queries = np.concatenate([masks[::3], random_masks(n, 50, 99)])
    found, values = store.lookup(queries)
    truth = {m.tobytes(): v for m, v in zip(masks, oracle(masks))}
    for q, hit, v in zip(queries, found, values):
        expected = truth.get(q.tobytes())
        assert hit == (expected is not None)
        assert (v == expected) if hit else np.isnan(v)
    loaded, vals = MaskStore(tmp_path / "s", n, {"kind": "test"}).load()
    np.testing.assert_array_equal(loaded, masks)
    assert vals.tolist() == oracle(masks).tolist()  # bit-exact floats


def test_conflicting_value_for_a_stored_mask_is_refused(tmp_path):
    store = MaskStore(tmp_path / "s", 5)
    m = np.array([[1, 0, 1, 0, 1]], dtype=bool)
    store.append(m, np.array([1.0]))
    with pytest.raises(StoreError, match=r"mask already stored \(row 1\) with value 1.0, now 2.0"):
        store.append(m, np.array([2.0]))
    with pytest.raises(ValueError, match="values must be finite"):
        store.append(~m, np.array([np.nan]))
    assert len(store) == 1


def test_foreign_identity_and_width_are_refused_naming_the_difference(tmp_path):
    MaskStore(tmp_path / "s", 8, {"model": "tensors:aaa", "ablation": "zero"}).append(np.ones((1, 8), bool), np.ones(1))
    with pytest.raises(
        StoreError, match=r"different value function: model \(stored \"tensors:aaa\", now \"tensors:bbb\"\)"
    ):
        MaskStore(tmp_path / "s", 8, {"model": "tensors:bbb", "ablation": "zero"})
    with pytest.raises(StoreError, match=r"tokens \(stored absent, now \"ids:1\"\)"):
        MaskStore(tmp_path / "s", 8, {"model": "tensors:aaa", "ablation": "zero", "tokens": "ids:1"})
    with pytest.raises(StoreError, match="holds masks over n=8 units, not 9"):
        MaskStore(tmp_path / "s", 9, {"model": "tensors:aaa", "ablation": "zero"})


def test_deleted_identity_record_is_refused_never_adopted(tmp_path):
    MaskStore(tmp_path / "s", 4, {"a": 1}).append(np.ones((1, 4), bool), np.ones(1))
    with sqlite3.connect(tmp_path / "s" / DB_NAME) as conn:
        conn.execute("delete from identity")
    with pytest.raises(StoreError, match="has no identity record, so what its values mean is unknown"):
        MaskStore(tmp_path / "s", 4, {"a": 1})


def test_old_binary_store_is_refused(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "records.bin").write_bytes(b"\x00" * 20)
    with pytest.raises(StoreError, match="old format"):
        MaskStore(tmp_path / "s", 4)
    assert (tmp_path / "s" / "records.bin").read_bytes() == b"\x00" * 20  # left as it was


def test_value_edited_with_sql_is_never_used(tmp_path):
    store = MaskStore(tmp_path / "s", 6)
    masks = np.unique(random_masks(6, 20, 1), axis=0)
    store.append(masks, oracle(masks))
    store.close()
    with sqlite3.connect(tmp_path / "s" / DB_NAME) as conn:
        conn.execute("update evals set value = value + 0.5 where id = 3")
    reopened = MaskStore(tmp_path / "s", 6)
    with pytest.raises(StoreError, match="row 3 fails its checksum check"):
        reopened.lookup(masks[2:3])
    with pytest.raises(StoreError, match="row 3 fails its checksum check"):
        reopened.load()
    found, values = reopened.lookup(masks[:1])  # an intact row is still answered
    assert found[0] and values[0] == oracle(masks[:1])[0]


def test_corrupted_or_truncated_file_refuses_or_serves_exact_values(tmp_path):
    """Flip bytes at many offsets of a checkpointed database, and truncate it: every attempt either
    raises StoreError or returns exactly the original masks and values."""
    n = 64
    masks = np.unique(random_masks(n, 400, 2), axis=0)
    store = MaskStore(tmp_path / "orig", n, {"k": "v"})
    store.append(masks, oracle(masks))
    store.close()  # checkpoint: everything is in the main file
    original = (tmp_path / "orig" / DB_NAME).read_bytes()
    rng = np.random.default_rng(3)
    outcomes = {"refused": 0, "exact": 0}
    cases = [("flip", int(o)) for o in rng.integers(100, len(original), 25)] + [
        ("cut", int(c)) for c in (len(original) // 2, 4096, 100)
    ]
    for i, (kind, where) in enumerate(cases):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        data = bytearray(original)
        if kind == "flip":
            data[where] ^= 0xFF
        else:
            data = data[:where]
        (folder / DB_NAME).write_bytes(bytes(data))
        try:
            s = MaskStore(folder, n, {"k": "v"}, create=False)
            s.verify()
            got_masks, got_values = s.load()
            found, looked = s.lookup(masks)
        except StoreError:
            outcomes["refused"] += 1
            continue
        np.testing.assert_array_equal(got_masks, masks)
        assert got_values.tolist() == oracle(masks).tolist()
        assert found.all() and looked.tolist() == oracle(masks).tolist()
        outcomes["exact"] += 1
    assert outcomes["refused"] >= 3, outcomes  # the truncations at least


def test_not_a_store_file_is_refused(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / DB_NAME).write_text("hello, I am a text file")
    with pytest.raises(StoreError, match="damaged or not a spex-mech store"):
        MaskStore(tmp_path / "s", 4)


def _writer(path, n, batch, write_fd):
    """Child of a fork: append batches of the oracle's values until killed."""
    try:
        store = MaskStore(path, n, {"k": "fork"})
        k = 0
        while True:
            masks = random_masks(n, batch, 1000 + k)
            os.write(write_fd, b"b")
            store.append(masks, oracle(masks))
            os.write(write_fd, b"e")
            k += 1
    finally:
        os._exit(0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_sigkill_at_random_moments_keeps_whole_batches_only(tmp_path):
    """≥ 20 real SIGKILLs of a writer process (many inside a commit): after each, the store opens,
    passes SQLite's integrity check and the row checksums, holds only whole batches, and every value is
    the oracle's for its mask; the next writer continues on the same store."""
    n, batch = 2048, 64
    rng = np.random.default_rng(4)
    path = tmp_path / "s"
    mid_commit = 0
    trials = 24
    for trial in range(trials):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os.close(r)
            _writer(path, n, batch, w)
        os.close(w)
        time.sleep(float(rng.uniform(0.03, 0.25)))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        with os.fdopen(r, "rb") as fh:
            progress = fh.read()
        mid_commit += progress.endswith(b"b")
        store = MaskStore(path, n, {"k": "fork"}, create=False)
        rows = store.verify()
        masks, values = store.load()
        assert rows == len(masks) and len(masks) % batch == 0, (trial, len(masks))
        assert len(np.unique(np.packbits(masks, axis=1), axis=0)) == len(masks)
        assert values.tolist() == oracle(masks).tolist()
        store.close()
    assert mid_commit >= 5, f"only {mid_commit} of {trials} kills landed inside append"


def test_stored_value_function_evaluates_each_mask_once_in_batches(tmp_path):
    calls = []

    def f(masks):
        calls.append(len(masks))
        return oracle(masks)

    g = StoredValueFunction(f, tmp_path / "s", n=10, flush_every=7)
    masks = np.unique(random_masks(10, 40, 5), axis=0)
    both = np.concatenate([masks, masks[:5]])
    assert g(both).tolist() == oracle(both).tolist()
    assert max(calls) <= 7 and sum(calls) == len(masks)
    g2 = StoredValueFunction(f, tmp_path / "s", n=10, flush_every=7)
    assert g2(masks).tolist() == oracle(masks).tolist() and sum(calls) == len(masks)
    assert g2.spot_check(n_random=4) == 4
    moved = StoredValueFunction(lambda m: oracle(m) + 1e-3, tmp_path / "s", n=10)
    with pytest.raises(StoreError, match=r"--resume: re-evaluating stored mask row \d+ \(\d+ of 10 units kept\) gives"):
        moved.spot_check()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8"])
def test_flush_every_must_be_a_positive_integer(tmp_path, bad):
    with pytest.raises(ValueError, match=f"flush_every must be a positive integer, got {bad!r}"):
        StoredValueFunction(oracle, tmp_path / "s", n=4, flush_every=bad)
