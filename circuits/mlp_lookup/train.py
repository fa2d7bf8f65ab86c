"""Train the MLP-lookup zoo model (AND of two token features) and commit its weights (seeded; seconds on CPU).

    python circuits/mlp_lookup/train.py     # writes circuits/mlp_lookup/{config.json,weights.pt}

Recipe: spex_mech.zoo.mlp_lookup (1 layer, 4 heads, 32 ReLU neurons, d_model 32, LayerNorm; AdamW
lr 3e-3, batch 128, 3000 steps, cross-entropy at the last position over the 256 prompts).
"""

from pathlib import Path

import numpy as np

from spex_mech.zoo import mlp_lookup

if __name__ == "__main__":
    model, history = mlp_lookup.train(seed=0)
    mlp_lookup.save(model, str(Path(__file__).resolve().parent), history)
    scores = mlp_lookup.neuron_scores(model)
    print("top neurons:", np.argsort(-scores)[:6].tolist(), np.sort(scores)[::-1][:6].round(3).tolist())
    print("head roles:", mlp_lookup.head_roles(model))
