"""A SQLite record of evaluated masks that knows what its values mean.

Sweeps lose nothing and never reuse a stale or corrupt value.

``MaskStore`` keeps one SQLite database (``store.sqlite`` in WAL mode) per value function:

* table ``identity`` (``key``, ``value``): everything that determines a value (see
  :mod:`spex_mech.identity`), written once when the store is created. A store without it is refused,
  and reopening with a different identity is refused with the keys that differ.
* table ``evals`` (``id``, ``key``, ``mask``, ``value``, ``checksum``): one row per evaluated mask.
  ``key`` is the BLAKE2b digest of the packed mask and is ``UNIQUE`` (a 16-byte index instead of one
  over masks of up to kilobytes); ``mask`` holds the packed bits themselves and every hit compares
  them, so a digest collision can never answer the wrong mask. ``checksum`` covers mask and value bytes
  and is checked on every read, so an edited or damaged row is refused, never used.

Each :meth:`MaskStore.append` is one transaction, committed (and fsynced by SQLite) before it returns;
a crash at any moment leaves either the whole batch or none of it. Query a run with SQL, e.g.
``sqlite3 OUT/store/store.sqlite "select count(*), avg(value) from evals"``.

:class:`~spex_mech.games.StoredValueFunction` wraps any value function over such a store: masks already
in it are answered from it, only new ones are evaluated, and each finished batch is committed before
the next starts.

Length: one class, :class:`MaskStore` (schema, identity, append, lookup, load, export), whose transaction
and checksum logic is kept in one place on purpose.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import struct
import zlib
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from .batch import checked_batch

__all__ = ["DB_NAME", "MaskStore", "StoreError"]

DB_NAME = "store.sqlite"
_FORMAT = "spex_mech.MaskStore"
_VERSION = 2
_CHUNK = 500  # keys per SELECT ... IN (...): below SQLite's bound-parameter limit
EXPORT_BOOL_CELLS = 1 << 24  # export_npz also writes bool masks up to this many mask cells


class StoreError(ValueError):
    """The store cannot be used as asked; never recovered from silently.

    A different value function, an old format, a missing identity record, or a damaged file or row.
    """


def _digest(packed_row: bytes) -> bytes:
    return hashlib.blake2b(packed_row, digest_size=16).digest()


def _checksum(packed_row: bytes, value: float) -> int:
    return zlib.crc32(struct.pack("<d", value), zlib.crc32(packed_row))


def _canonical(meta: Optional[Mapping[str, Any]]) -> dict[str, str]:
    """Return the identity as a flat {key: JSON text} mapping (what is stored and compared)."""
    return {str(k): json.dumps(v, sort_keys=True, default=str) for k, v in (meta or {}).items()}


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class MaskStore:
    """Evaluated (mask, value) pairs for one value function over ``n`` units, kept in ``path``/.

    Parameters
    ----------
    path : str or os.PathLike
        Folder of the store (created if missing); the database is ``path/store.sqlite``.
    n : int
        Number of units (mask width).
    meta : mapping, optional
        The identity of the value function: a mapping of JSON-able values (for sweeps,
        :func:`spex_mech.identity.game_identity`). Reopening a store with a different ``n`` or
        ``meta`` raises :class:`StoreError` naming the keys that differ.
    create : bool, default True
        If False, a missing database is an error instead of being created.

    Raises
    ------
    StoreError
        If ``path`` holds a store of the old format, the database is missing and ``create`` is False,
        the database is damaged or not a spex-mech store, or its format, version, ``n`` or identity
        differ from the ones given.
    """

    def __init__(
        self, path: str | os.PathLike, n: int, meta: Optional[Mapping[str, Any]] = None, *, create: bool = True
    ):
        self.path = Path(path)
        self.n = int(n)
        self.meta = dict(meta or {})
        self._row_bytes = (self.n + 7) // 8
        if (self.path / "records.bin").exists() or (self.path / "meta.json").exists():
            raise StoreError(
                f"{self.path} holds a store of the old format (records.bin/meta.json) that has no identity or "
                "checksums; it cannot be verified, so it is not reused: run into a new --out "
                "(the old folder is left as it is)"
            )
        db = self.path / DB_NAME
        existed = db.exists()
        if not existed and not create:
            raise StoreError(f"no store at {db}")
        self.path.mkdir(parents=True, exist_ok=True)
        self.created = not existed
        try:
            self._conn = sqlite3.connect(str(db), timeout=30.0, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            if existed:
                self._check_identity()
            else:
                self._create()
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{db} is damaged or not a spex-mech store ({err}); it is not reused") from err

    # ------------------------------------------------------------------ schema and identity
    def _create(self) -> None:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("CREATE TABLE IF NOT EXISTS identity (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            c.execute(
                "CREATE TABLE IF NOT EXISTS evals (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE, "
                "mask BLOB NOT NULL, value REAL NOT NULL, checksum INTEGER NOT NULL)"
            )
            if c.execute("SELECT count(*) FROM identity").fetchone()[0] == 0:
                header = {"format": json.dumps(_FORMAT), "version": json.dumps(_VERSION), "n": json.dumps(self.n)}
                rows = {f"meta.{k}": v for k, v in _canonical(self.meta).items()}
                rows.update({f"store.{k}": v for k, v in header.items()})
                c.executemany("INSERT INTO identity (key, value) VALUES (?, ?)", sorted(rows.items()))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        self._check_identity()

    def _check_identity(self) -> None:
        db = self.path / DB_NAME
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"identity", "evals"} <= tables:
            raise StoreError(f"{db} is not a spex-mech store (tables identity/evals missing); it is not reused")
        rows = dict(self._conn.execute("SELECT key, value FROM identity").fetchall())
        header = {k[6:]: v for k, v in rows.items() if k.startswith("store.")}
        if not header:
            raise StoreError(
                f"{db} has no identity record, so what its values mean is unknown; it is refused, never adopted "
                "(run into a new --out)"
            )
        if header.get("format") != json.dumps(_FORMAT) or header.get("version") != json.dumps(_VERSION):
            raise StoreError(f"{db}: unknown store format {header.get('format')} version {header.get('version')}")
        if header.get("n") != json.dumps(self.n):
            raise StoreError(f"store {self.path} holds masks over n={header.get('n')} units, not {self.n}")
        stored = {k[5:]: v for k, v in rows.items() if k.startswith("meta.")}
        now = _canonical(self.meta)
        if stored != now:
            diffs = []
            for key in sorted(set(stored) | set(now)):
                if stored.get(key) != now.get(key):
                    was, now_text = _short(stored.get(key, "absent")), _short(now.get(key, "absent"))
                    diffs.append(f"{key} (stored {was}, now {now_text})")
            raise StoreError(
                f"store {self.path} was written for a different value function: " + "; ".join(diffs)
                + " — its values do not apply; use another --out"
            )

    @classmethod
    def open_existing(cls, path: str | os.PathLike) -> "MaskStore":
        """Open the store in ``path`` with the width and identity it was written with.

        For reading or counting a run's values (tools, tests, a driver adopting its own run) without
        rebuilding its identity; writing through it keeps that identity. A missing, damaged or
        identity-less store raises :class:`StoreError`.

        Parameters
        ----------
        path : str or os.PathLike
            Folder of the store (holding ``store.sqlite``).

        Returns
        -------
        MaskStore
            The opened store, with ``create=False``.

        Raises
        ------
        StoreError
            If the store is missing, damaged or has no identity record.
        """
        db = Path(path) / DB_NAME
        if not db.is_file():
            raise StoreError(f"no store at {db}")
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30.0)) as conn:
                rows = dict(conn.execute("SELECT key, value FROM identity").fetchall())
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{db} is damaged or not a spex-mech store ({err})") from err
        if "store.n" not in rows:
            raise StoreError(f"{db} has no identity record, so what its values mean is unknown; it is refused")
        meta = {k[5:]: json.loads(v) for k, v in rows.items() if k.startswith("meta.")}
        return cls(path, int(json.loads(rows["store.n"])), meta, create=False)

    @property
    def identity(self) -> dict[str, Any]:
        """The stored identity record (``meta``, as JSON values)."""
        rows = self._conn.execute("SELECT key, value FROM identity WHERE key LIKE 'meta.%'").fetchall()
        return {k[5:]: json.loads(v) for k, v in rows}

    # ------------------------------------------------------------------ reads
    def _pack(self, masks: np.ndarray) -> np.ndarray:
        return np.packbits(np.asarray(masks, dtype=bool), axis=1, bitorder="little")

    def _bad_row(self, row_id: int, what: str) -> StoreError:
        return StoreError(
            f"store {self.path / DB_NAME}: row {row_id} fails its {what} check (the file was edited or damaged); "
            "no value from it is used — run into a new --out"
        )

    def load_packed(self) -> tuple[np.ndarray, np.ndarray]:
        """Return all stored masks bit-packed and their values, in the order they were written.

        Masks are uint8 [N, ⌈n/8⌉] (little bit order), values float64 [N]. Every row's checksum is verified.

        Returns
        -------
        tuple of numpy.ndarray
            ``packed`` and ``values``.

        Raises
        ------
        StoreError
            If the database is damaged or a row fails its type, checksum or key check.
        """
        try:
            rows = self._conn.execute("SELECT id, key, mask, value, checksum FROM evals ORDER BY id").fetchall()
        except sqlite3.DatabaseError as err:
            raise StoreError(f"store {self.path / DB_NAME} is damaged ({err}); it is not reused") from err
        packed = np.empty((len(rows), self._row_bytes), dtype=np.uint8)
        values = np.empty(len(rows), dtype=np.float64)
        for i, (row_id, key, mask, value, checksum) in enumerate(rows):
            self._verify(row_id, key, mask, value, checksum)
            packed[i] = np.frombuffer(mask, dtype=np.uint8)
            values[i] = value
        return packed, values

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Return all stored masks (bool [N, n]) and values (float64 [N]), in the order they were written.

        Every row's checksum is verified.

        Returns
        -------
        tuple of numpy.ndarray
            ``masks`` and ``values``.

        Raises
        ------
        StoreError
            If the database is damaged or a row fails its type, checksum or key check.
        """
        packed, values = self.load_packed()
        if not len(values):
            return np.zeros((0, self.n), dtype=bool), values
        return np.unpackbits(packed, axis=1, count=self.n, bitorder="little").astype(bool), values

    def _verify(self, row_id: int, key: bytes, mask: bytes, value: Any, checksum: int) -> None:
        if not isinstance(mask, bytes) or len(mask) != self._row_bytes or not isinstance(value, float):
            raise self._bad_row(row_id, "type")
        if _checksum(mask, value) != checksum:
            raise self._bad_row(row_id, "checksum")
        if _digest(mask) != key:
            raise self._bad_row(row_id, "key")

    def __len__(self) -> int:
        try:
            return int(self._conn.execute("SELECT count(*) FROM evals").fetchone()[0])
        except sqlite3.DatabaseError as err:
            raise StoreError(f"store {self.path / DB_NAME} is damaged ({err}); it is not reused") from err

    def lookup(self, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (found bool [B], values float64 [B], NaN where not found) for the given masks.

        Each hit's mask bytes and checksum are verified.

        Parameters
        ----------
        masks : numpy.ndarray
            Bool (or 0/1) ``[B, n]``.

        Returns
        -------
        tuple of numpy.ndarray
            ``found`` and ``values``.

        Raises
        ------
        StoreError
            If the database is damaged, or a hit fails its checks or holds another mask's bytes.
        """
        packed = self._pack(masks)
        rows = [r.tobytes() for r in packed]
        keys = [_digest(r) for r in rows]
        hits: dict[bytes, tuple] = {}
        try:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                query = f"SELECT id, key, mask, value, checksum FROM evals WHERE key IN ({','.join('?' * len(chunk))})"
                for hit in self._conn.execute(query, chunk):
                    hits[hit[1]] = hit
        except sqlite3.DatabaseError as err:
            raise StoreError(f"store {self.path / DB_NAME} is damaged ({err}); it is not reused") from err
        found = np.zeros(len(rows), dtype=bool)
        values = np.full(len(rows), np.nan)
        for i, (row, key) in enumerate(zip(rows, keys)):
            hit = hits.get(key)
            if hit is None:
                continue
            self._verify(*hit)
            if hit[2] != row:
                raise StoreError(
                    f"store {self.path / DB_NAME}: row {hit[0]} has the key of another mask (damaged); not reused"
                )
            found[i] = True
            values[i] = hit[3]
        return found, values

    # ------------------------------------------------------------------ writes
    def append(self, masks: np.ndarray, values: np.ndarray) -> None:
        """Store a batch in one transaction, committed to disk before returning.

        A mask already stored with the bit-identical value is skipped; with a different value it is an
        error (two value functions writing one store).

        Parameters
        ----------
        masks : numpy.ndarray
            Bool (or 0/1) ``[B, n]``.
        values : numpy.ndarray
            Float64 ``[B]``, finite.

        Raises
        ------
        ValueError
            If the shapes disagree or a value is not finite.
        StoreError
            If a mask is already stored with a different value, or the write fails (the batch is rolled
            back).
        """
        masks, values = checked_batch(masks, values, self.n)
        packed = self._pack(masks)
        records = []
        for row, value in zip(packed, values.tolist()):
            b = row.tobytes()
            records.append((_digest(b), b, value, _checksum(b, value)))
        c = self._conn
        try:
            c.execute("BEGIN IMMEDIATE")
            try:
                before = c.total_changes
                c.executemany("INSERT OR IGNORE INTO evals (key, mask, value, checksum) VALUES (?, ?, ?, ?)", records)
                if c.total_changes - before != len(records):
                    self._check_duplicates(records)
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as err:
            raise StoreError(f"store {self.path / DB_NAME}: write failed ({err})") from err

    def _check_duplicates(self, records: list[tuple]) -> None:
        for key, mask, value, _ in records:
            row = self._conn.execute("SELECT id, mask, value FROM evals WHERE key = ?", (key,)).fetchone()
            if row is not None and (row[1] != mask or struct.pack("<d", row[2]) != struct.pack("<d", value)):
                raise StoreError(
                    f"store {self.path / DB_NAME}: mask already stored (row {row[0]}) with value {row[2]!r}, "
                    f"now {value!r}: two different value functions write this store"
                )

    def verify(self) -> int:
        """Check the whole database (SQLite's integrity check and every row's checksum); the row count."""
        try:
            status = self._conn.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as err:
            raise StoreError(f"store {self.path / DB_NAME} is damaged ({err})") from err
        if status != "ok":
            raise StoreError(f"store {self.path / DB_NAME} is damaged (integrity check: {status})")
        masks, _ = self.load()
        return len(masks)

    def export_npz(self, path: str | os.PathLike) -> None:
        """Write every stored mask and value to a compressed ``.npz``.

        Keys: ``values`` (float64 [N]), ``n``, ``masks_packed`` (uint8 [N, ⌈n/8⌉]; bool masks are
        ``np.unpackbits(masks_packed, axis=1, count=n, bitorder="little")``) and, when the bool array
        has at most ``EXPORT_BOOL_CELLS`` cells, ``masks`` (bool [N, n]) as well — whole-model unit sets
        (tens of thousands of units) are exported packed only, eight times smaller and faster.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (``numpy.savez_compressed`` appends ``.npz`` if it is missing).

        Raises
        ------
        StoreError
            If the database is damaged or a row fails its checks.
        """
        packed, values = self.load_packed()
        arrays = {"values": values, "n": np.int64(self.n), "masks_packed": packed}
        if len(values) * self.n <= EXPORT_BOOL_CELLS:
            arrays["masks"] = np.unpackbits(packed, axis=1, count=self.n, bitorder="little").astype(bool)
        np.savez_compressed(path, **arrays)

    def close(self) -> None:
        """Close the database connection (the WAL is checkpointed into the main file). Idempotent."""
        try:
            self._conn.close()
        except sqlite3.Error:  # pragma: no cover
            pass

    def __getstate__(self):  # a Ray/pickle copy reopens the same database
        return {"path": self.path, "n": self.n, "meta": self.meta}

    def __setstate__(self, state):
        self.__init__(state["path"], state["n"], state["meta"], create=False)
