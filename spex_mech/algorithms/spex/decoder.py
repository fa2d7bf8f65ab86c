"""The SPEX peeling decoder: bins → BCH-decoded singletons → verified → peeled from every group.

Input: the bin observations U [C, 2^b, P+1] (per-group WHT of the samples, forward-normalised), where a
bin holding a single coefficient F(k) reads U_p = F(k)·(−1)^⟨d_p, k⟩ (+ noise). One pass:

1. bins whose energy clears the zero-bin threshold and changed since they were last decoded are
   decoded: hard signs sign(U_p) ≠ sign(U_0) → BCH (Berlekamp–Massey + Chien); where that fails or
   gives a support that does not hash to the bin, Chase decoding over the least reliable observations
   (U_0 included: flipping it complements every bit) picks the best-scoring support that does;
2. each decoded bin is verified: ρ = ⟨s, U⟩/(P+1) with s = (−1)^(D k̂); accepted if ‖U − ρs‖² is within
   the noise-derived residual threshold, ρ stands out of the noise, and M_cᵀk̂ = j (checked in 1);
3. accepted supports found in several bins are averaged, then ρ·s is subtracted from the bin of k̂ in
   every group, and those bins are marked for decoding again.

When a pass accepts nothing, one relaxed pass also accepts bins whose residual is below a fixed share of
their energy (a dominant coefficient with sub-noise company), then strict passes resume. When even that
stalls, the bin variance is re-estimated from the residual bins (now mostly pure noise) and, if it
dropped, peeling continues under the tighter thresholds. All of this is vectorised over bins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from .design import SpexDesign
from .noise import NoiseModel, estimate_bin_variance

__all__ = ["PeelingDecoder", "PeelingResult"]

# Relative round-off floor for bin energies: amplitudes below ~1e-9 of the function's RMS are ignored.
_ROUNDOFF = 1e-9


@dataclass
class PeelingResult:
    """Supports and coefficients found by peeling, with the noise model and diagnostics.

    Attributes
    ----------
    units : numpy.ndarray
        Array [K, t] (int64): the supports, −1 padded.
    values : numpy.ndarray
        Array [K] (float64): their coefficients.
    noise : NoiseModel
        The final noise model.
    iterations : int
        Peeling passes run.
    noise_rounds : int
        Times the bin variance was re-estimated.
    unresolved_bins : int
        Bins left above the zero threshold.
    residual_energy : float
        Σ‖U‖² left in bins above the zero threshold.
    """

    units: np.ndarray
    values: np.ndarray
    noise: NoiseModel
    iterations: int
    noise_rounds: int
    unresolved_bins: int
    residual_energy: float


class PeelingDecoder:
    """Peeling decoder for one :class:`~spex_mech.algorithms.spex.design.SpexDesign`.

    Parameters
    ----------
    design : SpexDesign
        The query design the observations come from.
    soft : bool, default True
        Use Chase soft decoding where hard decoding fails (``decoder="soft"``).
    chase_depth : int, optional
        Least-reliable observations the Chase decoder flips (default 2t, at most P+1).
    noise_sd : float, optional
        Known per-evaluation noise standard deviation; estimated from the bins when None.
    max_iterations : int, default 100
        Cap on peeling passes.
    relaxed_ratio : float, default 0.25
        Residual share of bin energy accepted in a relaxed pass (0 disables relaxed passes).
    noise_rounds : int, default 3
        How many times the bin variance may be re-estimated after peeling stalls.
    initial_quantile : float, default 0.05
        Bin-energy quantile used for the first noise estimate.
    """

    def __init__(
        self,
        design: SpexDesign,
        *,
        soft: bool = True,
        chase_depth: Optional[int] = None,
        noise_sd: Optional[float] = None,
        max_iterations: int = 100,
        relaxed_ratio: float = 0.25,
        noise_rounds: int = 3,
        initial_quantile: float = 0.05,
    ):
        self.design = design
        self.soft = soft
        self.chase_depth = chase_depth if chase_depth is not None else 2 * design.code.t
        self.noise_sd = noise_sd
        self.max_iterations = int(max_iterations)
        self.relaxed_ratio = float(relaxed_ratio)
        self.noise_rounds = int(noise_rounds)
        self.initial_quantile = float(initial_quantile)

    # ------------------------------------------------------------------ one batch of bins
    def decode_bins(self, obs: np.ndarray, groups: np.ndarray, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decode a candidate support for each bin.

        Parameters
        ----------
        obs : numpy.ndarray
            The bins' observations [W, P+1].
        groups : numpy.ndarray
            Group of each bin [W].
        bins : numpy.ndarray
            Index of each bin in its group [W].

        Returns
        -------
        ok : numpy.ndarray
            Array [W] (bool): decoded, and the support hashes to its bin.
        units : numpy.ndarray
            Array [W, t] (int64): the candidate supports, −1 padded.
        """
        design, code = self.design, self.design.code
        hard = (obs[:, 1:] < 0) ^ (obs[:, :1] < 0)
        res = code.decode_parity(hard)
        units = res.units
        ok = res.ok & (design.bins_in_group(units, groups) == bins)
        if self.soft:
            redo = np.nonzero(~ok)[0]
            if redo.size:
                chase = code.chase_decode(obs[redo, 1:], reference=obs[redo, 0], depth=self.chase_depth)
                w, n_pat = chase.ok.shape
                cand_bins = design.bins_in_group(
                    chase.units.reshape(w * n_pat, -1), np.repeat(groups[redo], n_pat)
                ).reshape(w, n_pat)
                score = np.where(chase.ok & (cand_bins == bins[redo][:, None]), chase.score, np.inf)
                best = np.argmin(score, axis=1)
                rows = np.arange(w)
                found = np.isfinite(score[rows, best])
                units[redo[found]] = chase.units[rows[found], best[found]]
                ok[redo[found]] = True
        return ok, units

    # ------------------------------------------------------------------ the peeling loop
    def decode(self, observations: np.ndarray) -> PeelingResult:
        """Peel the observations of every group.

        Parameters
        ----------
        observations : numpy.ndarray
            Bin observations [C, P+1, 2^b], as produced by the design's per-group WHT.

        Returns
        -------
        PeelingResult
            Supports, coefficients, noise model and diagnostics.
        """
        design = self.design
        n_groups, n_delays, n_bins = observations.shape
        t = design.code.t
        resid = np.ascontiguousarray(observations.transpose(0, 2, 1).reshape(n_groups * n_bins, n_delays))
        groups = np.repeat(np.arange(n_groups), n_bins)
        bin_of = np.tile(np.arange(n_bins), n_groups)
        energy = np.einsum("ij,ij->i", resid, resid)
        mean_square = float(energy.sum() / (n_groups * n_delays))  # mean f² over the design (Parseval)
        floor = (_ROUNDOFF**2) * n_delays * max(mean_square, np.finfo(float).tiny)
        if self.noise_sd is not None:
            variance = float(self.noise_sd) ** 2 / n_bins
        else:
            variance = estimate_bin_variance(energy, n_delays, self.initial_quantile)
        model = NoiseModel(variance, n_delays, floor)

        dirty = np.ones(resid.shape[0], dtype=bool)
        cand_ok = np.zeros(resid.shape[0], dtype=bool)
        cand_units = np.full((resid.shape[0], t), -1, dtype=np.int64)
        found_units: list[np.ndarray] = []
        found_values: list[np.ndarray] = []
        relaxed = False
        rounds = 0
        iterations = 0
        while iterations < self.max_iterations:
            iterations += 1
            active = energy > model.zero_threshold
            todo = np.nonzero(dirty & active)[0]
            if todo.size:
                cand_ok[todo], cand_units[todo] = self.decode_bins(resid[todo], groups[todo], bin_of[todo])
            cand_ok[dirty & ~active] = False
            dirty[:] = False

            ev = np.nonzero(active & cand_ok)[0]
            sig = design.signatures(cand_units[ev])
            rho = np.einsum("ij,ij->i", sig, resid[ev]) / n_delays
            res_energy = np.sum((resid[ev] - rho[:, None] * sig) ** 2, axis=1)
            limit = model.residual_threshold + (self.relaxed_ratio * energy[ev] if relaxed else 0.0)
            accept = (res_energy <= limit) & (rho**2 * n_delays >= model.signal_threshold)
            if not np.any(accept):
                if not relaxed and self.relaxed_ratio > 0:
                    relaxed = True
                    continue
                relaxed = False
                if self.noise_sd is None and rounds < self.noise_rounds:
                    rounds += 1
                    updated = estimate_bin_variance(energy, n_delays, 0.5)
                    if updated < 0.5 * model.bin_variance:
                        model = replace(model, bin_variance=updated)
                        dirty[:] = True
                        continue
                break
            relaxed = False

            take = ev[accept]
            uniq, inv = np.unique(cand_units[take], axis=0, return_inverse=True)
            inv = inv.reshape(-1)
            rho_u = np.bincount(inv, weights=rho[accept]) / np.bincount(inv)
            contrib = rho_u[:, None] * design.signatures(uniq)  # [K, P+1]
            rows = (np.arange(n_groups)[:, None] * n_bins + design.bins(uniq)).reshape(-1)  # [C·K]
            np.subtract.at(resid, rows, np.tile(contrib, (n_groups, 1)))
            touched = np.unique(rows)
            energy[touched] = np.einsum("ij,ij->i", resid[touched], resid[touched])
            dirty[touched] = True
            found_units.append(uniq)
            found_values.append(rho_u)

        if found_units:
            all_units = np.concatenate(found_units)
            all_values = np.concatenate(found_values)
            uniq, inv = np.unique(all_units, axis=0, return_inverse=True)
            values = np.bincount(inv.reshape(-1), weights=all_values, minlength=uniq.shape[0])
        else:
            uniq = np.zeros((0, t), dtype=np.int64)
            values = np.zeros(0)
        left = energy > model.zero_threshold
        return PeelingResult(
            units=uniq,
            values=values,
            noise=model,
            iterations=iterations,
            noise_rounds=rounds,
            unresolved_bins=int(np.sum(left)),
            residual_energy=float(energy[left].sum()),
        )
