"""ProxySPEX's grouped options (``selection=``, ``post=``) and the older flat keywords they replace.

Oracles: the flat keywords' documented meaning (each combination of ``refine``/``grow`` names one
``refit`` choice), the result of the other spelling on the same seed, and the evaluations a confirmation
must spend (budget + the sub-masks of each confirmed interaction on each base).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spex_mech.algorithms.proxyspex import PostConfig, SelectionConfig, proxyspex
from spex_mech.algorithms.proxyspex.options import resolve_options
from spex_mech.registry import OptionError, check_call, option_schema
from spex_mech.synthetic import random_sparse_function

TIMINGS = ("evaluate_seconds", "fit_seconds", "extract_seconds", "select_seconds", "refit_seconds")


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.keys, b.keys)
    np.testing.assert_array_equal(a.coefficients, b.coefficients)
    pa, pb = a.params.to_dict(), b.params.to_dict()
    for key in TIMINGS:
        pa.pop(key), pb.pop(key)
    assert pa == pb


@pytest.mark.parametrize(
    "flags, refit",
    [
        ({}, "auto"),
        ({"refine": True}, "auto"),
        ({"grow": True}, "auto"),
        ({"refine": True, "grow": True}, "auto"),
        ({"grow": False}, "ridge"),
        ({"refine": True, "grow": False}, "ridge"),
        ({"refine": False}, "none"),
        ({"refine": False, "grow": False}, "none"),
    ],
)
def test_refine_and_grow_flags_map_onto_one_refit_choice(flags, refit):
    """Each refine/grow combination names one refit choice, whose (refine, grow) is the flags' meaning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _, post, _ = resolve_options(None, None, flags)
    assert post.refit == refit
    refine = flags.get("refine", True)
    assert post.refine_and_grow() == (refine, refine and flags.get("grow", True))


def test_flat_keywords_are_deprecated_and_land_in_their_records():
    """Flat keywords warn and fill the records; the grouped spelling warns about nothing."""
    with pytest.warns(DeprecationWarning, match="singletons, confirm, depths are deprecated"):
        selection, post, knobs = resolve_options(None, None, {"singletons": "all", "confirm": 2, "depths": (3,)})
    assert selection == SelectionConfig(singletons="all")
    assert post == PostConfig(confirm=2)
    assert knobs == {"depths": (3,)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the grouped spelling warns about nothing
        assert resolve_options({"singletons": "all"}, {"confirm": 2}, {})[:2] == (selection, post)


@pytest.mark.parametrize(
    "selection, post, legacy, error, match",
    [
        (None, None, {"refine": False, "grow": True}, ValueError, "grow=True needs refine=True"),
        ({"n_coefficients": 4}, {"refit": "grow"}, {}, ValueError, "refit='grow' needs n_coefficients='auto'"),
        (SelectionConfig(), None, {"singletons": "all"}, ValueError, "singletons given both in selection="),
        (None, PostConfig(), {"grow": False}, ValueError, "grow given both in post="),
        (None, None, {"depth": 3}, TypeError, "unexpected keyword argument 'depth'"),
        ({"singleton": "all"}, None, {}, ValueError, "selection has no option 'singleton'"),
        (None, {"refit": "grow"}, {}, None, None),
        (None, "grow", {}, TypeError, "post must be a PostConfig"),
    ],
)
def test_contradictory_or_unknown_options_are_one_line_errors(selection, post, legacy, error, match):
    """Contradictions and unknown names are one-line errors naming the option."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if error is None:
            assert resolve_options(selection, post, legacy)[1].refit == "grow"
            return
        with pytest.raises(error, match=match):
            resolve_options(selection, post, legacy)


def test_an_unknown_refit_is_refused_before_any_evaluation():
    """A bad refit choice is refused before f is called."""
    def f(masks):
        raise AssertionError("evaluated")

    with pytest.raises(ValueError, match="refit must be one of 'auto', 'grow', 'ridge', 'none', got 'lasso'"):
        proxyspex(f, 8, budget=100, post=PostConfig(refit="lasso"))


def test_grouped_options_give_the_flat_keywords_result():
    """The records give bit for bit the result of the flat keywords they replace."""
    f = random_sparse_function(16, 6, orders=(1, 2, 3), basis="mobius", seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = proxyspex(f, budget=300, seed=0, grow=False, cross_validation=False, singletons="all")
        old_proxy = proxyspex(f, budget=300, seed=0, refine=False, n_coefficients=4)
    new = proxyspex(
        f,
        budget=300,
        seed=0,
        selection=SelectionConfig(cross_validation=False, singletons="all"),
        post=PostConfig(refit="ridge"),
    )
    _same(old, new)
    assert new.params["refine"] is True and new.params["grown_terms"] == [] and new.params["cv_folds"] == 1
    new_proxy = proxyspex(f, budget=300, seed=0, selection={"n_coefficients": 4}, post={"refit": "none"})
    _same(old_proxy, new_proxy)
    assert new_proxy.params["refine"] is False and new_proxy.params["n_interactions"] == 4


def test_confirmation_through_post_spends_the_sub_mask_evaluations():
    """post=PostConfig(confirm=...) confirms and counts its evaluations on top of the budget."""
    f = random_sparse_function(20, 8, orders=(2, 3), basis="mobius", seed=11)
    result = proxyspex(f, budget=800, seed=0, post=PostConfig(confirm=3, confirm_bases=2))
    rows = result.params["confirmation"]
    assert 0 < len(rows) <= 3
    # each row: every sub-mask of the interaction on each of the 2 bases (evaluations counted per row)
    assert all(r["evaluations"] <= 2 * 2 ** len(r["units"]) for r in rows)
    assert result.n_evaluations == 800 + sum(r["evaluations"] for r in rows)


def test_registry_knows_the_grouped_options_and_still_the_flat_ones():
    """Config checks accept the records and the flat keywords, with their types."""
    schema = option_schema("proxyspex")
    assert {"selection", "post", "proxy", "screen", "depths", "refine", "confirm"} <= set(schema)
    assert check_call("proxyspex", 8, {"budget": 100, "post": {"refit": "ridge"}}) == 100
    with pytest.raises(OptionError, match=r"\[2.5\] is not a valid depths"):
        check_call("proxyspex", 8, {"budget": 100, "depths": [2.5]})
    with pytest.raises(OptionError, match="refit must be one of") as info:
        check_call("proxyspex", 8, {"budget": 100, "post": {"refit": "x"}})
    assert info.value.key == "post"
    with pytest.raises(OptionError, match="refit='grow' needs n_coefficients='auto'") as info:
        check_call("proxyspex", 8, {"budget": 100, "post": {"refit": "grow"}, "selection": {"n_coefficients": 3}})
    assert info.value.key == "post"
