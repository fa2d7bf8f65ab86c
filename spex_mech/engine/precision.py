"""Opt-in reduced precision for the masked forward passes.

==========  ===================================================================  ===========
precision   what runs                                                            devices
==========  ===================================================================  ===========
``fp32``    everything float32 (the default; exact, and bit-identical to before)   all
``tf32``    float32 tensors, matmuls and convolutions in TF32 (10-bit mantissa)    CUDA
``bf16``    ``torch.autocast(dtype=bfloat16)``: matmuls in bfloat16                 CPU, CUDA
==========  ===================================================================  ===========

Only the masked passes change: the clean run, the ablation references (means, resample
activations), the prefix-sharing check and the metric (on logits cast back to float32) stay float32.
The deviation from fp32 is measured, not promised: ``tests/test_precision.py`` states the tolerance
it checks on a small model and ``benchmarks/precision.py`` measures it on the GPT-2-small shape.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

__all__ = ["PRECISIONS", "check_precision", "reduced_precision"]

PRECISIONS = ("fp32", "tf32", "bf16")


def check_precision(precision: str, device: torch.device | None = None) -> str:
    """Check a precision name (and against ``device``, if given).

    Parameters
    ----------
    precision : str
        ``"fp32"``, ``"tf32"`` or ``"bf16"``.
    device : torch.device, optional
        The device the game runs on (tf32 needs CUDA).

    Returns
    -------
    str
        The precision name.

    Raises
    ------
    ValueError
        If the name is unknown or does not fit the device (one line).
    """
    if not isinstance(precision, str) or precision.lower() not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    precision = precision.lower()
    if device is not None and precision == "tf32" and device.type != "cuda":
        raise ValueError(f"precision 'tf32' needs a CUDA device, the game runs on {device.type} (use 'bf16' or 'fp32')")
    return precision


@contextlib.contextmanager
def reduced_precision(precision: str, device: torch.device) -> Iterator[None]:
    """Switch to the numeric mode of ``precision`` for the code inside; global flags are restored afterwards.

    Parameters
    ----------
    precision : str
        ``"fp32"``, ``"tf32"`` or ``"bf16"``.
    device : torch.device
        The device the code runs on.

    Yields
    ------
    None
        Control, in that mode.
    """
    if precision == "fp32":
        yield
        return
    if precision == "tf32":
        old_matmul = torch.backends.cuda.matmul.allow_tf32
        old_cudnn = torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old_matmul
            torch.backends.cudnn.allow_tf32 = old_cudnn
        return
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        yield
