"""Train the sentiment-with-negation model and write its weights (seeded; a few minutes on 2 CPU cores).

    python circuits/sentiment/train.py            # writes circuits/sentiment/{config.json,weights.pt}
    python circuits/sentiment/train.py --out DIR  # or into DIR

Recipe: spex_mech.zoo.sentiment (2 layers × 4 heads, d_model 64, d_mlp 128, GELU, vocabulary 43,
context 16; AdamW with a one-cycle schedule, peak lr 2e-3, weight decay 0.01, batch 128, 600 steps,
seed 0). Each batch holds fresh sentences of the synthetic language; 60% of them have words replaced
by <pad> at a random rate in [0, 0.7), labelled by the language's rule on what is left.
"""

import argparse
from pathlib import Path

import torch

from spex_mech.zoo import sentiment

STEPS = 600
SEED = 0

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="train the sentiment-with-negation zoo model")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent), help="output folder")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one thread: reproducible reductions, and fast on a shared CPU
    model, history = sentiment.train(steps=STEPS, seed=SEED)
    clean = sentiment.accuracy(model, n=4000, seed=1, mask_share=0.0)
    masked = sentiment.accuracy(model, n=4000, seed=2, mask_share=1.0)
    print(f"held-out accuracy: clean sentences {clean:.4f}, masked sentences {masked:.4f}")
    sentiment.save(
        model,
        args.out,
        history,
        recipe={"steps": STEPS, "seed": SEED, "batch": 128, "lr": 2e-3, "weight_decay": 0.01},
        accuracy={"clean": clean, "masked": masked},
    )
