"""Build the hand-set planted model and commit its weights (no training, deterministic).

    python circuits/planted/build.py     # writes circuits/planted/{config.json,weights.pt}

The construction and its known Möbius spectrum are documented in spex_mech/zoo/planted.py.
"""

from pathlib import Path

from spex_mech.zoo import planted

if __name__ == "__main__":
    planted.save(planted.build(), str(Path(__file__).resolve().parent))
    print("planted Möbius spectrum over heads:", planted.head_mobius())
