"""Peer runner for benchmarks/spex_benchmark.py, executed with the Python 3.12 venv (benchmarks/.venv312).

It never imports spex_mech. Input: an .npz with the planted spectrum (padded support rows ``keys``, ``values``),
``n``, ``noise_sd``, ``noise_seed``, ``design_seed``, ``budget``, ``max_order``, the ``methods`` to run and a
per-decode ``timeout`` in seconds. The worker evaluates the function itself with numpy (Σ_k F(k)(−1)^⟨x,k⟩ plus
seeded Gaussian noise), runs the peer, and writes a JSON file with the recovered Fourier spectrum, the number of
evaluations the peer asked for, and timings (design + per-group transforms, time inside the value function, decode).

Both peers share one sampling pass, since shapiq builds exactly sparse-transform's design:
  shapiq            shapiq 1.8.0 ``SPEX`` internals as ``SPEX.approximate`` runs them (budget → b via
                    ``_set_transform_budget``, ``SubsampledSignal`` sampling, ``sparse_transform.transform`` with
                    shapiq's decoder arguments: soft Chase at shapiq's default depth t), stopping before the
                    index conversion so that Fourier coefficients can be compared.
  shapiq-hard       the same with ``SPEX(decoder_type="hard")``.
  sparse-transform  sparse-transform 0.2.1 decoded as spectral-explain's ``support_recovery('soft', ...)``
                    does: soft Chase with depth 2t, no regression.
The hash matrices come from numpy's global RNG, which the worker seeds with ``design_seed``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def planted(keys: np.ndarray, values: np.ndarray, n: int, noise_sd: float, noise_seed: int):
    idx = np.where(keys < 0, n, keys)
    rng = np.random.default_rng(noise_seed)
    clock = {"seconds": 0.0, "rows": 0}

    def f(masks: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        masks = np.asarray(masks).astype(bool)
        padded = np.concatenate([masks, np.zeros((masks.shape[0], 1), bool)], axis=1)
        out = np.empty(masks.shape[0])
        step = max(1, 20_000_000 // max(1, idx.size))
        for s in range(0, masks.shape[0], step):
            parity = np.bitwise_xor.reduce(padded[s : s + step][:, idx], axis=2)
            out[s : s + step] = (1.0 - 2.0 * parity) @ values
        if noise_sd > 0:
            out = out + rng.normal(0.0, noise_sd, size=out.shape)
        clock["seconds"] += time.perf_counter() - start
        clock["rows"] += masks.shape[0]
        return out

    return f, clock


class DecodeTimeout(Exception):
    pass


def _alarm(signum, frame):  # pragma: no cover - signal handler
    raise DecodeTimeout()


def run(
    methods: list[str], f, clock, n: int, budget: int, max_order: int, design_seed: int, timeout: int
) -> list[dict]:
    """Sample once with the shared SPEX design, then decode with each peer's configuration."""
    import signal as os_signal

    import shapiq
    from sparse_transform.qsft.qsft import transform
    from sparse_transform.qsft.signals.input_signal_subsampled import SubsampledSignal
    from sparse_transform.qsft.utils.query import get_bch_decoder

    approx = shapiq.SPEX(
        n=n,
        max_order=max_order,
        index="FBII",
        decoder_type="soft",
        degree_parameter=max_order,
        random_state=design_seed,
    )
    approx._set_transform_budget(budget)  # raises for budgets below b = 3, as shapiq does
    query_args = dict(approx.query_args)
    b, t = int(query_args["b"]), int(query_args["t"])
    hard = shapiq.SPEX(
        n=n,
        max_order=max_order,
        index="FBII",
        decoder_type="hard",
        degree_parameter=max_order,
        random_state=design_seed,
    )
    hard._set_transform_budget(budget)
    configs = {
        # shapiq's own decoder arguments (soft Chase with its default depth, t)
        "shapiq": dict(approx.decoder_args),
        # shapiq with decoder_type="hard" (Berlekamp–Massey only, no Chase)
        "shapiq-hard": dict(hard.decoder_args),
        # spectral-explain's support_recovery('soft'): Chase depth 2t, no regression
        "sparse-transform": dict(
            reconstruct_method_source="coded",
            reconstruct_method_channel="identity-siso",
            b=b,
            num_subsample=3,
            num_repeat=1,
            source_decoder=get_bch_decoder(n, t, "soft", chase_depth=2 * t),
            peeling_method="multi-detect",
            res_energy_cutoff=0.9,
            peel_average=True,
            trap_exit=True,
        ),
    }
    # Compile galois/numba kernels before anything is timed: decode a tiny pure-noise design (b = 3)
    # once with every configuration, so that no method pays the JIT warm-up inside its decode time.
    noise = np.random.default_rng(12345)
    tiny = SubsampledSignal(func=lambda x: noise.normal(size=len(x)), n=n, q=2, query_args=dict(query_args, b=3))
    for method in methods:
        transform(tiny, **dict(configs[method], b=3))

    np.random.seed(design_seed)  # the peers draw their hash matrices from numpy's global RNG
    t0 = time.perf_counter()
    signal = SubsampledSignal(func=lambda x: f(x.astype(bool)), n=n, q=2, query_args=query_args)
    sampling = time.perf_counter() - t0
    results = []
    os_signal.signal(os_signal.SIGALRM, _alarm)
    for method in methods:
        common = {
            "method": method,
            "b": b,
            "t": t,
            "n_evaluations": int(clock["rows"]),
            "function_seconds": clock["seconds"],
            "design_seconds": sampling - clock["seconds"],
        }
        start, cpu_start = time.perf_counter(), time.process_time()
        os_signal.alarm(timeout)
        try:
            raw = transform(signal, **configs[method])
            os_signal.alarm(0)
            cpu = time.process_time() - cpu_start
        except DecodeTimeout:
            results.append(
                {
                    **common,
                    "error": f"decode did not finish within {timeout} s",
                    "timeout": True,
                    "decode_seconds": time.perf_counter() - start,
                }
            )
            continue
        except Exception as err:  # recorded by the driver
            os_signal.alarm(0)
            elapsed = time.perf_counter() - start
            if elapsed >= timeout - 1:  # the alarm fired inside numba code, which re-raises it as SystemError
                results.append(
                    {
                        **common,
                        "error": f"decode did not finish within {timeout} s",
                        "timeout": True,
                        "decode_seconds": elapsed,
                    }
                )
            else:
                results.append({**common, "error": f"{type(err).__name__}: {err}"})
            continue
        fourier = [[np.nonzero(np.asarray(k))[0].tolist(), float(np.real(v))] for k, v in raw.items()]
        results.append(
            {**common, "fourier": fourier, "decode_seconds": time.perf_counter() - start, "decode_cpu_seconds": cpu}
        )
    return results


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    data = np.load(src)
    n = int(data["n"])
    f, clock = planted(data["keys"], data["values"], n, float(data["noise_sd"]), int(data["noise_seed"]))
    methods = [str(m) for m in data["methods"]]
    try:
        out = run(
            methods,
            f,
            clock,
            n,
            int(data["budget"]),
            int(data["max_order"]),
            int(data["design_seed"]),
            int(data["timeout"]),
        )
    except Exception as err:  # reported to the driver, which records the failure
        out = [{"method": m, "error": f"{type(err).__name__}: {err}"} for m in methods]
    with open(dst, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
