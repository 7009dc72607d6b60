"""Per-input uncertainty of a pool: total = aleatoric + epistemic."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import entr

from ensel._validation import check_pool

__all__ = ["uncertainty_decomposition"]


def uncertainty_decomposition(P: Any) -> dict[str, np.ndarray]:
    """Split the predictive entropy of a pool into aleatoric and epistemic parts, per input.

    With ``H(p) = -sum_c p_c log p_c`` (nats, ``0 log 0 = 0``) and ``p_m = P[n, m]``:

    - total ``= H(mean_m p_m)``, the entropy of the averaged prediction;
    - aleatoric ``= mean_m H(p_m)``, the expected entropy of one member;
    - epistemic ``= total - aleatoric``, the mutual information between the label and the
      member, >= 0 (0 when all members agree). Round-off below zero is clipped to 0.

    Parameters
    ----------
    P : array-like of shape (N, M, C)
        Class probabilities of every member.

    Returns
    -------
    dict of str to ndarray of shape (N,)
        ``"total"``, ``"aleatoric"`` and ``"epistemic"``, each in [0, log C].

    Examples
    --------
    >>> import numpy as np
    >>> from ensel.metrics import uncertainty_decomposition
    >>> P = np.array([[[1.0, 0.0], [0.0, 1.0]],      # members sure and opposed
    ...               [[0.5, 0.5], [0.5, 0.5]]])     # members agree, both unsure
    >>> u = uncertainty_decomposition(P)
    >>> u["epistemic"].round(4), u["aleatoric"].round(4)
    (array([0.6931, 0.    ]), array([0.    , 0.6931]))
    """
    P = check_pool(P)
    total = entr(P.mean(axis=1)).sum(axis=1)
    aleatoric = entr(P).sum(axis=2).mean(axis=1)
    epistemic = np.maximum(total - aleatoric, 0.0)
    return {"total": total, "aleatoric": aleatoric, "epistemic": epistemic}
