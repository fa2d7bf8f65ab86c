"""`Interactions`: the one result type every algorithm returns.

It holds a sparse Fourier spectrum keyed by sorted tuples of unit indices (plus, for exhaustive
results, the full 2^n table) and derives everything else exactly from it: Möbius dividends, Shapley
and Banzhaf values, order-k interaction indices, predictions on new masks and faithfulness R².
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from ..transforms import fourier_to_mobius_dense
from ..valuefn import ValueFunction, labels_or_default, to_mask_array, uniform_masks
from . import spectrum as spec
from .params import ParamsBase
from .indices import INDEX_NAMES, compute_index_dense, compute_index_sparse, index_spec

__all__ = ["Interactions", "Term", "r2_score"]

_JSON_VERSION = 1
# Dense (exhaustive) tables list as sparse only coefficients above this fraction of the largest one;
# the dense table itself stays exact and drives every conversion.
_DENSE_TOL = 1e-12


@dataclass(frozen=True)
class Term:
    """One interaction: its unit indices, their labels, the value in the chosen basis, its order."""

    units: tuple[int, ...]
    labels: tuple[str, ...]
    value: float
    order: int

    def __str__(self) -> str:
        name = " × ".join(self.labels) if self.labels else "∅"
        return f"{name}: {self.value:+.4g}"


def r2_score(truth: np.ndarray, predicted: np.ndarray) -> float:
    """R² = 1 − ‖f − f̂‖² / ‖f − mean f‖² (1.0 when f is constant and exactly predicted)."""
    truth = np.asarray(truth, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    resid = float(np.sum((truth - predicted) ** 2))
    total = float(np.sum((truth - truth.mean()) ** 2))
    if total == 0.0:
        return 1.0 if resid == 0.0 else float("-inf")
    return 1.0 - resid / total


def _codes_to_keys(codes: np.ndarray, n: int) -> np.ndarray:
    """Integer subset codes (bit j = unit j) to padded key rows."""
    codes = np.asarray(codes, dtype=np.int64)
    bits = ((codes[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
    width = max(1, int(bits.sum(axis=1).max(initial=0)))
    keys = np.full((codes.shape[0], width), -1, dtype=np.int64)
    rows, cols = np.nonzero(bits)
    # position of each set bit within its row
    pos = np.cumsum(bits, axis=1)[rows, cols] - 1
    keys[rows, pos] = cols
    return keys


class Interactions:
    """A sparse interaction spectrum over ``n`` units.

    Build one with :meth:`from_fourier`, :meth:`from_mobius` or :meth:`from_dense_fourier`; algorithms
    do this for you. Convention: ``f(x) = Σ_k F(k)(−1)^⟨x,k⟩`` with ``x_i = 1`` keeping unit ``i``, and
    ``f(x) = Σ_{S ⊆ x} a(S)`` for the Möbius dividends ``a``.
    """

    def __init__(
        self,
        keys: np.ndarray,
        values: np.ndarray,
        n: int,
        *,
        labels: Optional[Sequence[str]] = None,
        ids: Optional[Sequence[str]] = None,
        n_evaluations: int = 0,
        algorithm: str = "",
        params: Optional[Mapping[str, Any]] = None,
        dense_fourier: Optional[np.ndarray] = None,
    ):
        keys = np.asarray(keys, dtype=np.int64)
        if keys.ndim != 2:
            raise ValueError(f"keys must be 2-d, got shape {keys.shape}")
        if keys.size and keys.max() >= n:
            raise ValueError(f"a support mentions unit {int(keys.max())}, but n={n}")
        self._keys, self._values = spec.aggregate(keys, np.asarray(values, dtype=np.float64))
        self.n = int(n)
        self.labels = labels_or_default(labels, self.n)
        self.ids = list(ids) if ids is not None else list(self.labels)
        self._ids_given = ids is not None
        if len(self.ids) != self.n:
            raise ValueError(f"{len(self.ids)} unit ids for n={self.n} units")
        self.n_evaluations = int(n_evaluations)
        self.algorithm = algorithm
        # a typed ParamsBase record is kept as is (it is a read-only Mapping); anything else is copied
        self.params = params if isinstance(params, ParamsBase) else dict(params or {})
        if dense_fourier is not None:
            dense_fourier = np.asarray(dense_fourier, dtype=np.float64)
            if dense_fourier.shape != (1 << self.n,):
                raise ValueError(f"dense spectrum must have length 2^{self.n}")
        self._dense = dense_fourier
        self._cache: dict[Any, Any] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_fourier(cls, coefficients: Mapping[Sequence[int], float], n: int, **kw: Any) -> "Interactions":
        """From a mapping {unit-index tuple: Fourier coefficient}."""
        items = list(coefficients.items())
        keys = spec.canonical_keys([k for k, _ in items])
        return cls(keys, np.array([v for _, v in items], dtype=np.float64), n, **kw)

    @classmethod
    def from_mobius(cls, dividends: Mapping[Sequence[int], float], n: int, **kw: Any) -> "Interactions":
        """From a mapping {unit-index tuple: Möbius dividend}."""
        items = list(dividends.items())
        keys = spec.canonical_keys([k for k, _ in items])
        fk, fv = spec.mobius_to_fourier(keys, np.array([v for _, v in items], dtype=np.float64))
        return cls(fk, fv, n, **kw)

    @classmethod
    def from_dense_fourier(cls, table: np.ndarray, **kw: Any) -> "Interactions":
        """From a full table of 2^n Fourier coefficients (index bit j = unit j)."""
        table = np.asarray(table, dtype=np.float64)
        n = table.shape[0].bit_length() - 1
        codes = np.nonzero(np.abs(table) > _DENSE_TOL * np.abs(table).max(initial=0.0))[0]
        return cls(_codes_to_keys(codes, n), table[codes], n, dense_fourier=table, **kw)

    # ------------------------------------------------------------------ basic views
    @property
    def keys(self) -> np.ndarray:
        """Fourier supports as a padded int array [K, D] (−1 pads)."""
        return self._keys

    @property
    def coefficients(self) -> np.ndarray:
        """Fourier coefficients aligned with :attr:`supports`."""
        return self._values

    @property
    def supports(self) -> list[tuple[int, ...]]:
        return spec.keys_to_tuples(self._keys)

    @property
    def fourier(self) -> dict[tuple[int, ...], float]:
        """{unit-index tuple: Fourier coefficient}."""
        if "fourier" not in self._cache:
            self._cache["fourier"] = dict(zip(self.supports, self._values.tolist()))
        return self._cache["fourier"]

    @property
    def max_order(self) -> int:
        return int(spec.key_orders(self._keys).max(initial=0))

    def __len__(self) -> int:
        return int(self._keys.shape[0])

    def __repr__(self) -> str:
        head = ", ".join(str(t) for t in self.top(3))
        return (
            f"Interactions(n={self.n}, coefficients={len(self)}, max_order={self.max_order}, "
            f"n_evaluations={self.n_evaluations}, algorithm={self.algorithm!r}; top Möbius: {head})"
        )

    def label_of(self, units: Sequence[int]) -> tuple[str, ...]:
        return tuple(self.labels[i] for i in units)

    # ------------------------------------------------------------------ conversions
    def _mobius_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if "mobius" not in self._cache:
            if self._dense is not None:
                table = fourier_to_mobius_dense(self._dense)
                codes = np.nonzero(np.abs(table) > _DENSE_TOL * np.abs(table).max(initial=0.0))[0]
                self._cache["mobius_dense"] = table
                self._cache["mobius"] = (_codes_to_keys(codes, self.n), table[codes])
            else:
                self._cache["mobius"] = spec.fourier_to_mobius(self._keys, self._values)
        return self._cache["mobius"]

    def mobius(self) -> dict[tuple[int, ...], float]:
        """Möbius dividends a(S) = (−2)^{|S|} Σ_{k ⊇ S} F(k), as {unit-index tuple: value}."""
        keys, values = self._mobius_arrays()
        return dict(zip(spec.keys_to_tuples(keys), values.tolist()))

    def shapley_values(self) -> np.ndarray:
        """φ_i = −2 Σ_{S ∋ i, |S| odd} F(S)/|S| (length n)."""
        orders = spec.key_orders(self._keys)
        odd = (orders % 2) == 1
        out = np.zeros(self.n)
        rows, cols = np.nonzero((self._keys >= 0) & odd[:, None])
        np.add.at(out, self._keys[rows, cols], -2.0 * self._values[rows] / orders[rows])
        return out

    def banzhaf_values(self) -> np.ndarray:
        """ψ_i = −2 F({i}) (length n)."""
        out = np.zeros(self.n)
        orders = spec.key_orders(self._keys)
        single = np.nonzero(orders == 1)[0]
        out[self._keys[single, 0]] = -2.0 * self._values[single]
        return out

    def index(self, name: str, order: int = 2) -> dict[tuple[int, ...], float]:
        """An interaction index up to ``order``: one of fourier, mobius, SV, BV, SII, BII, STII, FSII, FBII, k-SII.

        Computed exactly from the spectrum (no sampling). SV/BV return singleton keys.
        """
        low = name.lower()
        if low == "fourier":
            return {k: v for k, v in self.fourier.items() if len(k) <= order}
        if low in ("mobius", "möbius", "moebius"):
            return {k: v for k, v in self.mobius().items() if len(k) <= order}
        cache_key = ("index", name.upper(), order)
        if cache_key not in self._cache:
            spec_ = index_spec(name, order)
            if self._dense is not None:
                self._mobius_arrays()
                codes, vals = compute_index_dense(spec_, self._cache["mobius_dense"])
                keys = _codes_to_keys(codes, self.n)
            else:
                mk, mv = self._mobius_arrays()
                keys, vals = compute_index_sparse(spec_, mk, mv)
            self._cache[cache_key] = dict(zip(spec.keys_to_tuples(keys), vals.tolist()))
        return dict(self._cache[cache_key])

    # ------------------------------------------------------------------ ranking
    def top(
        self,
        k: int = 10,
        basis: str = "mobius",
        *,
        order: Optional[int] = None,
        min_order: int = 1,
        index_order: int = 2,
    ) -> list[Term]:
        """The ``k`` largest-magnitude terms in ``basis`` (mobius, fourier or any index name).

        ``order`` keeps only terms of exactly that order; ``min_order`` drops lower ones (the empty set
        by default). ``index_order`` is the explanation order for SII/BII/STII/FSII/FBII/k-SII.
        """
        low = basis.lower()
        if low == "fourier":
            table = self.fourier
        elif low in ("mobius", "möbius", "moebius"):
            table = self.mobius()
        elif low in ("sv", "shapley"):
            table = {(i,): float(v) for i, v in enumerate(self.shapley_values())}
        elif low in ("bv", "banzhaf"):
            table = {(i,): float(v) for i, v in enumerate(self.banzhaf_values())}
        else:
            table = self.index(basis, index_order)
        items = [
            (u, v) for u, v in table.items() if len(u) >= min_order and (order is None or len(u) == order)
        ]
        items.sort(key=lambda kv: (-abs(kv[1]), len(kv[0]), kv[0]))
        return [Term(u, self.label_of(u), float(v), len(u)) for u, v in items[:k]]

    def energy_by_order(self, basis: str = "fourier") -> dict[int, float]:
        """Share of the non-constant energy (Σ value², order ≥ 1) held by each order."""
        if basis.lower() == "fourier":
            keys, vals = self._keys, self._values
        else:
            keys, vals = self._mobius_arrays()
        orders = spec.key_orders(keys)
        energy = vals**2
        total = energy[orders > 0].sum()
        if total == 0:
            return {}
        return {int(o): float(energy[orders == o].sum() / total) for o in np.unique(orders) if o > 0}

    def truncate(self, k: int, keep_constant: bool = True) -> "Interactions":
        """A copy keeping only the ``k`` largest |Fourier| coefficients (plus F(∅) if asked)."""
        orders = spec.key_orders(self._keys)
        order_idx = np.argsort(-np.abs(self._values), kind="stable")
        chosen = [i for i in order_idx if orders[i] > 0][:k]
        if keep_constant:
            chosen += [i for i in np.nonzero(orders == 0)[0]]
        chosen = np.array(sorted(set(int(i) for i in chosen)), dtype=np.int64)
        return self._replace(self._keys[chosen], self._values[chosen])

    def _replace(self, keys: np.ndarray, values: np.ndarray, **changes: Any) -> "Interactions":
        kw = dict(
            labels=self.labels,
            ids=self.ids if self._ids_given else None,
            n_evaluations=self.n_evaluations,
            algorithm=self.algorithm,
            params=self.params,
        )
        kw.update(changes)
        return Interactions(keys, values, self.n, **kw)

    # ------------------------------------------------------------------ prediction and faithfulness
    def check_units(self, f: Any) -> None:
        """Raise ValueError unless ``f`` (a game) is over the same units as this result: the same number
        and, where both know them, the same unit ids in the same order.
        """
        f_n = getattr(f, "n", None)
        if f_n is not None and int(f_n) != self.n:
            raise ValueError(f"the result is over {self.n} units, the game over {int(f_n)}: they do not belong together")
        f_ids = getattr(f, "ids", None)
        if f_ids is None or (not self._ids_given and self.ids == self.labels):
            return
        f_ids = [str(i) for i in f_ids]
        if f_ids != [str(i) for i in self.ids]:
            i = next(i for i, (a, b) in enumerate(zip(self.ids, f_ids)) if str(a) != b)
            raise ValueError(
                f"the result's units differ from the game's: unit {i} is '{self.ids[i]}' in the result, "
                f"'{f_ids[i]}' in the game (use the game the result was measured on)"
            )

    def predict(self, masks: Any, game: Any = None) -> np.ndarray:
        """The surrogate's value Σ_k F(k)(−1)^⟨x,k⟩ at each mask row (float64 [B]). With ``game``, its
        units are checked against the result's first (:meth:`check_units`).
        """
        if game is not None:
            self.check_units(game)
        arr = to_mask_array(masks, self.n)
        return spec.evaluate_fourier(self._keys, self._values, arr, self.n)

    def faithfulness(
        self,
        f: Callable[[np.ndarray], Any],
        n_samples: int = 1000,
        seed: int = 0,
        *,
        masks: Optional[Any] = None,
        values: Optional[np.ndarray] = None,
    ) -> float:
        """R² of the surrogate against ``f`` on fresh uniformly random masks (or the given ones).
        ``f`` must be over the result's units (:meth:`check_units`).
        """
        self.check_units(f)
        if masks is None:
            masks = uniform_masks(self.n, n_samples, seed)
        arr = to_mask_array(masks, self.n)
        if values is None:
            values = ValueFunction(f, self.n)(arr)
        return r2_score(values, self.predict(arr))

    # ------------------------------------------------------------------ export
    def to_dataframe(self, basis: str = "mobius", index_order: int = 2):
        """One row per term in ``basis``: basis, order, units, labels, hook ids, value (pandas DataFrame)."""
        from .exports import to_dataframe

        return to_dataframe(self, basis, index_order)

    def to_shapiq(self, index: str = "k-SII", max_order: int = 2):
        """A shapiq ``InteractionValues`` (optional dependency; see :func:`spex_mech.results.exports.to_shapiq`)."""
        from .exports import to_shapiq

        return to_shapiq(self, index, max_order)

    def to_mib(self, cfg: Mapping[str, Any], *, level: str = "node", kind: str = "mobius", path: Optional[str] = None) -> dict[str, Any]:
        """MIB circuit-track node scores (see :func:`spex_mech.results.exports.to_mib`)."""
        from .exports import to_mib

        return to_mib(self, cfg, level=level, kind=kind, path=path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "spex_mech.Interactions",
            "version": _JSON_VERSION,
            "n": self.n,
            "labels": self.labels,
            "ids": self.ids,
            "n_evaluations": self.n_evaluations,
            "algorithm": self.algorithm,
            "params": jsonable(self.params),
            "fourier": [[list(u), float(v)] for u, v in zip(self.supports, self._values)],
            **({"dense_fourier": self._dense.tolist()} if self._dense is not None else {}),
        }

    def to_json(self, path: Optional[str] = None, indent: Optional[int] = None) -> str:
        """JSON text of the spectrum and its metadata (written to ``path`` too, if given)."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Interactions":
        """Inverse of :meth:`to_dict`; also reads the CLI's ``results.json`` (the result under
        ``interactions``).
        """
        if data.get("format") != "spex_mech.Interactions" and isinstance(data.get("interactions"), Mapping):
            data = data["interactions"]
        if data.get("format") != "spex_mech.Interactions":
            raise ValueError("not a spex_mech.Interactions document")
        pairs = data["fourier"]
        keys = spec.canonical_keys([p[0] for p in pairs]) if pairs else np.zeros((0, 1), np.int64)
        vals = np.array([p[1] for p in pairs], dtype=np.float64)
        return cls(
            keys,
            vals,
            int(data["n"]),
            labels=data.get("labels"),
            ids=data.get("ids"),
            n_evaluations=int(data.get("n_evaluations", 0)),
            algorithm=data.get("algorithm", ""),
            params=data.get("params"),
            dense_fourier=data.get("dense_fourier"),
        )

    @classmethod
    def from_json(cls, text_or_path: str) -> "Interactions":
        """Inverse of :meth:`to_json` (accepts the JSON text or a file path, including the CLI's
        ``results.json``).
        """
        text = text_or_path
        if not text_or_path.lstrip().startswith("{"):
            with open(text_or_path, encoding="utf-8") as fh:
                text = fh.read()
        return cls.from_dict(json.loads(text))


def jsonable(obj: Any) -> Any:
    """A JSON-serialisable copy: numpy scalars and arrays become Python numbers and lists."""
    if isinstance(obj, ParamsBase):
        return jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


INDEX_CHOICES = ("fourier", "mobius") + INDEX_NAMES
