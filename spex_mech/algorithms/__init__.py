"""Algorithms over value functions ``f(masks) -> values``: exhaustive, SPEX, ProxySPEX and the baselines.

They design masks, call ``f`` and decode; none imports torch or a model.
"""
