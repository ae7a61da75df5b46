"""Visual predictive check: data simulated from the model fall inside the bands at about the
nominal rate, data from a wrong model do not; options, errors and the command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pdmodel as pm
from pdmodel.analysis import vpc
from pdmodel.calibration import posterior_draws
from pdmodel.cli import main
from pdmodel.errors import DataError, OptionError
from pdmodel.events import from_event_table, to_event_table
from pdmodel.regimens import il11, prednisone
from pdmodel.shipped import calibrated_parameters, shipped_fit
from pdmodel.trials import entry_deviates

TIMES = np.array([0, 3, 7, 10, 14, 21, 28, 42, 56.0])
ARMS = {
    "prednisone": prednisone(mg=60.0, days=28, taper_days=14),
    "prednisone+il11": prednisone(mg=60.0, days=28, taper_days=14) + il11(ug=3000.0, days=14),
}
CV = 0.1


def observed(params: pm.ParameterSet, seed: int, n: int = 30) -> pd.DataFrame:
    """An event table of patients drawn from `params` as the VPC draws them (random effects
    from the model, untreated platelets < 30), with 10% proportional measurement error."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, (arm, reg) in enumerate(ARMS.items()):
        pop = pm.Population.sample(n, params, seed=rng)
        z = dict(pop.z)
        z["plt_base"] = entry_deviates(30.0, params, rng.random(n))
        pop = pm.Population(params, z, np.arange(n) + 1000 * (k + 1))
        res = pm.simulate(pop, reg, 56, times=TIMES, progress=False)
        t = to_event_table(res, pop, arm=arm, observables=["platelets"])
        obs = t["EVID"] == 0
        sigma = np.sqrt(np.log1p(CV**2))
        t.loc[obs, "DV"] *= np.exp(sigma * rng.standard_normal(int(obs.sum())))
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def params():
    return calibrated_parameters()


def _inside(table: pd.DataFrame, params: pm.ParameterSet, seed: int) -> float:
    res = vpc(table, params, plt_max=30.0, error_cv=CV, replicates=200, seed=seed)
    assert set(res.table["stratum"]) == set(ARMS)
    assert len(res.table) == 2 * TIMES.size * 3  # strata x nominal-time bins x percentiles
    return float(res.table["inside"].mean())


def test_model_data_inside_at_nominal_rate_wrong_model_outside(params):
    # 95% bands: over three data sets (162 checks, correlated within a data set), the
    # fraction inside is near 0.95 (measured 0.96 at 400 replicates; 200 replicates bias
    # the bands' 2.5/97.5% quantiles slightly inwards)
    own = [_inside(observed(params, 100 + s), params, s) for s in range(3)]
    assert np.mean(own) >= 0.85, own
    # data from a model with a ten-fold weaker glucocorticoid: most percentiles fall outside
    weak = params.replace(gc_ec50=params["gc_ec50"] * 10)
    wrong = _inside(observed(weak, 100), params, 0)
    assert wrong <= 0.5 < np.mean(own) - 0.3, (wrong, own)


def test_vpc_is_seeded_and_simulates_the_draws(params):
    table = observed(params, 7, n=15)
    events = from_event_table(table, params.model)
    a = vpc(events, params, replicates=40, seed=3, plt_max=30.0)
    b = vpc(table, params, replicates=40, seed=3, plt_max=30.0)
    pd.testing.assert_frame_equal(a.table, b.table)
    c = vpc(events, params, replicates=40, seed=4, plt_max=30.0)
    assert not a.table["sim_median"].equals(c.table["sim_median"])
    # observed percentiles are the data's, whatever the simulation
    first = a.observations[(a.observations["bin"] == 0) & (a.observations["stratum"]
                                                           == "prednisone")]  # fmt: skip
    row = a.table[(a.table["bin"] == 0) & (a.table["stratum"] == "prednisone")
                  & (a.table["quantile"] == 0.5)]  # fmt: skip
    assert row["observed"].item() == pytest.approx(np.median(first["DV"]))
    # the draws are the replicates' parameters: a weak glucocorticoid lowers the counts
    draws = posterior_draws(shipped_fit(), 4, seed=2)
    d = vpc(events, params, replicates=40, seed=3, plt_max=30.0, draws=draws)
    assert d.n_draws == 4 and np.isfinite(d.table[["sim_lo", "sim_hi"]]).all().all()
    weak = params.replace(gc_ec50=params["gc_ec50"] * 10)
    w = vpc(events, params, replicates=40, seed=3, plt_max=30.0, draws=[weak, weak])
    late = a.table["time"] >= 7
    assert (w.table.loc[late, "sim_median"] < a.table.loc[late, "sim_median"]).mean() > 0.9
    summary = a.inside_fraction()
    assert list(summary["quantile"]) == ["0.05", "0.5", "0.95", "all"]


def test_quantile_bins_and_edges(params):
    table = observed(params, 8, n=10)
    events = from_event_table(table, params.model)
    r = vpc(events, params, replicates=20, bins=3, quantiles=(0.5,))
    assert r.table["bin"].nunique() == 3 and set(r.table["quantile"]) == {0.5}
    r = vpc(events, params, replicates=20, bins=[0, 10, 30, 56])
    assert sorted(r.table["bin"].unique()) == [0, 1, 2]
    assert r.table.groupby("bin")["time_hi"].max().tolist() == [7.0, 28.0, 56.0]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"replicates": 5}, OptionError, "replicates"),
        ({"quantiles": (0.5, 1.2)}, OptionError, "quantiles"),
        ({"ci": 1.0}, OptionError, "ci"),
        ({"error_cv": -0.1}, OptionError, "error_cv"),
        ({"covariates": ("height",)}, OptionError, "height"),
        ({"observable": "nonsense"}, OptionError, "nonsense"),
        ({"bins": [5, 10]}, OptionError, "do not cover"),
    ],
)
def test_bad_options_are_refused(params, options, error, message):
    events = from_event_table(observed(params, 9, n=4), params.model)
    with pytest.raises(error, match=message):
        vpc(events, params, **options)


def test_a_table_without_observations_is_refused(params):
    table = observed(params, 9, n=4)
    with pytest.raises(DataError, match="no observations of platelets"):
        vpc(table[table["EVID"] == 1], params)


def test_vpc_command(tmp_path, capsys, params):
    data = tmp_path / "obs.csv"
    observed(params, 10, n=10).to_csv(data, index=False)
    out = tmp_path / "v.csv"
    argv = ["vpc", str(data), "--replicates", "30", "--plt-max", "30", "--error-cv", "0.1",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "inside" in printed and str(out) in printed
    table = pd.read_csv(out)
    assert {"stratum", "bin", "quantile", "observed", "sim_lo", "sim_hi", "inside"} <= set(table)
    assert (tmp_path / "v.png").stat().st_size > 0
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,TIME,EVID,AMT,CMT\n1,0,0,0,99\n")
    assert main(["vpc", str(bad), "--out", str(tmp_path / "w.csv")]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "CMT" in err
    assert not (tmp_path / "w.csv").exists()


def test_event_files_that_cannot_be_read_are_named(tmp_path, params):
    """vpc(path) reads through pdmodel.io.read_table, as the CLI does."""
    with pytest.raises(DataError, match=r"event file .*missing\.csv not found"):
        vpc(tmp_path / "missing.csv", params=params)
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"ID,TIME\n1,\xe9\n")
    with pytest.raises(DataError, match=r"latin1\.csv: cannot read the event table"):
        vpc(bad, params=params)
