"""Routing metrics on hand-computed cases: hull, AIQ, quality at cost, cost to match, APGR, CPT."""

from __future__ import annotations

import numpy as np
import pytest

from ensel.metrics import (
    aiq_score,
    apgr_score,
    cost_to_match,
    cpt_score,
    quality_at_cost,
    routing_quality,
    zero_router_hull,
)


def test_hull_drops_dominated_and_concave_points():
    # (2, 0.55) is under the segment (1, 0.5)-(3, 0.9); (4, 0.8) is dearer and worse
    x, q = zero_router_hull([4, 2, 1, 3], [0.8, 0.55, 0.5, 0.9])
    assert x.tolist() == [1.0, 3.0] and q.tolist() == [0.5, 0.9]
    # a point above the chord stays: (2, 0.8) between (1, 0.5) and (3, 0.9)
    x, q = zero_router_hull([1, 2, 3], [0.5, 0.8, 0.9])
    assert x.tolist() == [1.0, 2.0, 3.0]
    x, q = zero_router_hull([1, 1, 2], [0.4, 0.6, 0.6])       # equal cost: keep the best
    assert x.tolist() == [1.0] and q.tolist() == [0.6]


def test_aiq_hand_cases():
    # hull (1, .5)-(2, .8)-(3, .9): area .65 + .85 = 1.5 over width 2
    assert aiq_score([1, 2, 3], [0.5, 0.8, 0.9], cost_range=(1, 3)) == pytest.approx(0.75)
    # a router starting at cost 2 gets 0 on [1, 2): (0 + 0.85) / 2
    assert aiq_score([2, 3], [0.8, 0.9], cost_range=(1, 3)) == pytest.approx(0.425)
    # flat beyond its dearest point: mean .6 on [1, 2], then .7 on [2, 4]
    assert aiq_score([1, 2], [0.5, 0.7], cost_range=(1, 4)) == pytest.approx(
        (0.6 + 0.7 * 2) / 3)
    # mixing two settings beats a point under their chord
    assert aiq_score([1, 2, 3], [0.5, 0.6, 0.9], cost_range=(1, 3)) == pytest.approx(0.7)


@pytest.mark.parametrize("bad", [(3, 1), (1, 1), (0, np.inf), "ab", 5])
def test_aiq_bad_range(bad):
    with pytest.raises(ValueError, match="'cost_range' parameter of aiq_score"):
        aiq_score([1, 2], [0.5, 0.6], cost_range=bad)


def test_points_must_match():
    with pytest.raises(ValueError, match="aiq_score needs 1-D costs and qualities"):
        aiq_score([1, 2], [0.5], cost_range=(1, 2))
    with pytest.raises(ValueError, match="qualities has NaN"):
        zero_router_hull([1, 2], [0.5, np.nan])


def test_quality_at_cost_and_cost_to_match():
    x, q = [1, 3], [0.5, 0.9]
    assert quality_at_cost(x, q, 2.0) == pytest.approx(0.7)
    assert quality_at_cost(x, q, 0.5) == 0.0 and quality_at_cost(x, q, 9.0) == 0.9
    assert cost_to_match(x, q, 0.7) == pytest.approx(2.0)
    assert cost_to_match(x, q, 0.3) == 1.0
    assert np.isnan(cost_to_match(x, q, 0.95))
    with pytest.raises(ValueError, match="'target' argument of cost_to_match"):
        cost_to_match(x, q, np.nan)


def test_routing_quality_missing_policies():
    Q = np.array([[1, 0], [0, 1], [np.nan, 1]])
    assert routing_quality(Q, [0, 1, 1], costs=[1.0, 3.0]) == pytest.approx((1.0, 7 / 3))
    with pytest.raises(ValueError, match=r"row 2 is sent to member 0, whose outcome is not obs"):
        routing_quality(Q, [0, 0, 0])
    assert routing_quality(Q, [0, 0, 0], missing="zero")[0] == pytest.approx(1 / 3)
    assert routing_quality(Q, [0, 0, 0], missing="ignore")[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="'missing' parameter of routing_quality"):
        routing_quality(Q, [0, 0, 0], missing="drop")
    with pytest.raises(ValueError, match=r"choice must be 3 member indices in \[0, 1\]"):
        routing_quality(Q, [0, 2, 0])
    with pytest.raises(ValueError, match="quality must be 2-D"):
        routing_quality([1.0, 0.0], [0, 0])


def test_apgr_and_cpt_hand_cases():
    # random routing: quality linear in the strong fraction -> APGR 0.5, CPT(50%) 0.5
    f = np.linspace(0, 1, 5)
    q = 0.6 + 0.2 * f
    assert apgr_score(f, q, weak_quality=0.6, strong_quality=0.8) == pytest.approx(0.5)
    assert cpt_score(f, q, weak_quality=0.6, strong_quality=0.8) == pytest.approx(0.5)
    # full gap recovered at 50% of the calls: area .25 + .5
    assert apgr_score([0.5], [0.8], weak_quality=0.6, strong_quality=0.8) == pytest.approx(0.75)
    # PGR .1 at .2, .75 at .6: 50% reached at .2 + (.4 / .65) * .4
    assert cpt_score([0.2, 0.6], [0.62, 0.75], weak_quality=0.6,
                     strong_quality=0.8) == pytest.approx(0.2 + 0.4 * 0.4 / 0.65)
    assert cpt_score([0.2], [0.8], weak_quality=0.6, strong_quality=0.8,
                     level=1.0) == pytest.approx(0.2)


def test_apgr_cpt_errors():
    with pytest.raises(ValueError, match="strong_quality > weak_quality"):
        apgr_score([0.5], [0.7], weak_quality=0.8, strong_quality=0.6)
    with pytest.raises(ValueError, match=r"strong_fraction must lie in \[0, 1\]"):
        apgr_score([1.5], [0.7], weak_quality=0.6, strong_quality=0.8)
    with pytest.raises(ValueError, match=r"'level' parameter of cpt_score must be in \(0, 1\]"):
        cpt_score([0.5], [0.7], weak_quality=0.6, strong_quality=0.8, level=0)
