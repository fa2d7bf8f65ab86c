"""spex_mech.algorithms._threads.thread_limit: threadpoolctl's limit with a cached library scan."""

from __future__ import annotations

import sys

from threadpoolctl import threadpool_info

from spex_mech.algorithms._threads import _controllers, thread_limit


def _threads() -> dict[str, int]:
    return {info["filepath"]: info["num_threads"] for info in threadpool_info()}


def test_limits_every_loaded_runtime_and_restores_it():
    before = _threads()
    assert before  # numpy's BLAS at least
    with thread_limit(1):
        assert set(_threads().values()) == {1}
    assert _threads() == before


def test_the_library_scan_is_reused_until_a_module_is_imported():
    with thread_limit(1):
        pass
    first = _controllers[len(sys.modules)]
    with thread_limit(1):
        pass
    assert _controllers[len(sys.modules)] is first
    sys.modules["_spex_mech_test_dummy"] = type(sys)("_spex_mech_test_dummy")  # an import happened
    try:
        with thread_limit(1):
            pass
        assert _controllers[len(sys.modules)] is not first and len(_controllers) == 1
    finally:
        del sys.modules["_spex_mech_test_dummy"]
