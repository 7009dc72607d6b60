"""The risk-coverage figure of the report: one step curve per combiner, target-risk lines."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from ensel.metrics import aurc_loss, risk_coverage_curve  # noqa: E402
from ensel.report.plots import risk_coverage, to_png  # noqa: E402


def test_risk_coverage_draws_each_curve():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    curves = {}
    for name, noise in [("stacking", 0.2), ("best single", 0.5)]:
        proba = rng.dirichlet(np.ones(3), 300) * noise + np.eye(3)[y] * (1 - noise)
        cov, risk, _ = risk_coverage_curve(y, proba)
        curves[name] = {"coverage": cov, "risk": risk, "aurc": aurc_loss(y, proba)}
    curves["empty"] = {"coverage": [], "risk": []}
    fig = risk_coverage(curves, risks=(0.02, 0.05))
    ax = fig.axes[0]
    assert len(ax.lines) == 2 + 2                      # two curves, two target lines
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("stacking (AURC 0.") and labels[1].startswith("best single")
    np.testing.assert_allclose(ax.lines[0].get_xdata(), curves["stacking"]["coverage"])
    assert ax.get_xlim() == (0.0, 1.0)
    assert to_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"
