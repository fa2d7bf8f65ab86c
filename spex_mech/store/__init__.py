"""Records of evaluated masks: :class:`MaskStore` on disk and :class:`MemoryStore` in memory.

:class:`MaskStore` is SQLite with an identity record and checksums; :class:`MemoryStore` has the same
interface and keeps nothing on disk.

``StoredValueFunction`` (a value function answering stored masks from such a record) lives in
:mod:`spex_mech.games` and is still importable from here.
"""

from typing import Any

from .memory import MemoryStore
from .sqlite import DB_NAME, EXPORT_BOOL_CELLS, MaskStore, StoreError

__all__ = ["DB_NAME", "EXPORT_BOOL_CELLS", "MaskStore", "MemoryStore", "StoreError", "StoredValueFunction"]


def __getattr__(name: str) -> Any:
    """Return ``StoredValueFunction`` from :mod:`spex_mech.games.stored` (its old import path)."""
    if name == "StoredValueFunction":
        from ..games.stored import StoredValueFunction

        return StoredValueFunction
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
