"""Head roles (issue 19): planted attention patterns, and agreement with the induction zoo's own scores."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest
import torch

from spex_mech.circuits import head_roles


class _PlantedAttention(torch.nn.Module):
    """One layer, 4 heads with planted patterns: 0 duplicate-token, 1 previous-token, 2 induction,
    3 attends to BOS only. The pattern is computed from the ids, as a real head would."""

    def __init__(self):
        super().__init__()
        self.cfg = SimpleNamespace(n_layers=1, n_heads=4, d_vocab=50, n_ctx=32)
        self.w = torch.nn.Parameter(torch.zeros(1))
        self._hooks = []

    @contextlib.contextmanager
    def hooks(self, fwd_hooks=()):
        self._hooks = list(fwd_hooks)
        try:
            yield
        finally:
            self._hooks = []

    def forward(self, toks):
        b, n = toks.shape
        pat = torch.zeros(b, 4, n, n)
        for q in range(n):
            pat[:, 3, q, 0] = 1.0
            pat[:, 1, q, max(q - 1, 0)] = 1.0
            for row in range(b):
                earlier = [k for k in range(q) if toks[row, k] == toks[row, q]]
                if earlier:
                    pat[row, 0, q, earlier[-1]] = 1.0
                    pat[row, 2, q, earlier[-1] + 1] = 1.0
                else:
                    pat[row, 0, q, 0] = pat[row, 2, q, 0] = 1.0
        for name, fn in self._hooks:
            assert name == "blocks.0.attn.hook_pattern"
            fn(pat)
        return torch.zeros(b, n, 50)


def test_planted_patterns_get_their_roles():
    roles = head_roles(_PlantedAttention(), n_prompts=8, span=6, seed=1)
    s = roles.scores
    assert s["L0H0"]["duplicate-token"] == pytest.approx(1.0)
    assert s["L0H1"]["previous-token"] == pytest.approx(1.0)
    assert s["L0H2"]["induction"] == pytest.approx(1.0)
    assert roles.roles == {"L0H0": ("duplicate-token",), "L0H1": ("previous-token",), "L0H2": ("induction",)}
    assert roles.describe("L0H1") == "prev-token L0H1" and roles.describe("L0H3") == "L0H3"


def test_induction_model_roles_agree_with_the_zoos_scores():
    from spex_mech.zoo import induction

    model = induction.load()
    roles = head_roles(model)
    zoo = induction.head_scores(model)  # an independent measurement on the training layout
    for label, s in zoo.items():
        assert (s["previous_token"] > 0.5) == ("previous-token" in roles.roles.get(label, ())), label
        assert (s["induction"] > 0.5) == ("induction" in roles.roles.get(label, ())), label
    assert roles.describe("L0H0") == "prev-token L0H0" and roles.describe("L1H2") == "induction L1H2"
