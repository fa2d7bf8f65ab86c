"""Rows per forward pass from a measured memory peak, not a fixed guess.

The rule (``AblationGame(batch_size="auto")``):

1. **Before the first evaluation** the engine uses an analytic estimate of the bytes one row (one mask
   on one prompt) needs (:func:`estimate_bytes_per_row`: activations, attention patterns and the logits
   at the read positions, in float32) within the device's budget (:func:`memory_budget`), capped on CPU
   by a speed limit (a few thousand tokens per pass saturate the matmuls).
2. **On first use** the first pass runs a probe of a quarter of the estimated rows (or the whole
   call, if smaller but at least ``MIN_PROBE_ROWS`` rows; smaller calls wait for a larger one), on
   real masks (its values are kept), and its memory peak above what was allocated before the pass is
   measured:

   * CUDA: ``torch.cuda.max_memory_allocated`` (peak statistics reset for the probe);
   * CPU: every tensor storage created during the probe is counted while alive (a
     ``TorchDispatchMode`` that adds a storage's bytes when an op creates it and subtracts them when
     the last tensor on it dies); the peak of that running total is the probe's peak. Process RSS is
     not used (its high-water mark cannot be reset without corrupting other peak-RSS measurements,
     and freed heap memory hides growth).

3. bytes per row = probe peak / probe rows (fixed per-pass costs are charged to the rows, which errs on
   the safe side); rows = ⌊budget / (``HEADROOM`` · bytes per row)⌋, at least 1, and on CPU at most the
   speed cap.

On CUDA an out-of-memory error in a pass halves the rows per pass and retries the same masks (values
do not depend on the batch size), so a shape that does not fit degrades speed, never the result.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
import torch.utils._python_dispatch
import torch.utils._pytree

__all__ = [
    "HEADROOM",
    "MIN_PROBE_ROWS",
    "PeakMeter",
    "RowBudget",
    "estimate_bytes_per_row",
    "measure",
    "memory_budget",
    "rows_for",
]

HEADROOM = 1.5
"""Rows are chosen so that ``HEADROOM`` × the measured peak fits the budget."""

MIN_PROBE_ROWS = 64
"""A first call smaller than a quarter of the estimated rows is measured whole if it has this many rows."""


@dataclass(frozen=True)
class RowBudget:
    """How the rows per pass were chosen.

    Attributes
    ----------
    rows : int
        Rows (masks × prompts) per forward pass.
    bytes_per_row : float
        Bytes one row needs (measured, or the analytic estimate).
    budget_bytes : int
        The memory the passes may use on the device.
    source : str
        ``"fixed"`` (``batch_size`` given), ``"estimate"`` (not measured yet, or the device cannot be
        measured), ``"cuda peak"`` or ``"cpu tensors"``.
    probe_rows : int
        Rows in the measured probe pass (0 when not measured).
    probe_peak_bytes : int
        The probe's measured peak above the memory in use before it (0 when not measured).
    speed_cap : int, optional
        The CPU speed limit on rows per pass (None on CUDA or for a fixed batch size).
    """

    rows: int
    bytes_per_row: float
    budget_bytes: int
    source: str
    probe_rows: int = 0
    probe_peak_bytes: int = 0
    speed_cap: Optional[int] = None

    @property
    def measured(self) -> bool:
        """True when the bytes per row come from a measurement (CUDA peak or CPU tensors)."""
        return self.source in ("cuda peak", "cpu tensors")


def _total_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


def memory_budget(device: torch.device) -> int:
    """Return the bytes the masked passes may use: 40% of free GPU memory; on CPU min(2 GiB, RAM / 8).

    Parameters
    ----------
    device : torch.device
        The device the passes run on.

    Returns
    -------
    int
        The budget in bytes.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(0.4 * free)
    return int(min(2 << 30, _total_memory_bytes() // 8))


def estimate_bytes_per_row(dims: dict[str, Optional[int]], length: int, read_positions: int) -> int:
    """Estimate the float32 bytes per row analytically (used until a measurement replaces it).

    Counts residual-stream-sized activations, MLP activations, attention patterns, and the logits at the read
    positions.

    Parameters
    ----------
    dims : dict
        The model's dimensions (``d_model``, ``d_mlp``, ``n_heads``, ``d_vocab``; None or 0 when
        unknown).
    length : int
        Tokens per prompt.
    read_positions : int
        Positions whose logits are read.

    Returns
    -------
    int
        Bytes per row.
    """
    d = {k: (v or 0) for k, v in dims.items()}
    d_model = d["d_model"] or 512
    heads = max(d["n_heads"], 1)
    vocab = d["d_vocab"] or 50000
    return 4 * (length * (12 * d_model + 4 * d["d_mlp"] + 4 * heads * length) + 3 * read_positions * vocab)


def rows_for(bytes_per_row: float, budget: int, speed_cap: Optional[int]) -> int:
    """Compute ⌊budget / (HEADROOM · bytes_per_row)⌋, within [1, speed_cap].

    Parameters
    ----------
    bytes_per_row : float
        Bytes one row needs.
    budget : int
        Bytes available.
    speed_cap : int, optional
        Most rows per pass (no cap when None).

    Returns
    -------
    int
        Rows per pass.
    """
    rows = int(budget // max(HEADROOM * bytes_per_row, 1.0))
    if speed_cap is not None:
        rows = min(rows, speed_cap)
    return max(1, rows)


class _LiveStorages(torch.utils._python_dispatch.TorchDispatchMode):
    """Running total of the bytes of tensor storages created inside the mode and still alive."""

    def __init__(self, device_type: str) -> None:
        super().__init__()
        self.device_type = device_type
        self.refs: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.current = 0
        self.peak = 0

    def _release(self, key: int) -> None:
        self.refs[key] -= 1
        if self.refs[key] == 0:
            self.current -= self.sizes.pop(key)
            del self.refs[key]

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type != self.device_type:
                continue
            storage = t.untyped_storage()
            key = storage.data_ptr()
            if key == 0:
                continue
            if key not in self.refs:
                self.refs[key] = 0
                self.sizes[key] = storage.nbytes()
                self.current += self.sizes[key]
                self.peak = max(self.peak, self.current)
            self.refs[key] += 1
            weakref.finalize(t, self._release, key)
        return out


class PeakMeter:
    """Context manager measuring the memory peak of the code inside it, above what was in use before.

    ``peak`` is the result in bytes (``None`` if the device cannot be measured, or the measurement
    failed). CUDA: the allocator's peak statistics; CPU: live tensor storages created inside.

    Parameters
    ----------
    device : torch.device
        The device measured.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak: Optional[int] = None
        self.source = "cuda peak" if device.type == "cuda" else "cpu tensors"
        self._mode: Optional[_LiveStorages] = None
        self._base = 0

    def __enter__(self) -> "PeakMeter":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        elif self.device.type == "cpu":
            self._mode = _LiveStorages("cpu")
            self._mode.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = int(torch.cuda.max_memory_allocated(self.device) - self._base)
        elif self._mode is not None:
            self._mode.__exit__(exc_type, exc, tb)
            self.peak = int(self._mode.peak)
        if exc_type is not None:
            self.peak = None
        return False


def measure(device: torch.device, run: Callable[[], Any]) -> tuple[Any, Optional[int], str]:
    """Run ``run()`` under a :class:`PeakMeter`.

    Parameters
    ----------
    device : torch.device
        The device measured.
    run : callable
        The code measured (no arguments).

    Returns
    -------
    result : Any
        What ``run()`` returned.
    peak : int or None
        Peak bytes, or None.
    source : str
        What measured it.
    """
    meter = PeakMeter(device)
    with meter:
        result = run()
    return result, meter.peak, meter.source
