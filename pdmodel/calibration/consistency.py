r"""Are the published verdicts what the model expects?  Per finding and jointly, with the
parameter uncertainty of the fit carried into the probabilities.

For every published comparison or change, :math:`p_i` is the probability that a replicate trial
of the published size reaches the published verdict (direction and significance; see
:func:`pdmodel.trials.evaluate_finding`).  Over parameter draws from the fit's approximate
posterior (:func:`pdmodel.calibration.posterior_draws`) its mean is the posterior predictive
probability, and the finding is flagged

* ``consistent`` when it is >= 0.5 (the published verdict is the model's most likely outcome),
* ``tension`` between 0.1 and 0.5, ``inconsistent`` below 0.1.

The joint check is the probability, under the model, of a pattern of verdicts no more likely
than the published one: with the verdicts of a replicate set of trials independent given the
parameters, a pattern :math:`x` has likelihood :math:`\prod_i p_i^{x_i} (1 - p_i)^{1 - x_i}`,
the published pattern :math:`\prod_i p_i`, and

.. math::

    P_{joint} = E_\theta \left[ P_x\left( L_\theta(x) \le L_\theta(\text{published}) \right)
    \right],

estimated by simulating patterns for every draw.  A small value (< 0.05) says that the
published results, taken together, are surprising under the model.

The per-finding flags need a reference too: even data drawn from the model itself show some
verdicts that the model rates less likely than not.  :func:`below_half` counts the published
verdicts flagged below 0.5 and gives the distribution of that count over replicate sets of
the trial drawn from the model (exactly: given the parameters the count is a sum of
independent Bernoulli variables, a Poisson-binomial count, averaged over the draws).  Its
``p_none`` is the probability that a replicate meets the rule "every verdict >= 0.5"; when it
is small, that rule is one the model's own data would usually fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..checks import check_whole
from ..trials import Trial, TrialResult, load
from ..trials.simulate import _simulate_samples
from .fit import FitResult
from .mcmc import SampleResult
from .uncertainty import _draws_source, chain_draws, posterior_draws

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FLAGS",
    "BelowHalf",
    "ConsistencyReport",
    "FindingConsistency",
    "below_half",
    "consistency",
    "flag",
    "joint_probability",
]

#: Flags by posterior predictive probability of the published verdict: (lowest, name).
FLAGS: tuple[tuple[float, str], ...] = (
    (0.5, "consistent"),
    (0.1, "tension"),
    (0.0, "inconsistent"),
)


def flag(probability: float) -> str:
    """The flag of a probability of the published verdict (see :data:`FLAGS`).

    Parameters
    ----------
    probability : float
        Probability (0-1) that a replicate trial reaches the published verdict.
    """
    for low, name in FLAGS:
        if probability >= low:
            return name
    return FLAGS[-1][1]


@dataclass(frozen=True)
class FindingConsistency:
    """One finding: its replicate probability at the estimate and over the posterior.

    Attributes
    ----------
    finding : str
        The finding.
    estimate : float
        Probability of the published verdict at the fit's estimate.
    mean, low, high : float
        Its mean and 2.5% / 97.5% quantiles over the posterior draws.
    flag : str
        ``consistent``, ``tension`` or ``inconsistent`` (by `mean`).
    """

    finding: str
    estimate: float
    mean: float
    low: float
    high: float
    flag: str


@dataclass(frozen=True)
class BelowHalf:
    """Published verdicts rated below 0.5, against replicates drawn from the model.

    Parameters
    ----------
    published : int
        Published verdicts whose posterior predictive probability is below 0.5 (flagged
        ``tension`` or ``inconsistent``).
    expected : float
        Expected number of such verdicts in a replicate set of the trial drawn from the model
        (parameters from the draws, then verdicts).
    p_at_least : float
        Probability that a replicate set shows at least `published` of them.
    p_none : float
        Probability that a replicate set shows none, i.e. meets the rule "every verdict has
        probability >= 0.5".
    """

    published: int
    expected: float
    p_at_least: float
    p_none: float


@dataclass(frozen=True)
class ConsistencyReport:
    """The per-finding and joint checks of one trial (:func:`consistency`).

    Parameters
    ----------
    trial : str
        Trial id.
    findings : tuple of FindingConsistency
        The comparisons and changes.
    joint : float
        Probability of a pattern of verdicts no more likely than the published one.
    n_draws, n_per_arm, patterns : int
        Posterior draws, virtual patients per arm of each, verdict patterns per draw.
    below_half : BelowHalf
        The count of findings flagged below 0.5 and its distribution in replicates drawn from
        the model (:func:`below_half`).
    source : str
        Where the parameter draws come from (the fit's approximate posterior, or an emcee
        chain).
    """

    trial: str
    findings: tuple[FindingConsistency, ...]
    joint: float
    n_draws: int
    n_per_arm: int
    patterns: int
    below_half: BelowHalf
    source: str

    def table(self) -> pd.DataFrame:
        """One row per finding.

        Returns
        -------
        pandas.DataFrame
            The fields of :class:`FindingConsistency` as columns.
        """
        import pandas as pd

        return pd.DataFrame([f.__dict__ for f in self.findings])

    def format(self) -> str:
        """The report as text.

        Returns
        -------
        str
            The table of :meth:`table` with the joint check, as ``pdmodel reproduce`` prints it.
        """
        width = max([len("finding")] + [len(f.finding) for f in self.findings]) + 2
        lines = [
            f"consistency with parameter uncertainty ({self.n_draws} draws from {self.source}, "
            f"{self.n_per_arm} virtual patients per arm each)",
            "finding".ljust(width) + "at estimate  posterior mean [95%]     flag",
        ]
        for f in self.findings:
            lines.append(
                f.finding.ljust(width) + f"{f.estimate:<13.2f}"
                + f"{f.mean:.2f} [{f.low:.2f}, {f.high:.2f}]".ljust(23) + f.flag
            )  # fmt: skip
        lines.append(
            f"joint check: P(a pattern of verdicts no more likely than the published one) = "
            f"{self.joint:.3f} ({'>=' if self.joint >= 0.05 else '<'} 0.05)"
        )
        b = self.below_half
        lines.append(
            f"findings below 0.5: {b.published} of {len(self.findings)}; in replicates of the "
            f"trial drawn from the model: expected {b.expected:.2f}, P(>= {b.published}) = "
            f"{b.p_at_least:.3f}, P(none) = {b.p_none:.3f}"
        )
        return "\n".join(lines) + "\n"


def _verdicts(result: TrialResult) -> dict[str, float]:
    return {
        r.finding.describe(): float(r.probability)
        for r in result.findings
        if r.finding.type in ("comparison", "change")
        and r.probability is not None
        and math.isfinite(r.probability)
    }


def consistency(
    fit: FitResult,
    trial: Trial | str,
    n_draws: int = 30,
    n_per_arm: int = 300,
    seed: int = 1,
    patterns: int = 4000,
    chain: SampleResult | pd.DataFrame | None = None,
) -> ConsistencyReport:
    """Per-finding flags and the joint check of a trial's published verdicts.

    Parameters
    ----------
    fit : FitResult
        A fit with standard errors (the shipped set is one).
    trial : Trial or str
        The trial.
    n_draws : int
        Parameter draws (>= 2), from the fit's approximate posterior or from `chain`.
    n_per_arm : int
        Virtual patients per arm of each draw's simulation.
    seed : int
        Seed of the draws, the virtual patients and the simulated verdict patterns.
    patterns : int
        Simulated verdict patterns per draw (>= 1).
    chain : SampleResult or pandas.DataFrame, optional
        An emcee posterior sample (:func:`pdmodel.calibration.sample`, or the chain table that
        ``pdmodel fit --emcee`` writes) to draw from (:func:`chain_draws`) instead of the fit's
        Gaussian approximation.

    Returns
    -------
    ConsistencyReport
        The per-finding checks and the joint check.
    """
    check_whole(patterns, "patterns", 1)
    design = trial if isinstance(trial, Trial) else load(trial)
    draws = (posterior_draws(fit, n_draws, seed) if chain is None
             else chain_draws(chain, fit.params, n_draws, seed))  # fmt: skip
    samples = [fit.params, *draws]
    # the estimate and every draw in one engine call where they enrol the same patients
    results = _simulate_samples([design], samples, n_per_arm, seed, None, True, None,
                                progress=False)  # fmt: skip
    at = _verdicts(results[0][0])
    names = list(at)
    probs = np.empty((n_draws, len(names)))
    for d, res in enumerate(results[1:]):
        got = _verdicts(res[0])
        probs[d] = [got.get(k, math.nan) for k in names]
    joint = joint_probability(np.nan_to_num(probs, nan=0.0), patterns, seed)
    counts = below_half(np.nan_to_num(probs, nan=0.0))
    findings = tuple(
        FindingConsistency(
            name,
            at[name],
            float(np.nanmean(probs[:, j])),
            float(np.nanquantile(probs[:, j], 0.025)),
            float(np.nanquantile(probs[:, j], 0.975)),
            flag(float(np.nanmean(probs[:, j]))),
        )
        for j, name in enumerate(names)
    )
    return ConsistencyReport(
        design.id, findings, joint, n_draws, n_per_arm, patterns, counts, _draws_source(chain)
    )


def below_half(probs: np.ndarray) -> BelowHalf:
    """How many published verdicts the model rates below 0.5, and how many its own data would.

    A finding is below half when the mean over draws of its probability is below 0.5.  In a
    replicate set of trials drawn from the model (a parameter draw, then every verdict given
    it, independently as in :func:`joint_probability`) a finding counts when its replicate
    verdict is the one with mean probability below 0.5: the published one for the findings
    below half, the other one for the rest.  Given the draw the count is Poisson-binomial; its
    distribution is computed exactly and averaged over the draws.

    Parameters
    ----------
    probs : ndarray, shape (n_draws, n_findings)
        Probability of each published verdict under each parameter draw.

    Returns
    -------
    BelowHalf
        The published count, the replicates' expected count, P(count >= published) and
        P(count = 0).
    """
    p = np.clip(np.atleast_2d(np.asarray(probs, dtype=float)), 0.0, 1.0)
    low = p.mean(axis=0) < 0.5
    r = np.where(low, p, 1.0 - p)  # per draw: P(the replicate verdict is below half)
    pmf = np.zeros(p.shape[1] + 1)
    for row in r:
        dist = np.array([1.0])
        for q in row:
            dist = np.convolve(dist, [1.0 - q, q])
        pmf += dist
    pmf /= p.shape[0]
    published = int(low.sum())
    return BelowHalf(
        published,
        float(r.sum(axis=1).mean()),
        float(min(pmf[published:].sum(), 1.0)),
        float(pmf[0]),
    )


def joint_probability(probs: np.ndarray, patterns: int, seed: int) -> float:
    """Probability of a pattern of verdicts no more likely than the published one.

    Parameters
    ----------
    probs : ndarray, shape (n_draws, n_findings)
        Probability of each published verdict under each parameter draw.
    patterns : int
        Simulated verdict patterns per draw.
    seed : int
        Seed of the patterns.

    Returns
    -------
    float
        The mean over draws of the fraction of simulated patterns whose likelihood is at most
        that of the published pattern (all verdicts as published).
    """
    p = np.clip(np.atleast_2d(np.asarray(probs, dtype=float)), 1e-12, 1.0 - 1e-12)
    rng = np.random.default_rng(seed)
    below = 0.0
    for row in p:
        x = rng.random((patterns, row.size)) < row  # True: the published verdict
        log_l = np.where(x, np.log(row), np.log1p(-row)).sum(axis=1)
        below += float(np.mean(log_l <= np.log(row).sum() + 1e-12))
    return below / p.shape[0]
