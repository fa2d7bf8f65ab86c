"""Former home of the ProxySPEX tree proxies; they live in :mod:`spex_mech.algorithms.proxyspex.proxy`.

Kept so that ``from spex_mech.algorithms.proxy_models import fit_proxy`` keeps working.
"""

from .proxyspex.proxy import BACKENDS, ProxyConfig, ProxyFit, fit_proxy, min_leaf_samples, refit_proxy, resolve_backend

__all__ = ["BACKENDS", "ProxyConfig", "ProxyFit", "fit_proxy", "min_leaf_samples", "refit_proxy", "resolve_backend"]
