"""Data-lens examples on scikit-learn's bundled digits (8×8 images, 10 classes; no download).

* :func:`lens`: units are groups of training images (each class split into ``per_class`` clusters, so a
  unit reads like "the slanted 7s"); f(mask) is the correct-class margin of one chosen test image after
  retraining a multinomial logistic regression on the kept groups (all masks of a batch at once, see
  :class:`~spex_mech.units.retrain.BatchedLogisticRegression`).
* :func:`planted_lens`: the same background plus two planted groups that only *jointly* teach a rule.
  Two marker features ``u`` and ``v`` are 0 on every real image. Group A holds blank images with both
  markers on, labelled ``c``; group B blank images with only ``u`` on, labelled ``d``. A alone cannot
  tell which marker means ``c`` (the fit splits the weight evenly between ``u`` and ``v``); B alone only
  ties ``u`` to ``d``. Together they teach "``v`` means ``c``, ``u`` does not". The probe is a blank image
  with ``v`` on and ``u`` reversed (``u = −1``); the value is its log p(``c``) minus that of the blank
  image, which cancels class-frequency (bias) effects. A alone leaves it exactly 0 (the probe's markers
  are orthogonal to A's), B alone moves it a little, both together a lot: {A, B} is the top pair by
  construction.

Features are the training images projected on their first ``n_components`` principal components and
whitened (fitted once on the whole training pool, a fixed preprocessing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

__all__ = ["DigitsData", "load_data", "class_clusters", "hardest_correct", "lens", "planted_lens"]


@dataclass(frozen=True)
class DigitsData:
    """Whitened PCA features of a seeded train/test split of the digits.

    Attributes
    ----------
    X_train : numpy.ndarray
        Training features [N, k].
    y_train : numpy.ndarray
        Training labels [N].
    X_test : numpy.ndarray
        Test features [M, k].
    y_test : numpy.ndarray
        Test labels [M].
    images_train : numpy.ndarray
        Training images [N, 8, 8].
    images_test : numpy.ndarray
        Test images [M, 8, 8].
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    images_train: np.ndarray
    images_test: np.ndarray


def load_data(n_train: int = 500, n_components: int = 16, seed: int = 0) -> DigitsData:
    """Split the digits into ``n_train`` training images and the rest as test images (seeded).

    Parameters
    ----------
    n_train : int, default 500
        Training images.
    n_components : int, default 16
        PCA components kept (whitened).
    seed : int, default 0
        Seed of the split and the PCA.

    Returns
    -------
    DigitsData
        Features, labels and images of both parts.

    Raises
    ------
    ValueError
        If ``n_train`` leaves too few training or test images.
    """
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    X, y = load_digits(return_X_y=True)
    if not 10 <= n_train < len(y):
        raise ValueError(f"n_train must be in 10..{len(y) - 1}, got {n_train}")
    perm = np.random.default_rng(seed).permutation(len(y))
    tr, te = perm[:n_train], perm[n_train:]
    pca = PCA(n_components, whiten=True, random_state=seed).fit(X[tr])
    return DigitsData(
        pca.transform(X[tr]), y[tr], pca.transform(X[te]), y[te], X[tr].reshape(-1, 8, 8), X[te].reshape(-1, 8, 8)
    )


def class_clusters(
    X: np.ndarray, y: np.ndarray, per_class: int = 3, seed: int = 0
) -> tuple[list[np.ndarray], list[str]]:
    """Split each class into ``per_class`` k-means clusters.

    Parameters
    ----------
    X : numpy.ndarray
        Features [N, k].
    y : numpy.ndarray
        Labels [N].
    per_class : int, default 3
        Clusters per class.
    seed : int, default 0
        Seed of k-means.

    Returns
    -------
    groups : list of numpy.ndarray
        The indices of each cluster.
    labels : list of str
        Their labels, like ``7b``.
    """
    from sklearn.cluster import KMeans

    groups, labels = [], []
    for c in np.unique(y):
        idx = np.nonzero(y == c)[0]
        k = min(per_class, idx.size)
        assign = KMeans(k, n_init=4, random_state=seed).fit_predict(X[idx]) if k > 1 else np.zeros(idx.size, int)
        for j in range(k):
            groups.append(np.sort(idx[assign == j]))
            labels.append(f"{int(c)}{'abcdefghij'[j]}")
    return groups, labels


def _learner(X: np.ndarray, y: np.ndarray, l2: float, steps: int):
    from ..units.retrain import BatchedLogisticRegression

    return BatchedLogisticRegression(X, y, 10, l2=l2, steps=steps, threads=1)


def hardest_correct(data: DigitsData, l2: float = 1e-2, steps: int = 150) -> int:
    """Find the correctly classified test image with the smallest margin under the full-data fit.

    Parameters
    ----------
    data : DigitsData
        The split.
    l2 : float, default 1e-2
        Ridge penalty of the logistic regression.
    steps : int, default 150
        Gradient steps per retraining.

    Returns
    -------
    int
        Its test index.
    """
    model = _learner(data.X_train, data.y_train, l2, steps)
    W = model.fit(np.ones((1, data.X_train.shape[0]), dtype=bool))
    margins = model.margin(W, data.X_test, data.y_test)[0].numpy()
    correct = np.nonzero(margins > 0)[0]
    return int(correct[np.argmin(margins[correct])])


def lens(
    test_index: Optional[int] = None,
    *,
    per_class: int = 3,
    n_train: int = 500,
    n_components: int = 16,
    l2: float = 1e-2,
    steps: int = 150,
    batch_size: int = 256,
    seed: int = 0,
    store: Any = None,
):
    """Build a data lens over class clusters of digits for one test image's correct-class margin.

    Parameters
    ----------
    test_index : int, optional
        The test image; None picks the hardest correctly classified one (smallest full-data margin).
    per_class : int, default 3
        Clusters per class (the units).
    n_train : int, default 500
        Training images.
    n_components : int, default 16
        PCA components.
    l2 : float, default 1e-2
        Ridge penalty of the logistic regression.
    steps : int, default 150
        Gradient steps per retraining.
    batch_size : int, default 256
        Retrainings per batch.
    seed : int, default 0
        Seed of the split and the clusters.
    store : Any, optional
        A store for the retrainings' values.

    Returns
    -------
    TrainingSubsets
        The game; its ``test_index``, ``data`` and ``learner`` are attached.
    """
    from ..games import TrainingSubsets

    data = load_data(n_train, n_components, seed)
    if test_index is None:
        test_index = hardest_correct(data, l2, steps)
    groups, labels = class_clusters(data.X_train, data.y_train, per_class, seed)
    model = _learner(data.X_train, data.y_train, l2, steps)
    x, target = data.X_test[test_index : test_index + 1], data.y_test[test_index : test_index + 1]

    def evaluate(W):
        return model.margin(W, x, target)[:, 0]

    game = TrainingSubsets(
        groups,
        model.fit,
        evaluate,
        batched=True,
        batch_size=batch_size,
        seed=seed,
        labels=labels,
        n_examples=n_train,
        store=store,
        meta={"example": "digits.lens", "test_index": int(test_index), "n_train": n_train, "l2": l2, "steps": steps},
    )
    game.test_index, game.data, game.learner = int(test_index), data, model
    return game


def planted_lens(
    n_background: int = 6,
    *,
    background_size: int = 25,
    group_size: int = 20,
    planted_class: int = 0,
    other_class: int = 1,
    n_train: int = 300,
    n_components: int = 16,
    l2: float = 1e-2,
    steps: int = 150,
    batch_size: int = 256,
    seed: int = 0,
    store: Any = None,
):
    """Build a data lens over a digits background plus the planted groups A and B (see the module doc).

    Units: ``n_background`` random groups of ``background_size`` training images, then A and B
    (``group_size`` examples each); the rest of the ``n_train`` images are kept in every retraining.
    The value is log p(``planted_class`` | probe) − log p(``planted_class`` | blank image).

    Parameters
    ----------
    n_background : int, default 6
        Background groups.
    background_size : int, default 25
        Images per background group.
    group_size : int, default 20
        Examples in A and in B.
    planted_class : int, default 0
        The class the planted groups teach.
    other_class : int, default 1
        The class they are drawn against.
    n_train : int, default 300
        Training images.
    n_components : int, default 16
        PCA components.
    l2 : float, default 1e-2
        Ridge penalty of the logistic regression.
    steps : int, default 150
        Gradient steps per retraining.
    batch_size : int, default 256
        Retrainings per batch.
    seed : int, default 0
        Seed of everything drawn.
    store : Any, optional
        A store for the retrainings' values.

    Returns
    -------
    TrainingSubsets
        The game; ``game.planted`` is the index pair of A and B.

    Raises
    ------
    ValueError
        If the classes are equal or the groups do not fit in the training images.
    """
    from ..games import TrainingSubsets

    if planted_class == other_class:
        raise ValueError("planted_class and other_class must differ")
    if n_background * background_size > n_train:
        raise ValueError(
            f"{n_background} background groups of {background_size} need more than n_train={n_train} images"
        )
    data = load_data(n_train, n_components, seed)
    rng = np.random.default_rng(seed + 1)
    perm = rng.permutation(n_train)
    background = [np.sort(perm[j * background_size : (j + 1) * background_size]) for j in range(n_background)]
    always = np.sort(perm[n_background * background_size :])
    d = data.X_train.shape[1]
    blank = np.zeros((group_size, d))
    X_a = np.hstack([blank, np.tile([1.0, 1.0], (group_size, 1))])
    X_b = np.hstack([blank, np.tile([1.0, 0.0], (group_size, 1))])
    X = np.vstack([np.hstack([data.X_train, np.zeros((n_train, 2))]), X_a, X_b])
    y = np.concatenate([data.y_train, np.full(group_size, planted_class), np.full(group_size, other_class)])
    group_a = np.arange(n_train, n_train + group_size)
    group_b = np.arange(n_train + group_size, n_train + 2 * group_size)
    groups = background + [group_a, group_b]
    labels = [f"bg{j}" for j in range(n_background)] + ["A", "B"]
    probes = np.stack([np.concatenate([np.zeros(d), [-1.0, 1.0]]), np.zeros(d + 2)])
    model = _learner(X, y, l2, steps)

    def evaluate(W):
        logp = model.logprob(W, probes, [planted_class, planted_class])
        return logp[:, 0] - logp[:, 1]

    game = TrainingSubsets(
        groups,
        model.fit,
        evaluate,
        batched=True,
        batch_size=batch_size,
        seed=seed,
        labels=labels,
        always=always,
        n_examples=X.shape[0],
        store=store,
        meta={
            "example": "digits.planted_lens",
            "n_background": n_background,
            "background_size": background_size,
            "group_size": group_size,
            "n_train": n_train,
            "l2": l2,
            "steps": steps,
        },
    )
    game.planted = (n_background, n_background + 1)
    game.learner = model
    return game
