"""Replicate-trial statistics of each finding: the probability that a trial of the published
size reproduces it, and the P-value term."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from .. import stats
from ..checks import check_whole
from ..endpoints import (
    ENDPOINTS,
    ArmSummary,
)
from ..errors import TrialError
from .spec import Finding, Trial

_Sizes = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class FindingResult:
    """How the model does on one finding.

    Parameters
    ----------
    finding : Finding
        The published finding.
    status : str
        ``reproduced``, ``not reproduced`` or ``not modelled``.
    model : str
        The model's values, in words.
    direction_ok : bool or None
        Whether the model predicts the published direction (comparisons, changes).
    probability : float or None
        Comparisons and changes: probability that a replicate trial of the published size
        reaches the published verdict (direction and significance).  Numbers: two-sided
        probability of a replicate value at least as far from the prediction as the published
        one (>= 0.05 means inside the replicate 95% interval).
    typical_p : float or None
        Comparisons and changes: the two-sided P value at the mean z statistic of a replicate
        trial of the published size under the model (about its median P value; the P value
        the model expects the trial to have reported).  None for numbers, for findings that are
        not modelled, and when not computed.
    """

    finding: Finding
    status: str
    model: str
    direction_ok: bool | None
    probability: float | None
    typical_p: float | None = None


def evaluate_finding(
    f: Finding,
    trial: Trial,
    summaries: Mapping[str, Mapping[str, ArmSummary]],
    *,
    typical_p: bool = True,
) -> FindingResult:
    """Evaluate one finding against per-arm endpoint summaries (hard or smooth).

    Parameters
    ----------
    f : Finding
        The finding.
    trial : Trial
        Its trial (arm sizes).
    summaries : mapping
        Per-arm endpoint summaries, ``summaries[arm][endpoint]``.
    typical_p : bool
        Also compute :attr:`FindingResult.typical_p` for comparisons and changes (the
        calibration objective, which does not need it, leaves it out).

    Returns
    -------
    FindingResult
        Status, the model's values and the replicate probability.
    """
    kind = ENDPOINTS[f.endpoint][0]
    if kind == "not modelled":
        return FindingResult(f, "not modelled", "complications are not modelled", None, None)
    if f.type == "comparison":
        a, b = f.arms
        sa, sb = summaries[a][f.endpoint], summaries[b][f.endpoint]
        sizes = _arm_sizes(f, trial, summaries)
        up, down = _replicate_powers(kind, sa, sb, *sizes, f.alpha, f.test)
        diff = _difference(kind, sa, sb)
        model = f"{a} {_fmt(sa, f.endpoint)} vs {b} {_fmt(sb, f.endpoint)}"
        typical = _typical_p(f, trial, summaries, sizes) if typical_p else None
        return _verdict(f, diff, up, down, model, typical)
    if f.type == "change":
        s = summaries[f.arm][f.endpoint]
        n = trial.arm(f.arm).n
        up = stats.power_change(s.value, s.sd, n, f.alpha)
        down = stats.power_change(-s.value, s.sd, n, f.alpha)
        typical = _typical_p(f, trial, summaries) if typical_p else None
        return _verdict(f, s.value, up, down, f"{f.arm} {_fmt(s, f.endpoint)}", typical)
    s = summaries[f.arm][f.endpoint]
    published = f.value
    assert published is not None
    if f.type == "proportion":
        p = min(max(s.value, 1e-12), 1 - 1e-12)
        k = round(published * f.n)
        lo = float(_st.binom.cdf(k, f.n, p))
        hi = float(_st.binom.sf(k - 1, f.n, p))
        prob = min(1.0, 2 * min(lo, hi))
    else:
        se = s.sd / math.sqrt(f.n) if s.sd > 0 else 1e-12
        prob = float(2 * _st.norm.sf(abs(published - s.value) / se))
    status = "reproduced" if prob >= 0.05 else "not reproduced"
    return FindingResult(f, status, f"{f.arm} {_fmt(s, f.endpoint)}", None, prob)


def p_value_term(
    f: Finding, trial: Trial, summaries: Mapping[str, Mapping[str, ArmSummary]]
) -> float:
    """-2 log-likelihood of a finding's published P value under the model.

    The published two-sided P value of the finding's test is turned into a z statistic, signed
    by the published direction (:func:`pdmodel.stats.z_of_p`), and compared with the z
    statistic a replicate trial of the published size would have under the model: normal with
    SD 1 around its mean (:func:`pdmodel.stats.expected_z_rates`, ``expected_z_means``,
    ``expected_z_grades``, ``expected_z_change``), averaged over the random number of patients
    when the endpoint is read on a subset of the arm (:func:`replicate_sizes`).  See
    :func:`pdmodel.stats.p_value_deviance`.

    Parameters
    ----------
    f : Finding
        A comparison or change finding with ``p`` set.
    trial : Trial
        Its trial (arm sizes).
    summaries : mapping
        Per-arm endpoint summaries (hard or smooth), as for :func:`evaluate_finding`.

    Returns
    -------
    float
        ``0`` when the model's mean z statistic equals the published one; ``(z - mu)^2`` for
        fixed arm sizes.
    """
    if f.p is None or f.type not in ("comparison", "change"):
        raise TrialError(f"{f.describe()}: only comparisons and changes with `p` have a P value")
    sign = {"greater": 1, "less": -1, "different": 0}[f.direction]
    mu, w = _replicate_z(f, trial, summaries)
    return stats.p_value_deviance(f.p, sign, mu, w)


def _arm_sizes(
    f: Finding, trial: Trial, summaries: Mapping[str, Mapping[str, ArmSummary]]
) -> tuple[_Sizes, _Sizes]:
    """The replicate trial's patient counts per arm for a comparison (:func:`replicate_sizes`)."""
    a, b = f.arms
    sa, sb = summaries[a][f.endpoint], summaries[b][f.endpoint]
    return (
        replicate_sizes(trial.arm(a).n, _fraction(sa, summaries[a])),
        replicate_sizes(trial.arm(b).n, _fraction(sb, summaries[b])),
    )


def _replicate_z(
    f: Finding,
    trial: Trial,
    summaries: Mapping[str, Mapping[str, ArmSummary]],
    sizes: tuple[_Sizes, _Sizes] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean z statistic of a replicate trial per pair of subset sizes, and their probabilities
    (`sizes`: the comparison's :func:`_arm_sizes`, if already computed)."""
    kind = ENDPOINTS[f.endpoint][0]
    if kind == "not modelled":
        raise TrialError(f"{f.describe()}: `{f.endpoint}` is not modelled")
    if f.type == "change":
        s = summaries[f.arm][f.endpoint]
        return np.array([stats.expected_z_change(s.value, s.sd, trial.arm(f.arm).n)]), np.ones(1)
    a, b = f.arms
    sa, sb = summaries[a][f.endpoint], summaries[b][f.endpoint]
    size_a, size_b = sizes if sizes is not None else _arm_sizes(f, trial, summaries)
    if kind == "proportion":
        return stats.expected_z_rates(sa.value, sb.value, size_a, size_b, f.test)
    if kind == "ordinal":
        da, db = sa.distribution[::-1], sb.distribution[::-1]  # "greater": a better grade
        mu = [
            stats.expected_z_grades(da, db, int(na), int(nb))
            for na in size_a[0]
            for nb in size_b[0]
        ]
        return np.array(mu), np.outer(size_a[1], size_b[1]).ravel()
    return stats.expected_z_means(sa.value, sa.sd, size_a, sb.value, sb.sd, size_b, f.test)


def _typical_p(
    f: Finding,
    trial: Trial,
    summaries: Mapping[str, Mapping[str, ArmSummary]],
    sizes: tuple[_Sizes, _Sizes] | None = None,
) -> float:
    """Two-sided P value at a replicate trial's mean z statistic (about its median P value)."""
    mu, w = _replicate_z(f, trial, summaries, sizes)
    if w.sum() <= 0:
        return 1.0
    return float(2.0 * _st.norm.sf(abs(float(w @ mu / w.sum()))))


def _fraction(s: ArmSummary, arm: Mapping[str, ArmSummary]) -> float:
    """Fraction of the arm an endpoint is read on (arm size: the most patients any endpoint
    of the arm counts)."""
    total = max(x.n for x in arm.values())
    return min(s.n / total, 1.0) if total > 0 else 1.0


def replicate_sizes(n: int, fraction: float, tol: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Distribution of the patients an endpoint counts in a replicate arm of `n` patients.

    An endpoint defined on a subset of the arm (onset time and recurrence on responders) is
    read, in a replicate trial, on the subset that trial happens to have: Binomial(`n`,
    `fraction`) patients.

    Parameters
    ----------
    n : int
        Patients enrolled in the replicate arm (the published arm size).
    fraction : float
        Fraction of the arm the endpoint is defined on (the model's, e.g. responders); 1 for
        endpoints read on every patient.
    tol : float
        Sizes less probable than this are left out (their total probability is below
        ``(n + 1) tol``).

    Returns
    -------
    sizes : ndarray of int
        Possible subset sizes of at least 2 (a test needs 2 patients per arm).
    probabilities : ndarray of float
        Their binomial probabilities; the sizes below 2 and the improbable tails are missing
        from the total, so a replicate trial with fewer than 2 such patients counts as one
        that does not reach a significant verdict.
    """
    n = check_whole(n, "replicate arm size n", 1, TrialError)
    if not 0.0 <= fraction <= 1.0 + 1e-9:  # also NaN
        raise TrialError(f"fraction of the arm must be within [0, 1], got {fraction!r}")
    if fraction >= 1.0 - 1e-12:
        return np.array([n]), np.array([1.0])
    k = np.arange(2, n + 1)
    if fraction <= 0.0 or k.size == 0:
        return k[:0], np.zeros(0)
    pmf = stats._binom_pmf(n, fraction)[2:]
    keep = pmf > tol
    return k[keep], pmf[keep]


def _difference(kind: str, sa: ArmSummary, sb: ArmSummary) -> float:
    if kind == "ordinal":
        # grade index 0 is the best grade: "greater" means a better grade distribution
        return stats.probability_index(sa.distribution[::-1], sb.distribution[::-1]) - 0.5
    return sa.value - sb.value


def _replicate_powers(
    kind: str,
    sa: ArmSummary,
    sb: ArmSummary,
    size_a: _Sizes,
    size_b: _Sizes,
    alpha: float,
    test: str,
) -> tuple[float, float]:
    """P(significant with a > b), P(significant with a < b) in a replicate trial of ``test``.

    The arm sizes are random when the endpoint is read on a subset (:func:`replicate_sizes`).
    """
    if kind == "proportion":
        return (
            stats.power_rates_over_sizes(sa.value, sb.value, size_a, size_b, alpha, test),
            stats.power_rates_over_sizes(sb.value, sa.value, size_b, size_a, alpha, test),
        )
    if kind == "ordinal":
        da, db = sa.distribution[::-1], sb.distribution[::-1]
        up = down = 0.0
        for na, wa in zip(*size_a, strict=True):
            for nb, wb in zip(*size_b, strict=True):
                up += wa * wb * stats.power_grades(da, db, int(na), int(nb), alpha)
                down += wa * wb * stats.power_grades(db, da, int(nb), int(na), alpha)
        return up, down
    return (
        stats.power_means_over_sizes(sa.value, sa.sd, size_a, sb.value, sb.sd, size_b, alpha, test),
        stats.power_means_over_sizes(sb.value, sb.sd, size_b, sa.value, sa.sd, size_a, alpha, test),
    )


def _verdict(
    f: Finding, diff: float, up: float, down: float, model: str, typical_p: float | None
) -> FindingResult:
    if f.direction == "greater":
        direction_ok, p_sig = diff > 0, up
    elif f.direction == "less":
        direction_ok, p_sig = diff < 0, down
    else:
        direction_ok, p_sig = diff != 0, up + down
    prob = p_sig if f.significant else 1.0 - (up + down)
    ok = (direction_ok or not f.significant) and prob >= 0.5
    return FindingResult(
        f, "reproduced" if ok else "not reproduced", model, bool(direction_ok), prob, typical_p
    )


def _fmt(s: ArmSummary, endpoint: str) -> str:
    if s.kind == "proportion":
        return f"{s.value:.3f}"
    if s.kind == "ordinal":
        return "(" + ", ".join(f"{x:.2f}" for x in s.distribution) + ")"
    return f"{s.value:.3g} +/- {s.sd:.2g}"
