"""Trial designs and published findings as data: :class:`Arm`, :class:`Finding`, :class:`Trial`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..endpoints import (
    EndpointConfig,
)
from ..errors import TrialError
from ..regimens import Regimen

#: What a trial may be for (its ``role``): fitted, or only predicted.
ROLES = ("calibration", "validation")
_FINDING_TYPES = ("proportion", "mean", "median", "comparison", "change")
_COMMON_KEYS = {"type", "endpoint", "source", "note"}
_FINDING_KEYS: dict[str, set[str]] = {
    "proportion": {"arm", "n", "k", "rate"},
    "mean": {"arm", "n", "mean", "sd"},
    "median": {"arm", "n", "median", "low", "high"},
    "comparison": {"arms", "direction", "test", "alpha", "significant", "p"},
    "change": {"arm", "direction", "test", "alpha", "significant", "p"},
}
_DIRECTIONS = ("greater", "less", "different")
#: Possible patient counts of a replicate arm and their probabilities (:func:`replicate_sizes`).
_DEFAULT_TEST = {"proportion": "chi2", "continuous": "welch", "ordinal": "mannwhitney"}


# ---------------------------------------------------------------------------------------------
# specification


@dataclass(frozen=True)
class Arm:
    """One arm of a trial.

    Parameters
    ----------
    name : str
        Arm name used by findings.
    n : int
        Published number of patients.
    regimen : Regimen
        Treatment.
    description : str
        What the source says the arm received.
    spec : tuple of dict
        The regimen entries of the trial file (kept for round trips).
    """

    name: str
    n: int
    regimen: Regimen
    description: str = ""
    spec: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Finding:
    """One published result.

    A number (``proportion``, ``mean``, ``median``) or a verdict (``comparison`` of two arms,
    within-arm ``change``); docs/endpoints.md describes the trial-file keys of each type.

    Parameters
    ----------
    type : {"proportion", "mean", "median", "comparison", "change"}
        Kind of finding.
    endpoint : str
        Endpoint name (:data:`pdmodel.endpoints.ENDPOINTS`).
    source : str
        Where the finding is published.
    arm : str
        Arm of a number or a change.
    arms : tuple of str
        The two arms of a comparison, the first compared with the second.
    n : int
        Published number of patients (numbers).
    k : int, optional
        Patients with the outcome (proportion; or `rate`).
    rate : float, optional
        Published rate, 0-1 (proportion; or `k`).
    mean, sd : float, optional
        Published mean and SD (mean), in the endpoint's unit.
    median, low, high : float, optional
        Published median and range or interval (median), in the endpoint's unit.
    direction : {"greater", "less", "different"}
        Direction of a comparison (first arm vs second) or change (after vs before).
    test : str
        Statistical test of a comparison or change (:data:`pdmodel.stats.TESTS`).
    alpha : float
        Significance level, two-sided.
    significant : bool, optional
        The published verdict (may be left out when `p` is given).
    p : float, optional
        The published two-sided P value.
    note : str
        Free text.
    """

    type: str
    endpoint: str
    source: str
    arm: str = ""
    arms: tuple[str, ...] = ()
    n: int = 0
    k: int | None = None
    rate: float | None = None
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    low: float | None = None
    high: float | None = None
    direction: str = ""
    test: str = ""
    alpha: float = 0.05
    significant: bool | None = None
    p: float | None = None
    note: str = ""

    @property
    def value(self) -> float | None:
        """The published number (rate, mean or median), if any."""
        if self.type == "proportion":
            return self.rate if self.rate is not None else (self.k or 0) / self.n
        if self.type == "mean":
            return self.mean
        if self.type == "median":
            return self.median
        return None

    def describe(self) -> str:
        """Human-readable statement of the finding.

        Returns
        -------
        str
            E.g. ``"recurrence_rate: observation < control, P < 0.05"``.
        """
        if self.type == "comparison":
            rel = {"greater": ">", "less": "<", "different": "!="}[self.direction]
            a, b = self.arms
            return f"{self.endpoint}: {a} {rel} {b}, {self._verdict()}"
        if self.type == "change":
            rel = {"greater": "rises", "less": "falls", "different": "changes"}[self.direction]
            return f"{self.endpoint} in {self.arm}: {rel}, {self._verdict()}"
        if self.type == "proportion":
            return f"{self.endpoint} in {self.arm}: {self.value:.3g} (n = {self.n})"
        if self.type == "mean":
            return f"{self.endpoint} in {self.arm}: {self.mean:g} +/- {self.sd:g} (n = {self.n})"
        return f"{self.endpoint} in {self.arm}: median {self.median:g} (n = {self.n})"

    def _verdict(self) -> str:
        if self.p is not None:
            return f"P = {self.p:g}"
        return f"P < {self.alpha:g}" if self.significant else f"P > {self.alpha:g}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (only the fields that are set).

        Returns
        -------
        dict
            The trial file's keys.
        """
        out: dict[str, Any] = {"type": self.type, "endpoint": self.endpoint}
        for f in (
            "arm", "arms", "n", "k", "rate", "mean", "sd", "median", "low", "high",
            "direction", "test", "alpha", "significant", "p", "source", "note",
        ):  # fmt: skip
            v = getattr(self, f)
            if v is None or v == "" or v == () or (f == "n" and v == 0):
                continue
            if f == "alpha" and self.type not in ("comparison", "change"):
                continue
            out[f] = list(v) if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True)
class Trial:
    """A trial design with its published findings.

    Parameters
    ----------
    id, title, citation : str
        Identification and the original publication.
    plt_max : float
        Entry criterion: untreated platelets below this value, 10^9/L.
    endpoints : EndpointConfig
        Endpoint definitions.
    arms : tuple of Arm
        Arms.
    findings : tuple of Finding
        Published findings.
    assumptions : tuple of dict
        Documented assumptions (key, value, reason).
    entry_source : str
        Source of the entry criterion.
    role : {"calibration", "validation"}
        What the trial is for: a validation trial is never fitted (the fit refuses it unless
        asked explicitly); ``pdmodel validate`` reports the model's prediction of it.
    origin : str
        File the trial was read from.
    sha256 : str
        Hash of that file's bytes (provenance).
    """

    id: str
    title: str
    citation: str
    plt_max: float
    endpoints: EndpointConfig
    arms: tuple[Arm, ...]
    findings: tuple[Finding, ...]
    assumptions: tuple[Mapping[str, Any], ...] = ()
    entry_source: str = ""
    role: str = "calibration"
    origin: str = field(default="", compare=False)
    sha256: str = field(default="", compare=False)

    def arm(self, name: str) -> Arm:
        """The arm called `name`.

        Parameters
        ----------
        name : str
            Arm name.

        Returns
        -------
        Arm
            The arm; a TrialError naming the trial's arms if there is none.
        """
        for a in self.arms:
            if a.name == name:
                return a
        raise TrialError(
            f"trial `{self.id}` has no arm `{name}`; arms: {[a.name for a in self.arms]}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, the inverse of :meth:`from_dict` (and the TOML layout).

        Returns
        -------
        dict
            Keys as in the trial file.
        """
        return {
            "id": self.id,
            "title": self.title,
            "citation": self.citation,
            "role": self.role,
            "entry": {"plt_max": self.plt_max, "source": self.entry_source},
            "endpoints": self.endpoints.to_dict(),
            "assumption": [dict(a) for a in self.assumptions],
            "arm": [
                {
                    "name": a.name,
                    "n": a.n,
                    "description": a.description,
                    "regimen": [dict(s) for s in a.spec],
                }
                for a in self.arms
            ],
            "finding": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], origin: str = "<dict>", sha256: str = "") -> Trial:
        """Build and validate a trial from plain data (as read from a trial file).

        Parameters
        ----------
        data : mapping
            The trial file's tables (``trial``, ``endpoints``, ``arm``, ``finding``,
            ``assumption``).
        origin : str
            Where the data come from, for messages.
        sha256 : str
            Hash of the file's bytes (provenance).

        Returns
        -------
        Trial
            Validated; an error names `origin` and the key.
        """
        from .files import _parse  # (files reads specs: imported here)

        return _parse(data, origin, sha256)
