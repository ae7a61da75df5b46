"""Virtual patients and populations with log-normal inter-individual variability.

A :class:`Population` stores a parameter set and, for every patient, one standard-normal
deviate per random effect of the parameter set's model
(:attr:`pdmodel.model.Model.random_effects`).  Individual values
are ``typical * exp(omega * z)``; keeping ``z`` rather than the values gives common random
numbers: the same seed gives the same patients for any parameter set (design decision D5).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri
from scipy.stats import qmc as _qmc

from .checks import check_choice, check_memory
from .errors import PopulationError
from .model import Individuals
from .parameters import ParameterSet, parameters_or_default

__all__ = ["Population", "sobol_points"]


@dataclass(frozen=True, eq=False)
class Population:
    """A group of virtual patients.

    Parameters
    ----------
    params : ParameterSet
        Typical values and IIV standard deviations.
    z : mapping of str to ndarray, shape (n,)
        Standard-normal deviates per random effect.
    ids : ndarray of int, shape (n,), optional
        Patient identifiers (default ``0..n-1``); kept through subsetting and chunking.
    overrides : mapping of str to ndarray, shape (n,), optional
        Per-patient values of population parameters (typical values, IIV SDs, drug
        effects; units as in the parameter table) that replace `params`' value for each
        patient: how one engine call simulates many parameter samples (see :meth:`batch`).
        PK parameters cannot vary per patient (the engine's drug inputs share their rates).
    """

    params: ParameterSet
    z: Mapping[str, NDArray[np.float64]]
    ids: NDArray[np.int64] | None = None
    overrides: Mapping[str, NDArray[np.float64]] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.params, ParameterSet):
            raise PopulationError(
                "`params` must be a ParameterSet (see pdmodel.default_parameters()), got "
                f"{type(self.params).__name__}"
            )
        keys = self.params.model.effect_names
        missing = [k for k in keys if k not in self.z]
        unknown = sorted(set(self.z) - set(keys))
        if missing or unknown:
            raise PopulationError(
                f"random effects must be exactly {keys}; missing {missing}, unknown {unknown}"
            )
        z = {k: np.asarray(self.z[k], dtype=float).reshape(-1) for k in keys}
        sizes = {v.size for v in z.values()}
        if len(sizes) != 1:
            raise PopulationError(
                f"all random effects need the same number of patients, got sizes {sorted(sizes)}"
            )
        n = sizes.pop()
        for k, v in z.items():
            if not np.all(np.isfinite(v)):
                raise PopulationError(f"random effect `{k}` has non-finite values")
            v.setflags(write=False)
        ids = (
            np.arange(n, dtype=np.int64)
            if self.ids is None
            else np.asarray(self.ids, dtype=np.int64)
        )
        if ids.shape != (n,):
            raise PopulationError(f"`ids` must have shape ({n},), got {ids.shape}")
        ids.setflags(write=False)
        object.__setattr__(self, "z", z)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "overrides", _overrides(self.params, self.overrides, n))

    # ------------------------------------------------------------------ construction
    @classmethod
    def sample(
        cls,
        n: int,
        params: ParameterSet | None = None,
        *,
        seed: int | np.random.Generator,
        sampling: str = "random",
    ) -> Population:
        """Draw `n` virtual patients.

        Parameters
        ----------
        n : int
            Number of patients (>= 1).
        params : ParameterSet, optional
            Parameter set (default: :func:`pdmodel.default_parameters`).
        seed : int or numpy.random.Generator
            Seed of the random draws; required so that every result is reproducible.
        sampling : {"random", "sobol"}
            ``random``: independent standard-normal deviates.  ``sobol``: randomised
            quasi-Monte Carlo, the first `n` points of an Owen-scrambled Sobol sequence seeded
            by `seed` (see :func:`sobol_points`); each patient is still a random draw, but
            population averages carry a much smaller Monte-Carlo error (trial enrolment uses
            it).

        Returns
        -------
        Population
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise PopulationError(f"`n` must be a whole number of patients >= 1, got {n!r}")
        params = parameters_or_default(params)
        keys = params.model.effect_names
        check_choice(sampling, "sampling", ("random", "sobol"), PopulationError)
        check_memory(
            3 * 8 * (len(keys) + 1) * float(n),  # the deviates and the draw's temporaries
            f"a population of {int(n):,} patients",
            "use fewer patients",
            PopulationError,
        )
        if sampling == "random":
            draws = _rng(seed).standard_normal((len(keys), int(n)))
        else:
            draws = ndtri(sobol_points(len(keys), int(n), seed))
        return cls(params, dict(zip(keys, draws, strict=True)))

    @classmethod
    def patient(cls, params: ParameterSet | None = None, **values: float) -> Population:
        """One patient with typical parameters, optionally with some individual values set.

        Parameters
        ----------
        params : ParameterSet, optional
            Parameter set (default: package defaults).
        **values : float
            Individual values by random-effect name, e.g. ``weight=70`` (kg),
            ``plt_base=12`` (10^9/L), ``k_ab=0.8`` (1/day), ``gc_ec50`` (ng/mL),
            ``il11_ec50`` (ng/mL), ``clone_r`` (1/day), ``ab_assay`` (standard-normal deviate).
        """
        params = parameters_or_default(params)
        effects = {r.name: r for r in params.model.random_effects}
        z = {k: np.zeros(1) for k in effects}
        for key, value in values.items():
            if key not in effects:
                raise PopulationError(
                    f"unknown individual parameter `{key}`; use one of {tuple(effects)}"
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not math.isfinite(value)
            ):
                raise PopulationError(f"`{key}` must be a finite number, got {value!r}")
            z[key] = _deviates(params, key, np.array([float(value)]), lambda i, why: why)
        return cls(params, z)

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        params: ParameterSet | None = None,
        *,
        seed: int | np.random.Generator | None = None,
        id_column: str = "ID",
    ) -> Population:
        """A population of real patients from a table (one row per patient).

        Columns named after a random effect (``weight`` in kg, ``plt_base`` in 10^9/L,
        ``k_ab`` in 1/day, ... ; see :meth:`patient`) give that patient's individual value;
        a column ``z_<name>`` gives the standard-normal deviate instead.  Effects without a
        column are drawn from the model's distribution (the random effects are independent,
        so this is the distribution conditional on the given columns); that needs `seed`.
        A column ``ab_positive`` (the untreated antibody test: 1 positive, 0 negative) conditions
        the effects not given on that result (exact rejection sampling; e.g. positives get
        faster antibody-mediated clearance).  An `id_column` (default ``ID``), if present,
        gives the patient identifiers.  Other columns are refused, so that a misspelt
        covariate is not silently ignored.

        Parameters
        ----------
        frame : pandas.DataFrame or mapping of str to sequence
            The cohort table.
        params : ParameterSet, optional
            Parameter set (default: package defaults).
        seed : int or numpy.random.Generator, optional
            Seed for the effects that the table does not give (required if any is missing).
        id_column : str
            Name of the identifier column.

        Returns
        -------
        Population

        Raises
        ------
        DataError
            Naming the row (1-based, as in a spreadsheet after the header) and the column.
        """
        import pandas as pd

        from .errors import DataError

        params = parameters_or_default(params)
        df = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
        if len(df) == 0:
            raise DataError("cohort table has no rows: a population needs at least one patient")
        effects = {r.name: r for r in params.model.random_effects}
        observed = [o.name for o in params.model.observables if o.name in CONDITIONING]
        allowed = {id_column, *effects, *(f"z_{k}" for k in effects), *observed}
        unknown = [str(c) for c in df.columns if c not in allowed]
        if unknown:
            raise DataError(
                f"cohort column `{unknown[0]}` is not a random effect of the model; use one of "
                f"{tuple(effects)} (individual values), z_<name> (deviates), a baseline "
                f"observation {tuple(observed)} or `{id_column}`"
            )
        n = len(df)

        def column(name: str) -> NDArray[np.float64]:
            values = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise DataError(
                    f"cohort row {bad[0] + 1}, column `{name}`: must be a finite number, got "
                    f"{df[name].iloc[bad[0]]!r}"
                )
            return values

        z: dict[str, NDArray[np.float64]] = {}
        missing = []
        for key in effects:
            if key in df.columns and f"z_{key}" in df.columns:
                raise DataError(f"cohort gives both `{key}` and `z_{key}`; keep one")
            if key in df.columns:
                z[key] = _deviates(
                    params,
                    key,
                    column(key),
                    lambda i, why, key=key: DataError(f"cohort row {i + 1}, column `{key}`: {why}"),
                )
            elif f"z_{key}" in df.columns:
                z[key] = column(f"z_{key}")
            else:
                missing.append(key)
        if missing:
            if seed is None:
                raise DataError(
                    f"cohort table does not give {missing}; pass `seed` to draw them from the "
                    "model's distribution (or add the columns)"
                )
            rng = _rng(seed)
            draws = rng.standard_normal((len(missing), n))
            z.update(zip(missing, draws, strict=True))
        for name in observed:
            if name in df.columns:
                _condition(params, z, missing, name, column(name), rng if missing else None)
        ids = None
        if id_column in df.columns:
            raw = column(id_column)
            if np.any(raw != np.round(raw)):
                row = int(np.flatnonzero(raw != np.round(raw))[0])
                raise DataError(f"cohort row {row + 1}, column `{id_column}`: not a whole number")
            ids = raw.astype(np.int64)
            dup = pd.Index(ids).duplicated()
            if dup.any():
                row = int(np.flatnonzero(dup)[0])
                raise DataError(
                    f"cohort row {row + 1}, column `{id_column}`: patient {ids[row]} appears twice"
                )
        return cls(params, {k: z[k] for k in effects}, ids)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return int(self.ids.size) if self.ids is not None else 0

    @property
    def n(self) -> int:
        """Number of patients."""
        return len(self)

    def __getitem__(self, idx: Any) -> Population:
        """Subset of patients (slice, integer array or boolean mask); ids are kept."""
        sel = np.arange(len(self))[idx]
        sel = np.atleast_1d(sel)
        if sel.size == 0:
            raise PopulationError("selection is empty: a population needs at least one patient")
        assert self.ids is not None and self.overrides is not None
        over = {k: v[sel] for k, v in self.overrides.items()}
        return Population(self.params, {k: v[sel] for k, v in self.z.items()}, self.ids[sel],
                          over)  # fmt: skip

    def with_params(self, params: ParameterSet) -> Population:
        """Same patients (same deviates) under another parameter set.

        The per-patient :attr:`overrides`, if any, are kept.

        Parameters
        ----------
        params : ParameterSet
            The new parameter set.

        Returns
        -------
        Population
            The same patients under `params`.
        """
        return Population(params, self.z, self.ids, self.overrides)

    def batch(self, samples: Mapping[str, Any]) -> Population:
        """The same patients under each of several parameter samples, as one population.

        For ``k`` samples the result has ``k * n`` patients: patient ``j * n + i`` is patient
        ``i`` (same deviates, same id) under sample ``j``.  One :func:`pdmodel.simulate` of it
        solves every sample in one vectorised engine call (common random numbers across the
        samples); :meth:`pdmodel.SimulationResult.take` splits the result back per sample.

        Parameters
        ----------
        samples : mapping of str to array_like, shape (k,)
            Values of population parameters (units as in the parameter table), one per
            sample; parameters not given keep their value.  PK parameters cannot vary (the
            engine's drug inputs share their rates): simulate those samples separately.

        Returns
        -------
        Population
            With :attr:`overrides` holding the per-patient values.

        Examples
        --------
        >>> import pdmodel as pm
        >>> pop = pm.Population.sample(3, seed=1)
        >>> len(pop.batch({"il11_smax": [1.0, 2.0]}))
        6
        """
        if not isinstance(samples, Mapping) or not samples:
            raise PopulationError("`samples` must map at least one parameter to its values")
        arrays = {str(k): np.asarray(v, dtype=float).reshape(-1) for k, v in samples.items()}
        sizes = {v.size for v in arrays.values()}
        if len(sizes) != 1 or 0 in sizes:
            raise PopulationError(
                "every parameter in `samples` needs the same (non-zero) number of values, got "
                + ", ".join(f"{k}: {v.size}" for k, v in arrays.items())
            )
        k = sizes.pop()
        n = len(self)
        assert self.ids is not None and self.overrides is not None
        over = {name: np.tile(v, k) for name, v in self.overrides.items()}
        over.update({name: np.repeat(v, n) for name, v in arrays.items()})
        z = {name: np.tile(v, k) for name, v in self.z.items()}
        return Population(self.params, z, np.tile(self.ids, k), over)

    def individuals(self) -> Individuals:
        """Individual model parameters (see :class:`pdmodel.model.Individuals`).

        Returns
        -------
        pdmodel.model.Individuals
            Parameters, constants and random-effect values per patient.
        """
        values: Mapping[str, Any] = self.params
        if self.overrides:
            values = {**self.params, **self.overrides}
        return self.params.model.individuals(values, self.z)

    def chunks(self, size: int) -> list[Population]:
        """Split into consecutive chunks of at most `size` patients.

        Parameters
        ----------
        size : int
            Largest chunk, patients.

        Returns
        -------
        list of Population
            Consecutive, in patient order.
        """
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise PopulationError(f"chunk size must be a whole number >= 1, got {size!r}")
        return [self[i : i + size] for i in range(0, len(self), int(size))]

    def covariates(self) -> dict[str, NDArray[np.float64]]:
        """Individual parameter values by name (units as in the parameter table).

        Returns
        -------
        dict of str to ndarray, shape (n,)
            Per patient, in table units.
        """
        ind = self.individuals()
        return {r.name: ind.values[r.name] for r in self.params.model.random_effects if r.typical}


#: Baseline observations a cohort table may give (binary), on which the effects it does not
#: give are conditioned (``ab_positive``: the untreated antibody test, 1 positive, 0 negative).
CONDITIONING = ("ab_positive",)

#: Rejection rounds before a cohort row's baseline observation is declared unreachable.
_MAX_ROUNDS = 500


def _overrides(
    params: ParameterSet, overrides: Mapping[str, Any] | None, n: int
) -> dict[str, NDArray[np.float64]]:
    """Validated, read-only per-patient parameter values (see :attr:`Population.overrides`)."""
    if overrides is None or (isinstance(overrides, Mapping) and not overrides):
        return {}  # the common case (and every chunk of a plain population): no work
    if not isinstance(overrides, Mapping):
        raise PopulationError(
            f"`overrides` must map parameter names to arrays, got {type(overrides).__name__}"
        )
    from .drugs import pk_parameters
    from .parameters import unknown_parameter_message

    pk = pk_parameters(params.model.drugs)
    out: dict[str, NDArray[np.float64]] = {}
    for name, value in overrides.items():
        if name not in params:
            raise PopulationError(unknown_parameter_message(name, params))
        if name in pk:
            raise PopulationError(
                f"`{name}` is a PK parameter of {pk[name]}: it cannot vary per patient in one "
                "simulation (the drug inputs share their rates); simulate each value separately"
            )
        v = np.asarray(value, dtype=float).reshape(-1)
        if v.shape != (n,):
            raise PopulationError(f"override `{name}` must have shape ({n},), got {v.shape}")
        spec = params.table[name]
        bad = ~(np.isfinite(v) & (v >= spec.lower) & (v <= spec.upper))
        if bad.any():
            raise PopulationError(
                f"override `{name}` = {v[bad][0]:g} {spec.unit} (patient index "
                f"{int(np.flatnonzero(bad)[0])}) is not finite or lies outside its bounds "
                f"[{spec.lower}, {spec.upper}]"
            )
        v.setflags(write=False)
        out[name] = v
    return out


def _condition(
    params: ParameterSet,
    z: dict[str, NDArray[np.float64]],
    missing: list[str],
    name: str,
    target: NDArray[np.float64],
    rng: np.random.Generator | None,
) -> None:
    """Redraw the `missing` effects of the rows whose untreated `name` differs from `target`.

    Rejection sampling: what is kept is a draw from the model's distribution of the missing
    effects conditional on the given ones and on the observation (exact, not approximate).
    """
    from .errors import DataError
    from .model import baseline_state, observables

    bad = np.flatnonzero((target != 0) & (target != 1))
    if bad.size:
        raise DataError(
            f"cohort row {bad[0] + 1}, column `{name}`: must be 0 or 1, got {target[bad[0]]:g}"
        )
    for _ in range(_MAX_ROUNDS):
        ind = params.model.individuals(params, z)
        value = observables(baseline_state(ind), {}, ind, (name,))[name]
        wrong = np.flatnonzero(value != target)
        if wrong.size == 0:
            return
        if rng is None:  # nothing was drawn: nothing to redraw
            break
        for key in missing:
            z[key][wrong] = rng.standard_normal(wrong.size)
    row = int(wrong[0])
    given = "the values given" if not missing else f"any draw of {missing} with the values given"
    raise DataError(
        f"cohort row {row + 1}, column `{name}`: {given} cannot give an untreated {name} of "
        f"{target[row]:g}"
    )


def _deviates(
    params: ParameterSet,
    key: str,
    values: NDArray[np.float64],
    error: Any,
) -> NDArray[np.float64]:
    """Standard-normal deviates of the individual `values` of random effect `key`.

    `error(i, why)` builds the exception for element `i` (a string is wrapped in
    :class:`PopulationError`).
    """
    effect = next(r for r in params.model.random_effects if r.name == key)

    def fail(i: int, why: str) -> Exception:
        exc = error(i, why)
        return exc if isinstance(exc, Exception) else PopulationError(f"`{key}` {exc}")

    if not effect.typical:  # the value is the deviate itself
        return _plausible(values.astype(float), fail, "a standard-normal deviate")
    if np.any(values <= 0):
        i = int(np.flatnonzero(values <= 0)[0])
        raise fail(i, f"must be positive, got {values[i]:g}")
    typ, w = params[effect.typical], params[effect.omega]
    if w == 0:
        off = ~np.isclose(values, typ, rtol=1e-12, atol=0.0)
        if off.any():
            i = int(np.flatnonzero(off)[0])
            raise fail(
                i,
                f"has no inter-individual variability ({effect.omega} = 0); it must equal the "
                f"typical value {typ}, got {values[i]:g}",
            )
        return np.zeros(values.size)
    z = np.asarray(np.log(values / typ) / w, dtype=float)
    return _plausible(z, fail, f"typical {typ:g}, {effect.omega} = {w:g}", values)


#: Largest |deviate| accepted for a given patient value: beyond it the value has a probability
#: below 1e-15 under the model's distribution (a typo or a unit error, not a patient).
MAX_DEVIATE = 8.0


def _plausible(
    z: NDArray[np.float64], fail: Any, what: str, values: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    far = np.flatnonzero(np.abs(z) > MAX_DEVIATE)
    if far.size:
        i = int(far[0])
        shown = f"{values[i]:g}" if values is not None else f"{z[i]:g}"
        raise fail(
            i,
            f"{shown} lies {abs(z[i]):.0f} SD from the model's distribution ({what}); values "
            f"beyond {MAX_DEVIATE:g} SD are refused as implausible: check the value and its unit",
        )
    return z


def sobol_points(n_dims: int, n: int, seed: int | np.random.Generator) -> NDArray[np.float64]:
    """Randomised quasi-Monte Carlo points in the open unit cube.

    The first `n` points of a Sobol sequence with Owen scrambling seeded by `seed`
    (``scipy.stats.qmc.Sobol``), kept strictly inside (0, 1) so that normal quantiles are finite.

    Parameters
    ----------
    n_dims : int
        Dimensions (one per random quantity).
    n : int
        Points (patients), >= 1.
    seed : int or numpy.random.Generator
        Seed of the scrambling.

    Returns
    -------
    ndarray, shape (n_dims, n)
        Uniform points, one row per dimension.
    """
    _rng(seed)  # validates the seed
    m = max(int(n) - 1, 1).bit_length()  # 2^m >= n points, of which the first n are used
    points = _qmc.Sobol(int(n_dims), scramble=True, seed=seed).random_base2(m)[: int(n)]
    return np.asarray(np.clip(points.T, _TINY, 1.0 - _TINY), dtype=float)


_TINY = 2.0**-53  # keeps quasi-random points inside (0, 1) for the normal quantile


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise PopulationError(
            f"`seed` must be a non-negative integer or a numpy Generator, got {seed!r}"
        )
    return np.random.default_rng(int(seed))
