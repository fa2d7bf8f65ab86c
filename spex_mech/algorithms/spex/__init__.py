"""SPEX: sparse Fourier interaction discovery with BCH-coded sampling and a peeling decoder.

``spex(f, n)`` designs C·(P+1)·2^b masks (C random hashes × the parity rows of a t-error-correcting
binary BCH code × a b-dimensional subspace), evaluates each distinct mask once, decodes the aliased
spectrum bin by bin with batched BCH (hard, then Chase) decoding and peeling, and refits the found
support by least squares. ``spex_plan(n)`` returns the design and its exact evaluation count first.

Modules: ``gf2m`` (field arithmetic), ``bch`` (the code and its decoders), ``design`` (masks),
``wht`` (fast transform), ``noise`` (noise level and thresholds), ``decoder`` (peeling),
``refit`` (structured least squares), ``params`` (the result's typed record), ``api`` (the public
functions).
"""

from .api import SpexPlan, spex, spex_plan
from .bch import BCHCode
from .params import SpexParams

__all__ = ["spex", "spex_plan", "SpexPlan", "SpexParams", "BCHCode"]
