"""Identity hashes: contents, not names; weight-file hashes cached by path, size and mtime."""

from __future__ import annotations

import os

import numpy as np
import torch

from spex_mech import identity


def test_weight_files_are_hashed_once_and_rehashed_when_they_change(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEX_MECH_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\x01" * 1000)
    calls = []
    real = identity._sha_file
    monkeypatch.setattr(identity, "_sha_file", lambda p: calls.append(p.name) or real(p))
    first = identity.hash_model(None, folder)
    assert sorted(calls) == ["config.json", "model.safetensors"]
    calls.clear()
    assert identity.hash_model(None, folder) == first and calls == []  # answered from the cache
    (folder / "model.safetensors").write_bytes(b"\x02" * 1000)  # same size, new mtime
    st = (folder / "model.safetensors").stat()
    os.utime(folder / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    changed = identity.hash_model(None, folder)
    assert changed != first and calls == ["model.safetensors"]


def test_model_hash_follows_tensors_not_objects():
    a = torch.nn.Linear(3, 2)
    b = torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert identity.hash_model(a) == identity.hash_model(b)
    with torch.no_grad():
        b.weight[0, 0] += 1e-6
    assert identity.hash_model(a) != identity.hash_model(b)


def test_token_hash_is_by_content_and_dtype_independent():
    t = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert identity.hash_tokens(t) == identity.hash_tokens(np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32))
    assert identity.hash_tokens(t) == identity.hash_tokens([[1, 2, 3], [4, 5, 6]])
    assert identity.hash_tokens(t) != identity.hash_tokens(torch.tensor([[1, 2, 3], [4, 5, 7]]))
    assert identity.hash_tokens(t) != identity.hash_tokens(torch.tensor([[1, 2, 3, 4, 5, 6]]))
    assert identity.hash_tokens(["a b", "c"]) != identity.hash_tokens(["a b", "d"])
    assert identity.hash_tokens([[1, 2], [3]]) != identity.hash_tokens([[1], [2, 3]])  # ragged
    assert identity.hash_tokens(None) is None
