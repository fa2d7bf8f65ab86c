"""Typed, frozen parameter records that algorithms attach to their results.

Each algorithm describes how a result was produced (budget, order, seeds, choices made by validation)
in a frozen dataclass deriving from :class:`ParamsBase`. Fields are documented on the subclass; there
are no duplicate keys. For code that reads ``result.params["budget"]`` the record also behaves as a
read-only mapping, and :meth:`ParamsBase.to_dict` gives the JSON form via :func:`dataclasses.asdict`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["ParamsBase"]


@dataclasses.dataclass(frozen=True)
class ParamsBase(Mapping):
    """Base of every algorithm's parameter record: a frozen dataclass with a read-only mapping view.

    Examples
    --------
    >>> @dataclasses.dataclass(frozen=True)
    ... class P(ParamsBase):
    ...     budget: int
    >>> p = P(budget=10)
    >>> p["budget"], dict(p)
    (10, {'budget': 10})
    """

    def __getitem__(self, key: str) -> Any:
        """Return the field ``key``.

        Parameters
        ----------
        key : str
            A field name.

        Returns
        -------
        object
            The field's value.

        Raises
        ------
        KeyError
            If the record has no such field.
        """
        if key in self._field_names():
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        """Iterate over field names in declaration order.

        Returns
        -------
        iterator of str
        """
        return iter(self._field_names())

    def __len__(self) -> int:
        """Return the number of fields.

        Returns
        -------
        int
        """
        return len(self._field_names())

    def _field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self))

    def to_dict(self) -> dict[str, Any]:
        """Return the record as plain JSON-ready data (nested dataclasses become dicts).

        Returns
        -------
        dict
        """
        return dataclasses.asdict(self)
