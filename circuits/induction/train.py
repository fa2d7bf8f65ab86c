"""Train the demo induction model and commit its weights (seeded; about a minute on 2 CPU cores).

    python circuits/induction/train.py            # writes circuits/induction/{config.json,weights.pt}

Recipe: spex_mech.zoo.induction (2 layers × 4 heads, attention-only, d_model 64, vocab 64, context 48;
AdamW lr 1e-3, weight decay 0.01, batch 64, 4000 steps; sequences with one repeated span whose length
(6–20), gap (0–4) and start are random per example).
"""

from pathlib import Path

from spex_mech.zoo import induction

if __name__ == "__main__":
    model, history = induction.train(steps=4000, seed=0)
    induction.save(model, str(Path(__file__).resolve().parent), history)
    for name, score in induction.head_scores(model).items():
        print(name, score)
