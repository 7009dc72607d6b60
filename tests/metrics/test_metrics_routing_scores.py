"""routing_scores: one router's points against the single members, on hand cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ensel.metrics import routing_scores

SINGLES = {"single_costs": [1.0, 4.0], "single_qualities": [0.6, 0.8]}


def test_hand_case_with_two_members():
    # hull (1, .6)-(2, .8), flat to 4: AIQ (0.7 + 2 * 0.8) / 3; reaches 0.8 at cost 2 = 0.5x
    s = routing_scores([1, 2], [0.6, 0.8], strong_fraction=[0.0, 0.5], budgets=[0.25, 0.375],
                       **SINGLES)
    assert s["aiq"] == pytest.approx(2.3 / 3)
    assert s["quality_at_best_cost"] == pytest.approx(0.8)
    assert s["cost_to_match_best"] == pytest.approx(0.5)
    assert s["quality_at_budgets"] == pytest.approx([0.6, 0.7])      # costs 1 and 1.5
    # PGR 0 at share 0, 1 at share 0.5: area 0.25 + 0.5; half the gap at share 0.25
    assert s["apgr"] == pytest.approx(0.75) and s["cpt"] == pytest.approx(0.25)


def test_the_single_members_own_hull_is_the_reference():
    s = routing_scores([1.0, 4.0], [0.6, 0.8], strong_fraction=[0.0, 1.0], **SINGLES)
    assert s["cost_to_match_best"] == 1.0 and s["apgr"] == pytest.approx(0.5)
    assert s["quality_at_budgets"] == [] and s["cpt"] == pytest.approx(0.5)


def test_never_matching_and_ties():
    s = routing_scores([1.0], [0.6], **SINGLES)
    assert math.isnan(s["cost_to_match_best"]) and "apgr" not in s
    tie = routing_scores([1.0], [0.7], strong_fraction=[0.0], single_costs=[1, 2],
                         single_qualities=[0.7, 0.7])
    assert math.isnan(tie["apgr"]) and math.isnan(tie["cpt"])
    # best single on a quality tie: the cheaper one (cost 1), so matching costs 1x
    assert tie["cost_to_match_best"] == 1.0
    same = routing_scores([1.0], [0.7], single_costs=[1, 1], single_qualities=[0.7, 0.6])
    assert math.isnan(same["aiq"])                  # no cost range to average over


def test_errors():
    with pytest.raises(ValueError, match="strong_fraction needs exactly two members"):
        routing_scores([1.0], [0.5], strong_fraction=[0.0], single_costs=[1, 2, 3],
                       single_qualities=[0.1, 0.2, 0.3])
    for bad in (0.0, -1.0, np.inf, "a"):
        with pytest.raises(ValueError, match=r"'budgets' parameter of routing_scores must be "
                                             r"a float in \(0, inf\)"):
            routing_scores([1.0], [0.5], budgets=[bad], **SINGLES)
    with pytest.raises(ValueError, match=r"routing_scores \(single members\) needs 1-D"):
        routing_scores([1.0], [0.5], single_costs=[1, 2], single_qualities=[0.5])
