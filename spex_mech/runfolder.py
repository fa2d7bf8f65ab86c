"""The output folder of a sweep: one writer at a time, and nothing deleted that the run did not create.

``RunFolder(out)`` checks ``out`` before any work: it must be missing, empty, or a spex-mech run folder
(it holds the marker ``.spex-mech-run``); anything else is refused, so a user's files are never mixed
with a run's or removed. It then takes ``out/.spex-mech.lock`` with an exclusive ``flock`` and writes
its PID into it: a second run on the same folder is refused naming the first; the kernel drops the
lock when a run dies (even by SIGKILL), so a stale lock file is simply taken over.

``cleanup_if_unused(store)`` after a failed run removes only what this run created (the store's
database files when it holds no mask, the marker and lock, the folder if this run made it and it is
now empty).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Optional

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunFolder", "RunFolderError", "MARKER", "LOCK"]

MARKER = ".spex-mech-run"
LOCK = ".spex-mech.lock"
_STORE_FILES = ("store.sqlite", "store.sqlite-wal", "store.sqlite-shm", "store.sqlite-journal")


class RunFolderError(ValueError):
    """The output folder cannot be used (unrelated files, in use by another run, not writable)."""


class RunFolder:
    """Claim ``out`` for one run (see the module docstring); use as a context manager or call :meth:`release`.

    Parameters
    ----------
    out : str or os.PathLike
        The output folder.

    Raises
    ------
    RunFolderError
        If the folder holds files that are not a spex-mech run, or another run holds its lock.
    """

    def __init__(self, out: str | os.PathLike):
        self.path = Path(out)
        self.created_folder = False
        self.created_marker = False
        self._lock_fd: Optional[int] = None
        self._check_contents()
        try:
            if not self.path.exists():
                self.path.mkdir(parents=True)
                self.created_folder = True
            marker = self.path / MARKER
            if not marker.exists():
                marker.write_text(json.dumps({"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "by": "spex-mech"}) + "\n")
                self.created_marker = True
        except OSError as err:
            raise RunFolderError(f"--out {self.path}: cannot write there ({err.strerror})") from err
        self._take_lock()

    # ------------------------------------------------------------------ checks
    def _check_contents(self) -> None:
        p = self.path
        if p.exists() and not p.is_dir():
            raise RunFolderError(f"--out {p} is a file, not a folder")
        if not p.exists():
            parent = next((q for q in p.absolute().parents if q.exists()), None)
            if parent is None or not os.access(parent, os.W_OK | os.X_OK):
                raise RunFolderError(f"--out {p}: cannot create the folder ({parent} is not writable)")
            return
        if not os.access(p, os.W_OK | os.X_OK):
            raise RunFolderError(f"--out {p} is not writable")
        entries = sorted(e.name for e in p.iterdir())
        if not entries:
            return
        store = p / "store"
        if (store / "records.bin").exists():
            raise RunFolderError(
                f"--out {p} holds a store of the old format (store/records.bin) with no identity or checksums; "
                "it cannot be verified, so it is not reused: choose a new --out (the folder is left as it is)"
            )
        if MARKER not in entries:
            raise RunFolderError(
                f"--out {p} already holds files that are not a spex-mech run (e.g. '{entries[0]}'); "
                "choose a new or empty folder (nothing there was touched)"
            )
        if store.exists():
            if store.is_dir():
                extra = sorted(e.name for e in store.iterdir() if e.name not in _STORE_FILES)
            else:
                extra = ["store"]
            if extra:
                raise RunFolderError(
                    f"--out {p}: {store} holds files that are not a spex-mech store (e.g. '{extra[0]}'); "
                    "choose a new folder (nothing there was touched)"
                )

    def _take_lock(self) -> None:
        lock = self.path / LOCK
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                try:
                    holder = os.read(fd, 4096).decode(errors="replace").strip()
                finally:
                    os.close(fd)
                info = _describe_holder(holder)
                raise RunFolderError(
                    f"--out {self.path} is in use by another spex-mech run ({info}); wait for it or choose another "
                    "--out"
                ) from None
        os.ftruncate(fd, 0)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": " ".join(sys.argv),
        }
        os.write(fd, (json.dumps(record) + "\n").encode())
        os.fsync(fd)
        self._lock_fd = fd

    # ------------------------------------------------------------------ release / cleanup
    def release(self) -> None:
        """Drop the lock (the lock file stays; it is this run folder's)."""
        if self._lock_fd is not None:
            try:
                os.ftruncate(self._lock_fd, 0)
            except OSError:  # pragma: no cover
                pass
            os.close(self._lock_fd)
            self._lock_fd = None

    def cleanup_if_unused(self, store: Any = None) -> None:
        """Remove, after a failed run, only what this run created and left unused.

        If ``store`` holds no evaluated mask and this run created it, remove its files; then the marker and lock
        if this run created them and nothing else of the run is left; then the folder if this run made it and it
        is empty. Nothing else is ever removed.

        Parameters
        ----------
        store : Any, optional
            The run's store (its length is the number of evaluated masks).
        """
        if store is not None:
            if len(store):
                self.release()
                return
            if getattr(store, "created", False):
                store.close()
                for name in _STORE_FILES:
                    (Path(store.path) / name).unlink(missing_ok=True)
                try:
                    Path(store.path).rmdir()
                except OSError:
                    pass
        self.release()
        if self.created_marker:
            others = [e for e in self.path.iterdir() if e.name not in (MARKER, LOCK)]
            if not others:
                (self.path / MARKER).unlink(missing_ok=True)
                (self.path / LOCK).unlink(missing_ok=True)
        if self.created_folder:
            try:
                self.path.rmdir()
            except OSError:
                pass

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _describe_holder(text: str) -> str:
    try:
        rec = json.loads(text)
        return f"PID {rec['pid']} on {rec['host']}, started {rec['started']}: {rec['command']}"
    except (ValueError, KeyError, TypeError):
        return "its lock is held"
