"""Small text helpers shared by summaries and reports: long unit lists are shortened, never dropped silently."""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["MAX_LISTED", "abbreviate", "name_list"]

MAX_LISTED = 40


def name_list(names: Sequence[str], limit: int = MAX_LISTED, empty: str = "∅") -> str:
    """``"a, b, c"``; beyond ``limit`` names the first ``limit`` and ``"… and N more (T in total)"``."""
    names = list(names)
    if not names:
        return empty
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", … and {len(names) - limit} more ({len(names)} in total)"


def abbreviate(obj: Any, limit: int = MAX_LISTED) -> Any:
    """A copy of nested dicts/lists where every list longer than ``limit`` keeps its first ``limit`` items
    and a last item ``"… N more (T in total)"`` (for displaying run facts, not for storing them).
    """
    if isinstance(obj, dict):
        return {k: abbreviate(v, limit) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [abbreviate(v, limit) for v in obj[:limit]]
        if len(obj) > limit:
            items.append(f"… {len(obj) - limit} more ({len(obj)} in total)")
        return items
    return obj
