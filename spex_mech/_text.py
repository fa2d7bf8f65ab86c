"""Small text helpers shared by summaries and reports: long unit lists are shortened, never dropped silently."""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["MAX_LISTED", "abbreviate", "name_list"]

MAX_LISTED = 40


def name_list(names: Sequence[str], limit: int = MAX_LISTED, empty: str = "∅") -> str:
    """Join names as ``"a, b, c"``; beyond ``limit``, the first ``limit`` and ``"… and N more (T in total)"``.

    Parameters
    ----------
    names : sequence of str
        The names.
    limit : int, default MAX_LISTED
        Most names written out.
    empty : str, default "∅"
        The text for no names.

    Returns
    -------
    str
        The list.
    """
    names = list(names)
    if not names:
        return empty
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", … and {len(names) - limit} more ({len(names)} in total)"


def abbreviate(obj: Any, limit: int = MAX_LISTED) -> Any:
    """Shorten long lists in nested dicts and lists, for displaying run facts (never for storing them).

    Every list longer than ``limit`` keeps its first ``limit`` items and a last item ``"… N more (T in total)"``.

    Parameters
    ----------
    obj : Any
        Nested dicts and lists.
    limit : int, default MAX_LISTED
        Most items kept per list.

    Returns
    -------
    Any
        A shortened copy.
    """
    if isinstance(obj, dict):
        return {k: abbreviate(v, limit) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [abbreviate(v, limit) for v in obj[:limit]]
        if len(obj) > limit:
            items.append(f"… {len(obj) - limit} more ({len(obj)} in total)")
        return items
    return obj
