"""The simulated clinical trial: enrolment, arms on the same virtual patients, scoring."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats as _st
from scipy.special import ndtri

from ..checks import check_whole
from ..drugs import pk_parameters
from ..endpoints import (
    ENDPOINTS,
    ArmSummary,
    patient_endpoints,
    smooth_patient_endpoints,
    summarise,
    summarise_smooth,
)
from ..errors import TrialError
from ..parameters import ParameterSet, parameters_or_default
from ..population import Population, sobol_points
from ..regimens import Regimen
from ..solver import SimulationResult, SolverOptions, simulate_many
from .replicate import FindingResult, evaluate_finding
from .spec import Trial

if TYPE_CHECKING:
    import pandas as pd


# ---------------------------------------------------------------------------------------------
# simulation


def enrol(trial: Trial, params: ParameterSet, n: int, seed: int) -> Population:
    """A virtual population of `n` patients meeting the trial's entry criteria.

    The patients are randomised quasi-Monte Carlo points: the first `n` points of a Sobol
    sequence with Owen scrambling seeded by `seed` (:func:`pdmodel.population.sobol_points`;
    one dimension per random effect plus a last one from which the untreated platelets are
    drawn, the `plt_base` effect's own dimension being left unused), mapped to standard-normal
    deviates.  Arm-level summaries then
    carry a much smaller Monte-Carlo error than with independent draws (300 per arm, at a
    calibrated estimate: SD of the calibration objective across seeds 0.5 vs 2.1; see
    docs/decisions.md, 17), while each patient is still a random draw from the population.
    Untreated platelets are drawn from the log-normal distribution truncated at the entry
    threshold by inverse-CDF sampling of the fixed points, so the draw is a smooth function of
    the parameters for a given seed (common random numbers; no rejection).

    Parameters
    ----------
    trial : Trial
        The trial (its entry criterion `plt_max`).
    params : ParameterSet
        Population parameters.
    n : int
        Number of patients.
    seed : int
        Seed of the scrambling.

    Returns
    -------
    Population
        The virtual patients.
    """
    return entry_population(trial.plt_max, params, n, seed)


def entry_population(plt_max: float, params: ParameterSet, n: int, seed: int) -> Population:
    """Virtual patients with untreated platelets below `plt_max`, as :func:`enrol` draws them.

    Parameters
    ----------
    plt_max : float
        Entry criterion: untreated platelets below this, 10^9/L.
    params : ParameterSet
        Parameters (typical values and IIV).
    n : int
        Patients.
    seed : int
        Seed of the Sobol point set.

    Returns
    -------
    Population
        The virtual patients.
    """
    n = check_whole(n, "n_per_arm", 1, TrialError)
    keys = params.model.effect_names
    points = sobol_points(len(keys) + 1, int(n), seed)
    z = dict(zip(keys, ndtri(points[:-1]), strict=True))
    entry = entry_deviates(plt_max, params, points[-1])
    if entry is not None:
        z["plt_base"] = entry
    return Population(params, z)


def entry_deviates(plt_max: float, params: ParameterSet, u: np.ndarray) -> np.ndarray | None:
    """Deviates of untreated platelets conditioned on the entry criterion ``plt < plt_max``.

    Parameters
    ----------
    plt_max : float
        Entry criterion: untreated platelets below this, 10^9/L.
    params : ParameterSet
        Parameters (typical untreated platelets and their IIV).
    u : numpy.ndarray
        Uniform numbers in [0, 1), one per patient (inverse-CDF sampling of the truncated
        normal).

    Returns
    -------
    numpy.ndarray or None
        Standard-normal deviates of ``plt_base``, or None when the effect has no IIV (and the
        typical value meets the criterion).

    Raises
    ------
    TrialError
        No patient can meet the criterion.
    """
    typ, omega = params["plt_base"], params["omega_plt_base"]
    if omega > 0:
        zmax = math.log(plt_max / typ) / omega
        cap = float(_st.norm.cdf(zmax))
        if cap <= 1e-12:
            raise TrialError(
                f"no virtual patient can meet the entry criterion plt < {plt_max:g}: "
                f"typical untreated platelets {typ:g} with IIV {omega:g}"
            )
        return np.asarray(ndtri(np.clip(u * cap, 1e-300, 1.0)), dtype=float)
    if typ >= plt_max:
        raise TrialError(f"typical untreated platelets {typ:g} do not meet plt < {plt_max:g}")
    return None


@dataclass(frozen=True)
class TrialResult:
    """Result of :func:`simulate_trial`.

    Parameters
    ----------
    trial : Trial
        The trial simulated.
    n_per_arm : int
        Virtual patients per arm.
    seed : int
        Seed of the virtual patients.
    summaries : dict of str to dict of str to ArmSummary
        Per arm, per endpoint: the aggregate of the hard endpoints.
    per_patient : dict of str to dict of str to ndarray
        Per arm, per endpoint: the values per virtual patient, in the endpoint's unit (NaN
        where undefined, e.g. the onset time of a non-responder).
    findings : tuple of FindingResult
        How the model does on each published finding.
    simulations : dict of str to SimulationResult
        Per arm: the trajectories.
    smooth : dict of str to dict of str to ArmSummary, optional
        Per arm, per endpoint: the smooth aggregates the calibration uses (None unless asked).
    """

    trial: Trial
    n_per_arm: int
    seed: int
    summaries: dict[str, dict[str, ArmSummary]]
    per_patient: dict[str, dict[str, NDArray[np.float64]]]
    findings: tuple[FindingResult, ...]
    simulations: dict[str, SimulationResult]
    smooth: dict[str, dict[str, ArmSummary]] | None = None

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.status] = counts.get(f.status, 0) + 1
        verdicts = ", ".join(f"{v} {k}" for k, v in counts.items())
        arms = ", ".join(a.name for a in self.trial.arms)
        return (
            f"TrialResult({self.trial.id}: {self.n_per_arm} virtual patients per arm, seed "
            f"{self.seed}, arms [{arms}]; findings: {verdicts or 'none'})"
        )

    def _repr_html_(self) -> str:
        """Notebook view: the findings table."""
        import html

        return f"<p>{html.escape(repr(self))}</p>" + self.findings_table().to_html(
            index=False, float_format=lambda v: f"{v:.3g}"
        )

    def table(self) -> pd.DataFrame:
        """One row per endpoint and arm: model value, SD, median, n and replicate 95% interval.

        Returns
        -------
        pandas.DataFrame
            One row per endpoint and arm.
        """
        import pandas as pd

        rows = []
        for arm in self.trial.arms:
            for name, s in self.summaries[arm.name].items():
                lo, hi = _replicate_interval(s, arm.n)
                rows.append(
                    {
                        "endpoint": name,
                        "arm": arm.name,
                        "kind": s.kind,
                        "unit": ENDPOINTS[name][1],
                        "value": s.value,
                        "sd": s.sd,
                        "median": s.median,
                        "n_simulated": s.n,
                        "replicate_n": arm.n,
                        "replicate_low": lo,
                        "replicate_high": hi,
                    }
                )
        return pd.DataFrame(rows)

    def findings_table(self) -> pd.DataFrame:
        """One row per published finding: what was published, the model, the verdict.

        Returns
        -------
        pandas.DataFrame
            One row per finding.
        """
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "finding": r.finding.describe(),
                    "endpoint": r.finding.endpoint,
                    "type": r.finding.type,
                    "model": r.model,
                    "direction_ok": r.direction_ok,
                    "probability": r.probability,
                    "typical_p": r.typical_p,
                    "published_p": r.finding.p,
                    "status": r.status,
                    "source": r.finding.source,
                }
                for r in self.findings
            ]
        )


def _replicate_interval(s: ArmSummary, n_pub: int) -> tuple[float, float]:
    if s.n == 0 or not math.isfinite(s.value):
        return (math.nan, math.nan)
    if s.kind == "proportion":
        lo = float(_st.binom.ppf(0.025, n_pub, s.value)) / n_pub
        hi = float(_st.binom.ppf(0.975, n_pub, s.value)) / n_pub
        return (lo, hi)
    half = 1.959963984540054 * s.sd / math.sqrt(max(n_pub, 1))
    return (s.value - half, s.value + half)


_OBS = ("platelets", "ab_positive", "ab_signal", "cd4cd25_pct", "treg_pct")


def simulate_trial(
    trial: Trial,
    params: ParameterSet | None = None,
    n_per_arm: int = 2000,
    seed: int = 1,
    *,
    smooth_width: float | None = None,
    options: SolverOptions | None = None,
    **solver: Any,
) -> TrialResult:
    """Simulate a trial and score it against its published findings.

    Parameters
    ----------
    trial : Trial
        Design and findings (:func:`load`).
    params : ParameterSet, optional
        Parameters (default: package defaults).
    n_per_arm : int
        Virtual patients (the same patients are simulated in every arm).
    seed : int
        Seed of the virtual population.
    smooth_width : float, optional
        Also compute smooth endpoint summaries (logistic width in log-platelets, see
        :func:`pdmodel.endpoints.smooth_patient_endpoints`) in ``TrialResult.smooth``; the
        calibration objective uses them.
    options : SolverOptions, optional
        How to integrate (:class:`pdmodel.solver.SolverOptions`).
    **solver
        Fields of :class:`pdmodel.solver.SolverOptions` (``executor=``, ``progress=``,
        ``rtol=``, ...), overriding `options`.

    Returns
    -------
    TrialResult
        Endpoints per arm, findings and trajectories.
    """
    if not isinstance(trial, Trial):
        raise TrialError(
            f"`trial` must be a pdmodel Trial (pdmodel.trials.load(name)), got "
            f"{type(trial).__name__} {trial!r:.60}"
        )
    return simulate_trials(
        [trial], params, n_per_arm, seed, smooth_width=smooth_width, options=options, **solver
    )[0]


def _trial_list(trials: Any, purpose: str = "simulate") -> tuple[Trial, ...]:
    """`trials` as a non-empty tuple of Trial objects, or a TrialError naming what is wrong
    (`purpose`: what the trials are for, in the message)."""
    if isinstance(trials, Trial | str) or not isinstance(trials, Sequence):
        raise TrialError(
            f"`trials` must be a list of pdmodel Trial objects, got {type(trials).__name__}"
        )
    if not trials:
        raise TrialError(f"give at least one trial to {purpose}")
    for t in trials:
        if not isinstance(t, Trial):
            raise TrialError(
                f"`trials` must hold pdmodel Trial objects (pdmodel.trials.load(name)), got "
                f"{type(t).__name__} {t!r:.60}"
            )
    return tuple(trials)


def simulate_trials(
    trials: Sequence[Trial],
    params: ParameterSet | None = None,
    n_per_arm: int = 2000,
    seed: int = 1,
    *,
    smooth_width: float | None = None,
    daily: bool = True,
    options: SolverOptions | None = None,
    **solver: Any,
) -> list[TrialResult]:
    """Simulate several trials in one solve (see :func:`simulate_trial`).

    Each trial enrols its own virtual population (from `seed`); the arms of all trials are
    integrated together (:func:`pdmodel.solver.simulate_many`), which is faster than one trial
    after another and gives the same results.

    Parameters
    ----------
    trials : sequence of Trial
        Designs and findings.
    params : ParameterSet, optional
        As for :func:`simulate_trial`.
    n_per_arm : int
        Virtual patients per arm.
    seed : int
        Seed of the virtual populations.
    smooth_width : float, optional
        As for :func:`simulate_trial`.
    daily : bool
        Record the trajectories on every day (default).  ``False`` records only the days the
        endpoints read (``EndpointConfig.required_days``), which saves integration segments in
        drug-free follow-up; the endpoints agree within the solver tolerance.
    options : SolverOptions, optional
        As for :func:`simulate_trial`.
    **solver
        As for :func:`simulate_trial`.

    Returns
    -------
    list of TrialResult
        One per trial, in order.
    """
    trials = _trial_list(trials)
    params = parameters_or_default(params)
    return _simulate_samples(
        trials, [params], n_per_arm, seed, smooth_width, daily, options, **solver
    )[0]


#: Patient x output-time values one batched call of :func:`_simulate_samples` may record
#: (about 200 MB per observable); more samples are solved in several batches.
_BATCH_VALUES = 25_000_000


def _batchable(trials: Sequence[Trial], samples: Sequence[ParameterSet], n_per_arm: int,
               seed: int) -> bool:  # fmt: skip
    """Whether the parameter `samples` can be simulated as one batched population per arm.

    True when every sample enrols the same virtual patients (the entry criteria read none of
    the parameters that differ) and no parameter that differs is a PK parameter (the engine's
    drug inputs share their rates within a call).
    """
    if len(samples) < 2:
        return False
    first = samples[0]
    if set(_differing(samples)) & set(pk_parameters(first.model.drugs)):
        return False
    for trial in trials:
        z0 = enrol(trial, first, n_per_arm, seed).z
        for p in samples[1:]:
            z = enrol(trial, p, n_per_arm, seed).z
            if any(not np.array_equal(z[k], z0[k]) for k in z0):
                return False
    return True


def _differing(samples: Sequence[ParameterSet]) -> list[str]:
    """Names of the parameters whose value is not the same in every sample."""
    first = samples[0]
    return [name for name in first if any(p[name] != first[name] for p in samples[1:])]


def _simulate_samples(
    trials: Sequence[Trial],
    samples: Sequence[ParameterSet],
    n_per_arm: int,
    seed: int,
    smooth_width: float | None,
    daily: bool,
    options: SolverOptions | None,
    *,
    hard: bool = True,
    **solver: Any,
) -> list[list[TrialResult]]:
    """Every trial under each parameter sample, in one engine call where it can be.

    Where the samples are :func:`_batchable`, each arm's population is the batch of the
    samples (:meth:`pdmodel.Population.batch`), solved together and split back per sample;
    otherwise one sample after another.  The results are the same either way (the engine's
    results do not depend on which patients share a call).  With ``hard=False`` only the
    smooth summaries are computed (``TrialResult.smooth``; the calibration objective reads
    nothing else): `summaries`, `per_patient` and `findings` are left empty.
    """
    n_per_arm = check_whole(n_per_arm, "n_per_arm", 1, TrialError)
    if not hard and smooth_width is None:
        raise TrialError("smooth summaries only (hard=False) need a `smooth_width`")
    if len(samples) > 1 and not _batchable(trials, samples, n_per_arm, seed):
        args = (n_per_arm, seed, smooth_width, daily, options)
        return [_simulate_samples(trials, [p], *args, hard=hard, **solver)[0] for p in samples]
    days = max(t.endpoints.followup for t in trials)  # (each arm ends at its own follow-up)
    if daily:
        times = np.arange(0.0, math.floor(days + 1e-9) + 1.0)
    else:
        times = np.unique(np.concatenate([t.endpoints.required_days() for t in trials]))
    group = max(1, _BATCH_VALUES // (n_per_arm * sum(len(t.arms) for t in trials) * times.size))
    if len(samples) > group:  # bounded memory: batches of `group` samples
        args = (n_per_arm, seed, smooth_width, daily, options)
        return [
            r
            for i in range(0, len(samples), group)
            for r in _simulate_samples(trials, samples[i : i + group], *args, hard=hard, **solver)
        ]
    first, k = samples[0], len(samples)
    differ = _differing(samples)
    jobs: list[tuple[Population, Regimen]] = []
    solved: list[list[int]] = []  # per arm: the position of each sample's solve in its batch
    for trial in trials:
        pop = enrol(trial, first, n_per_arm, seed)
        for arm in trial.arms:
            where, reps = _arm_solves(samples, differ, arm.regimen)
            solved.append(where)
            batch = {name: [samples[r][name] for r in reps] for name in differ}
            jobs.append((pop.batch(batch) if differ else pop, arm.regimen))
    ends = [float(t.endpoints.followup) for t in trials for _ in t.arms]
    results = simulate_many(jobs, ends, times=times, observables=_OBS, options=options, **solver)
    n = int(n_per_arm)
    out: list[list[TrialResult]] = []
    for j in range(k):
        per_sample: list[TrialResult] = []
        i = 0
        for trial in trials:
            sims = {}
            for arm in trial.arms:
                r = solved[i][j]
                res = results[i].take(slice(r * n, (r + 1) * n)) if differ else results[i]
                sims[arm.name] = res
                i += 1
            per_sample.append(_score(trial, n, int(seed), sims, smooth_width, hard))
        out.append(per_sample)
    return out


#: Whether batched samples share an arm's solve where the arm cannot tell them apart (off
#: only for the side-by-side measurement in benchmarks/calibration.py).
_REUSE_ARMS = True


def _arm_solves(
    samples: Sequence[ParameterSet], differ: Sequence[str], regimen: Regimen
) -> tuple[list[int], list[int]]:
    """Which samples an arm must solve, and which solve serves each sample.

    Samples that agree in every differing parameter the arm's drugs let act
    (:meth:`pdmodel.model.Model.parameters_read`) have bit-identical courses in this arm, so
    only the first of them is solved (e.g. a finite-difference step in an rhIL-11 parameter,
    in an arm without rhIL-11).  Returns each sample's position among the solved samples, and
    the solved samples' indices.
    """
    model = samples[0].model
    read = model.parameters_read({c.drug for c in regimen.courses})
    acting = [name for name in differ if name in read or not _REUSE_ARMS]
    position: dict[tuple[float, ...], int] = {}
    where: list[int] = []
    reps: list[int] = []
    for j, p in enumerate(samples):
        key = tuple(p[name] for name in acting)
        if key not in position:
            position[key] = len(reps)
            reps.append(j)
        where.append(position[key])
    return where, reps


def _score(
    trial: Trial,
    n_per_arm: int,
    seed: int,
    sims: dict[str, SimulationResult],
    smooth_width: float | None,
    hard: bool = True,
) -> TrialResult:
    cfg = trial.endpoints
    per_patient: dict[str, dict[str, NDArray[np.float64]]] = {}
    summaries: dict[str, dict[str, ArmSummary]] = {}
    smooth: dict[str, dict[str, ArmSummary]] = {}
    for arm in trial.arms:
        res = sims[arm.name]
        if hard:
            pp = patient_endpoints(
                res["platelets"],
                res.times,
                cfg,
                res.treatment_days(),
                ab_positive=res["ab_positive"],
                cd4cd25=res["cd4cd25_pct"],
                treg=res["treg_pct"],
            )
            per_patient[arm.name] = pp
            summaries[arm.name] = {
                name: summarise(v, ENDPOINTS[name][0], len(cfg.grade_names))
                for name, v in pp.items()
            }
        if smooth_width is not None:
            soft = smooth_patient_endpoints(
                res["platelets"],
                res.times,
                cfg,
                res.treatment_days(),
                width=smooth_width,
                ab_signal=res["ab_signal"],
                cd4cd25=res["cd4cd25_pct"],
                treg=res["treg_pct"],
            )
            smooth[arm.name] = {
                name: summarise_smooth(e.value, e.weight, ENDPOINTS[name][0], e.within)
                for name, e in soft.items()
            }
    results = tuple(evaluate_finding(f, trial, summaries) for f in trial.findings) if hard else ()
    return TrialResult(
        trial, n_per_arm, seed, summaries, per_patient, results, sims, smooth or None
    )
