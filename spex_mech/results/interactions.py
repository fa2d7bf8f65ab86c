"""`Interactions`: the one result type every algorithm returns.

It holds a sparse Fourier spectrum keyed by sorted tuples of unit indices (plus, for exhaustive
results, the full 2^n table) and derives everything else exactly from it: Möbius dividends, Shapley
and Banzhaf values, order-k interaction indices, predictions on new masks and faithfulness R².

Length: the module is one class whose methods are each a few lines over :mod:`.spectrum`, :mod:`.indices`,
:mod:`.serialize` and :mod:`.exports`, plus their numpydoc docstrings. It is long because the result's public
surface is wide, not because it holds several jobs; the pieces with a job of their own live in
:mod:`.terms` (term, R², subset codes) and :mod:`.serialize` (the JSON document).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from ..transforms import fourier_to_mobius_dense
from ..valuefn import ValueFunction, labels_or_default, to_mask_array, uniform_masks
from . import spectrum as spec
from .indices import INDEX_NAMES, compute_index_dense, compute_index_sparse, index_spec
from .params import ParamsBase
from .serialize import document_arguments, jsonable, to_document
from .terms import Term, codes_to_keys, r2_score

__all__ = ["Interactions", "Term", "r2_score", "jsonable", "INDEX_CHOICES"]

# Dense (exhaustive) tables list as sparse only coefficients above this fraction of the largest one;
# the dense table itself stays exact and drives every conversion.
_DENSE_TOL = 1e-12
_codes_to_keys = codes_to_keys  # the name this module used before terms.py held it


def _keys_and_values(mapping: Mapping[Sequence[int], float]) -> tuple[np.ndarray, np.ndarray]:
    """Return the padded supports and float64 values of a mapping {unit-index tuple: value}, in its order."""
    items = list(mapping.items())
    keys = spec.canonical_keys([k for k, _ in items])
    return keys, np.array([v for _, v in items], dtype=np.float64)


class Interactions:
    """A sparse interaction spectrum over ``n`` units.

    Build one with :meth:`from_fourier`, :meth:`from_mobius` or :meth:`from_dense_fourier`; algorithms
    do this for you. Convention: ``f(x) = Σ_k F(k)(−1)^⟨x,k⟩`` with ``x_i = 1`` keeping unit ``i``, and
    ``f(x) = Σ_{S ⊆ x} a(S)`` for the Möbius dividends ``a``.

    Parameters
    ----------
    keys : numpy.ndarray
        Fourier supports as a padded int array [K, D] (−1 pads); repeated supports are summed.
    values : numpy.ndarray
        Fourier coefficients [K] aligned with ``keys``.
    n : int
        Number of units.
    labels : sequence of str, optional
        One label per unit (defaults to ``"0"``, ``"1"``, ...).
    ids : sequence of str, optional
        One id per unit (TransformerLens hook names for model units); defaults to the labels.
    n_evaluations : int, default 0
        Number of value-function evaluations the result cost.
    algorithm : str, default ""
        Name of the algorithm that produced the result.
    params : Mapping, optional
        The algorithm's parameters; a typed ``ParamsBase`` record is kept as is, anything else copied.
    dense_fourier : numpy.ndarray, optional
        The full table of 2^n Fourier coefficients (exhaustive results); it then drives every conversion.

    Raises
    ------
    ValueError
        If ``keys`` is not 2-d, names a unit ≥ ``n``, the ids do not number ``n``, or the dense table does
        not have length 2^n.

    Examples
    --------
    >>> r = Interactions.from_mobius({(): 1.0, (0, 1): 2.0}, n=3)
    >>> r.top(1)[0].units
    (0, 1)
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
        """Build a result from a mapping {unit-index tuple: Fourier coefficient}.

        Parameters
        ----------
        coefficients : Mapping
            Fourier coefficients keyed by tuples of unit indices (any order; they are sorted).
        n : int
            Number of units.
        **kw : Any
            Keyword arguments of the constructor (``labels``, ``ids``, ``algorithm``, ...).

        Returns
        -------
        Interactions
            The result.
        """
        return cls(*_keys_and_values(coefficients), n, **kw)

    @classmethod
    def from_mobius(cls, dividends: Mapping[Sequence[int], float], n: int, **kw: Any) -> "Interactions":
        """Build a result from a mapping {unit-index tuple: Möbius dividend}.

        Parameters
        ----------
        dividends : Mapping
            Möbius dividends keyed by tuples of unit indices; converted exactly to Fourier coefficients.
        n : int
            Number of units.
        **kw : Any
            Keyword arguments of the constructor (``labels``, ``ids``, ``algorithm``, ...).

        Returns
        -------
        Interactions
            The result.
        """
        fk, fv = spec.mobius_to_fourier(*_keys_and_values(dividends))
        return cls(fk, fv, n, **kw)

    @classmethod
    def from_dense_fourier(cls, table: np.ndarray, **kw: Any) -> "Interactions":
        """Build a result from a full table of 2^n Fourier coefficients (index bit j = unit j).

        Parameters
        ----------
        table : numpy.ndarray
            The dense Fourier table, length a power of two.
        **kw : Any
            Keyword arguments of the constructor (``labels``, ``ids``, ``algorithm``, ...).

        Returns
        -------
        Interactions
            The result; its sparse view lists coefficients above 1e-12 times the largest, the dense table
            stays exact.
        """
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
        """Fourier supports as sorted tuples of unit indices, aligned with :attr:`coefficients`."""
        return spec.keys_to_tuples(self._keys)

    @property
    def fourier(self) -> dict[tuple[int, ...], float]:
        """{unit-index tuple: Fourier coefficient}."""
        if "fourier" not in self._cache:
            self._cache["fourier"] = dict(zip(self.supports, self._values.tolist()))
        return self._cache["fourier"]

    @property
    def max_order(self) -> int:
        """Largest order among the Fourier supports (0 for an empty or constant spectrum)."""
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
        """Return the labels of the given units.

        Parameters
        ----------
        units : sequence of int
            Unit indices.

        Returns
        -------
        tuple of str
            Their labels, in the same order.
        """
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
        """Return the Möbius dividends a(S) = (−2)^{|S|} Σ_{k ⊇ S} F(k).

        Returns
        -------
        dict
            {unit-index tuple: dividend}.
        """
        keys, values = self._mobius_arrays()
        return dict(zip(spec.keys_to_tuples(keys), values.tolist()))

    def shapley_values(self) -> np.ndarray:
        """Return the Shapley values φ_i = −2 Σ_{S ∋ i, |S| odd} F(S)/|S|.

        Returns
        -------
        numpy.ndarray
            Array of length n (float64).
        """
        orders = spec.key_orders(self._keys)
        odd = (orders % 2) == 1
        out = np.zeros(self.n)
        rows, cols = np.nonzero((self._keys >= 0) & odd[:, None])
        np.add.at(out, self._keys[rows, cols], -2.0 * self._values[rows] / orders[rows])
        return out

    def banzhaf_values(self) -> np.ndarray:
        """Return the Banzhaf values ψ_i = −2 F({i}).

        Returns
        -------
        numpy.ndarray
            Array of length n (float64).
        """
        out = np.zeros(self.n)
        orders = spec.key_orders(self._keys)
        single = np.nonzero(orders == 1)[0]
        out[self._keys[single, 0]] = -2.0 * self._values[single]
        return out

    def index(self, name: str, order: int = 2) -> dict[tuple[int, ...], float]:
        """Compute an interaction index exactly from the spectrum (no sampling).

        Parameters
        ----------
        name : str
            One of fourier, mobius, SV, BV, SII, BII, STII, FSII, FBII, k-SII (case-insensitive).
        order : int, default 2
            Largest order kept (fourier, mobius) or the explanation order of the index.

        Returns
        -------
        dict
            {unit-index tuple: value}; SV and BV have singleton keys.

        Raises
        ------
        ValueError
            If ``name`` is not a known index.
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
        """Return the ``k`` largest-magnitude terms in ``basis``.

        Ties are broken by lower order, then by unit indices.

        Parameters
        ----------
        k : int, default 10
            Number of terms returned (fewer if the basis has fewer).
        basis : str, default "mobius"
            One of mobius, fourier, SV/shapley, BV/banzhaf or any index name of :meth:`index`.
        order : int, optional
            Keep only terms of exactly this order.
        min_order : int, default 1
            Drop terms of lower order (the empty set by default).
        index_order : int, default 2
            Explanation order for SII/BII/STII/FSII/FBII/k-SII.

        Returns
        -------
        list of Term
            The terms, largest |value| first.

        Examples
        --------
        >>> r = Interactions.from_mobius({(0,): 0.5, (0, 1): -2.0}, n=2, labels=["a", "b"])
        >>> str(r.top(1)[0])
        'a × b: -2'
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
        """Return the share of the non-constant energy (Σ value², order ≥ 1) held by each order.

        Parameters
        ----------
        basis : str, default "fourier"
            ``"fourier"``; any other value uses the Möbius dividends.

        Returns
        -------
        dict
            {order: share}; empty when the energy above order 0 is zero.
        """
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
        """Return a copy keeping only the ``k`` largest |Fourier| coefficients of order ≥ 1.

        Parameters
        ----------
        k : int
            Number of non-constant coefficients kept.
        keep_constant : bool, default True
            Keep F(∅) as well.

        Returns
        -------
        Interactions
            The truncated copy with the same labels, ids and metadata.
        """
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
        """Check that the game ``f`` is over the same units as this result.

        The same number of units and, where both know them, the same unit ids in the same order.

        Parameters
        ----------
        f : Any
            A game (its ``n`` and ``ids`` attributes are read when present).

        Raises
        ------
        ValueError
            If the number of units or an id differs (the first differing unit is named).
        """
        f_n = getattr(f, "n", None)
        if f_n is not None and int(f_n) != self.n:
            raise ValueError(
                f"the result is over {self.n} units, the game over {int(f_n)}: they do not belong together"
            )
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
        """Evaluate the surrogate Σ_k F(k)(−1)^⟨x,k⟩ at each mask row.

        Parameters
        ----------
        masks : array_like
            Masks [B, n] (bool or 0/1; ``x_i = 1`` keeps unit i).
        game : Any, optional
            If given, its units are checked against the result's first (:meth:`check_units`).

        Returns
        -------
        numpy.ndarray
            The values, float64 [B].
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
        """Compute the R² of the surrogate against ``f`` on uniformly random masks (or the given ones).

        Parameters
        ----------
        f : callable
            The game, over the result's units (:meth:`check_units`).
        n_samples : int, default 1000
            Number of random masks when ``masks`` is None.
        seed : int, default 0
            Seed of the random masks.
        masks : array_like, optional
            Masks to score on instead of random ones.
        values : numpy.ndarray, optional
            ``f``'s values at ``masks`` when already known (``f`` is then not called).

        Returns
        -------
        float
            The R² (see :func:`r2_score`).
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
        """Return one row per term in ``basis``: basis, order, units, labels, hook ids, value.

        Parameters
        ----------
        basis : str, default "mobius"
            Any basis of :meth:`top`.
        index_order : int, default 2
            Explanation order for the interaction indices.

        Returns
        -------
        pandas.DataFrame
            The table.
        """
        from .exports import to_dataframe

        return to_dataframe(self, basis, index_order)

    def to_shapiq(self, index: str = "k-SII", max_order: int = 2):
        """Return a shapiq ``InteractionValues`` (optional dependency).

        Parameters
        ----------
        index : str, default "k-SII"
            The shapiq index to fill.
        max_order : int, default 2
            Its explanation order.

        Returns
        -------
        shapiq.InteractionValues
            See :func:`spex_mech.results.exports.to_shapiq`.

        Raises
        ------
        ImportError
            If shapiq is not installed (it needs Python ≥ 3.12).
        """
        from .exports import to_shapiq

        return to_shapiq(self, index, max_order)

    def to_mib(
        self, cfg: Mapping[str, Any], *, level: str = "node", kind: str = "mobius", path: Optional[str] = None
    ) -> dict[str, Any]:
        """Return MIB circuit-track node scores.

        Parameters
        ----------
        cfg : Mapping
            ``n_layers``, ``n_heads``, ``d_model`` (and ``parallel_attn_mlp``), e.g. from ``exports.mib_cfg``.
        level : str, default "node"
            The MIB level written; only ``"node"`` is supported.
        kind : str, default "mobius"
            Which unit scores become node scores (see :func:`~spex_mech.circuits.unit_scores`).
        path : str, optional
            Also write the JSON document there.

        Returns
        -------
        dict
            The MIB document; see :func:`spex_mech.results.exports.to_mib`.

        Raises
        ------
        ValueError
            If ``level`` is not ``"node"`` or a unit cannot be placed on a MIB node.
        """
        from .exports import to_mib

        return to_mib(self, cfg, level=level, kind=kind, path=path)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON document of the result (see :func:`~spex_mech.results.serialize.to_document`).

        Returns
        -------
        dict
            Spectrum, labels, ids and metadata, JSON-serialisable.
        """
        return to_document(self)

    def to_json(self, path: Optional[str] = None, indent: Optional[int] = None) -> str:
        """Return the JSON text of the spectrum and its metadata.

        Parameters
        ----------
        path : str, optional
            Also write the text to this file.
        indent : int, optional
            Indentation passed to :func:`json.dumps`.

        Returns
        -------
        str
            The JSON text.
        """
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Interactions":
        """Read a result back from :meth:`to_dict`'s document or the CLI's ``results.json``.

        Parameters
        ----------
        data : Mapping
            The document (or a mapping with the result under ``interactions``).

        Returns
        -------
        Interactions
            The result.

        Raises
        ------
        ValueError
            If ``data`` is not a ``spex_mech.Interactions`` document.
        """
        keys, vals, n, options = document_arguments(data)
        return cls(keys, vals, n, **options)

    @classmethod
    def from_json(cls, text_or_path: str) -> "Interactions":
        """Read a result back from :meth:`to_json`'s text or a file.

        Parameters
        ----------
        text_or_path : str
            The JSON text, or a path to it (the CLI's ``results.json`` too).

        Returns
        -------
        Interactions
            The result.
        """
        text = text_or_path
        if not text_or_path.lstrip().startswith("{"):
            with open(text_or_path, encoding="utf-8") as fh:
                text = fh.read()
        return cls.from_dict(json.loads(text))


INDEX_CHOICES = ("fourier", "mobius") + INDEX_NAMES
