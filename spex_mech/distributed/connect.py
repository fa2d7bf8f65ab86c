"""Join a Ray cluster.

Addresses: ``"local"`` (start one here), ``"auto"`` (the one ``ray start`` runs on this machine),
``"ray://host:port"`` (Ray Client) or ``"host:port"`` (a head node's GCS).

Remote addresses are probed with a plain TCP connect first, so an unreachable address fails in
seconds with one clear line instead of Ray's long retry loop.
"""

from __future__ import annotations

import socket
from typing import Any, Optional

__all__ = ["ClusterError", "connect", "require_ray"]


class ClusterError(RuntimeError):
    """The cluster cannot run the game: unreachable, too small, or the game failed on an actor."""


def require_ray() -> Any:
    """Import ``ray``, or fail with the install hint."""
    try:
        import ray
    except ImportError as err:  # pragma: no cover - ray is in the test extras
        raise ClusterError("the distributed game needs Ray: pip install 'spex-mech[ray]'") from err
    return ray


def _host_port(address: str) -> tuple[str, int]:
    body = address[len("ray://") :] if address.startswith("ray://") else address
    host, sep, port = body.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(f"cluster address {address!r} must look like 'host:port' or 'ray://host:port'")
    return host.strip("[]"), int(port)


def _probe(address: str, timeout: float) -> None:
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ClusterError(f"cannot reach the Ray cluster at {address!r} ({reason})") from None


def connect(address: Optional[str] = "local", *, num_cpus: Optional[float] = None, probe_timeout: float = 5.0) -> bool:
    """Connect this process to Ray.

    Parameters
    ----------
    address : str, optional
        ``None`` or ``"local"`` (reuse the connection this process already has, else start a local Ray),
        ``"auto"``, ``"ray://host:port"`` or ``"host:port"`` (refused if this process is already connected).
    num_cpus : float, optional
        CPUs a local Ray may use (default: all of this machine's).
    probe_timeout : float, default 5.0
        Seconds the TCP probe of a remote address may take.

    Returns
    -------
    bool
        True if this call started Ray (so the caller shuts it down).

    Raises
    ------
    ClusterError
        If the address is unreachable, or this process is already connected elsewhere.
    """
    ray = require_ray()
    if ray.is_initialized():
        if address not in (None, "local"):
            raise ClusterError(
                f"this process is already connected to a Ray cluster; cannot also join {address!r} "
                "(use address=None to reuse the connection, or ray.shutdown() first)"
            )
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address in (None, "local"):
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        ray.init(address="local", **kwargs)  # always a fresh local instance, never a `ray start` one
        return True
    if not isinstance(address, str) or not address:
        raise ClusterError(
            f"cluster address must be 'local', 'auto', 'ray://host:port' or 'host:port', got {address!r}"
        )
    if address != "auto":
        _probe(address, probe_timeout)
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if address == "auto":
            raise ClusterError(
                f"no running Ray cluster found for address 'auto' (start one with `ray start --head`): {first}"
            ) from None
        raise ClusterError(f"cannot join the Ray cluster at {address!r}: {first}") from None
    return True
