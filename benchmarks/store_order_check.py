"""Bit-for-bit check of stored game values before and after a refactoring of the value functions.

Prints, as ``float.hex``, the values of ``StoredValueFunction(AblationGame)`` (a fresh call and a
repeated one), of the game alone, of ``TrainingSubsets`` on the same masks, and SPEX's spectrum on the
game (packed masks). Run it once on each tree and compare the outputs byte for byte::

    git archive <before> | tar -x -C /tmp/before
    python benchmarks/store_order_check.py /tmp/before > /tmp/before.txt
    python benchmarks/store_order_check.py . > /tmp/after.txt
    cmp /tmp/before.txt /tmp/after.txt

The result of the s24-games run is in ``benchmarks/results/store_order_check_s24_games.md``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch


def main(root: str) -> None:
    """Print the values of the tree at ``root`` (see the module docstring)."""
    sys.path.insert(0, str(Path(root).resolve()))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import spex_mech as sm
    import spex_mech.units.data as data
    from conftest import build_tiny
    from spex_mech import metrics
    from spex_mech.store import StoredValueFunction

    model = build_tiny(seed=0)
    tokens = torch.randint(0, 40, (5, 12), generator=torch.Generator().manual_seed(1))
    units = sm.AttentionHeads(model) + sm.MLPNeurons(model, 0, neurons=range(8))
    game = sm.AblationGame(model, units, tokens, metrics.logprob(target=7), batch_size=37)
    rng = np.random.default_rng(0)
    masks = rng.random((300, game.n)) < 0.5
    masks = np.concatenate([masks, masks[::7]])
    out = []
    with tempfile.TemporaryDirectory() as folder:
        stored = StoredValueFunction(game, Path(folder) / "store", flush_every=64)
        out += [stored(masks), stored(masks[::-1])]
    out.append(game(masks))

    def train(indices, seed):
        return float(indices.sum()) + np.random.default_rng(seed).normal()

    subsets = data.TrainingSubsets(6, train, lambda m: m, batch_size=5, seed=3)
    out.append(subsets(masks[:, :6]))
    result = sm.spex(game, max_order=2, b=4, seed=0)
    print(" ".join(v.hex() for values in out for v in values.tolist()))
    print(sorted((k, float(v).hex()) for k, v in result.fourier.items()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
