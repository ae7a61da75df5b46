"""NONMEM-style event tables, cohorts and tidy tables (interchange issue)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pdmodel as pm
from pdmodel import events
from pdmodel.cli import main
from pdmodel.errors import DataError
from pdmodel.io import metadata_path, write_table

DAYS = 40.0


@pytest.fixture(scope="module")
def trial():
    """A population whose doses depend on the rules (rhIL-11 stop rule, prednisone taper)."""
    pop = pm.Population.sample(16, seed=11)
    reg = pm.regimens.prednisone(mg_per_kg=1.0, days=21, taper_days=14) + pm.regimens.il11(
        ug_per_kg=50, days=14, stop_if_platelets_above=50
    )
    res = pm.simulate(pop, reg, DAYS)
    return pop, reg, res


@pytest.fixture(scope="module")
def table(trial):
    pop, _, res = trial
    return events.to_event_table(res, pop, arm="pred+il11")


def _csv_roundtrip(frame: pd.DataFrame) -> pd.DataFrame:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return pd.read_csv(io.StringIO(buf.getvalue()))


def test_compartments_numbering_is_documented_order():
    cmt = events.compartments()
    assert list(cmt.CMT) == list(range(1, len(cmt) + 1))
    first = cmt.head(4)
    assert (first.kind == "dose").all()
    assert list(zip(first.drug, first.route, strict=True)) == [
        ("prednisone", "oral"),
        ("dexamethasone", "oral"),
        ("dexamethasone", "iv"),
        ("il11", "sc"),
    ]
    obs = cmt[cmt.kind == "observation"]
    assert obs.observable.iloc[0] == "platelets" and obs.CMT.iloc[0] == 5
    assert list(obs.CMT) == list(range(5, 5 + len(obs)))
    assert list(obs.observable) == list(pm.default_model().observable_labels)
    # drugs registered later (other tests register some) come after the observations
    assert (cmt.iloc[4 + len(obs) :].kind == "dose").all()


def test_documented_compartment_table_matches_the_code():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "interchange.md").read_text()
    rows = {
        tuple(cell.strip() for cell in line.strip().strip("|").split("|"))
        for line in doc.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    }
    cmt = events.compartments()
    shown = cmt[cmt.drug.isin(pm.drugs.BUILTIN_DRUGS) | (cmt.kind == "observation")]
    expected = {tuple(str(v) for v in r[1:]) for r in shown.itertuples()}
    assert rows == expected


def test_event_table_columns_and_doses_after_rules(trial, table):
    pop, _, res = trial
    assert list(table.columns[:9]) == list(events.EVENT_COLUMNS)
    assert {"weight", "plt_base"} <= set(table.columns)
    doses = table[table.EVID == 1]
    assert (doses.MDV == 1).all() and (doses.DV == 0).all()
    # one dose record per dose actually given: the stop rule varies the rhIL-11 count
    il11 = doses[doses.CMT == 4].groupby("ID").size()
    given = sum(c.given.sum(axis=0) for c in res.courses if c.drug == "il11")
    assert np.array_equal(il11.reindex(res.patient_ids, fill_value=0).to_numpy(), given)
    assert il11.nunique() > 1, "the stop rule should give patients different course lengths"
    # absolute amounts: mg/kg x weight for prednisone
    first = doses[(doses.CMT == 1) & (doses.TIME == 0)].set_index("ID")
    assert np.allclose(first.AMT, 1.0 * first.weight)
    obs = table[table.EVID == 0]
    assert len(obs) == len(pop) * res.times.size
    assert np.allclose(obs.DV.to_numpy(), res["platelets"].T.reshape(-1))
    # sorted by ID then TIME; trough observation before the dose at the same time
    assert (table.groupby("ID").TIME.diff().dropna() >= 0).all()
    same = table.groupby(["ID", "TIME"]).EVID.apply(lambda e: list(e) == sorted(e))
    assert same.all()


def test_round_trip_identical_histories_and_counts(trial, table):
    pop, _, res = trial
    data = events.from_event_table(_csv_roundtrip(table))
    back = data.population(pop.params)
    assert np.array_equal(back.ids, pop.ids)
    for key, z in pop.z.items():
        np.testing.assert_allclose(back.z[key], z, rtol=1e-12, atol=1e-12)
    sim = data.simulate(back, DAYS)
    np.testing.assert_allclose(sim["platelets"], res["platelets"], rtol=1e-9, atol=1e-9)
    assert np.array_equal(sim.treatment_days(), res.treatment_days())
    again = events.to_event_table(sim, back, arm="pred+il11")
    pd.testing.assert_frame_equal(_csv_roundtrip(again), _csv_roundtrip(table))


def test_event_table_without_population_has_no_covariates(trial, table):
    _, _, res = trial
    bare = events.to_event_table(res)
    assert list(bare.columns) == list(events.EVENT_COLUMNS)
    pd.testing.assert_frame_equal(bare, table[list(events.EVENT_COLUMNS)].assign(ARM=""))
    data = events.from_event_table(bare)
    assert data.regimens == events.from_event_table(table).regimens


def test_observations_are_read(table):
    data = events.from_event_table(table)
    obs = data.observations
    assert list(obs.columns) == ["ID", "TIME", "observable", "DV"]
    assert (obs.observable == "platelets").all()
    assert len(obs) == (table.EVID == 0).sum()


def test_hand_written_history_without_optional_columns():
    frame = pd.DataFrame(
        {
            "ID": [1, 1, 1, 1, 2],
            "TIME": [0, 1, 2, 3, 0],
            "EVID": [1, 1, 1, 1, 0],
            "AMT": [40, 40, 40, 40, 0],
            "CMT": [2, 2, 2, 2, 5],
        }
    )
    data = events.from_event_table(frame)
    (course,) = data.regimens[1].courses
    assert course.drug == "dexamethasone" and course.n_doses == 4
    assert data.regimens[2].courses == ()
    pop = data.population(seed=1)
    sim = data.simulate(pop, 10.0)
    assert sim["platelets"].shape == (11, 2)
    # the untreated patient stays at baseline, the pulsed one rises
    assert sim["platelets"][-1, 0] > sim["platelets"][0, 0]


def _small_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ID": [1, 1, 1, 1, 1, 2, 2],
            "TIME": [0.0, 1.0, 2.0, 3.0, 3.0, 0.0, 1.0],
            "EVID": [1, 1, 1, 1, 0, 1, 0],
            "AMT": [40.0, 40.0, 40.0, 40.0, 0.0, 60.0, 0.0],
            "CMT": [2, 2, 2, 2, 5, 1, 5],
            "RATE": 0.0,
            "DV": [0, 0, 0, 0, 55.0, 0, 20.0],
            "MDV": [1, 1, 1, 1, 0, 1, 0],
            "weight": [70.0, 70, 70, 70, 70, 60, 60],
        }
    )


@pytest.mark.parametrize(
    ("column", "row", "value", "reported", "named"),
    [
        ("TIME", 3, -1.0, 3, "TIME"),  # negative time
        ("TIME", 2, 2.5, 3, "TIME"),  # unsorted: row 3 (2.0) after row 2 (2.5)
        ("CMT", 2, 9, 2, "CMT"),  # unknown compartment
        ("AMT", 5, 10.0, 5, "AMT"),  # AMT on an observation row
        ("ID", 2, np.nan, 2, "ID"),  # missing ID
        ("EVID", 2, 4, 2, "EVID"),  # unsupported event type
        ("AMT", 1, 0.0, 1, "AMT"),  # dose without amount
        ("RATE", 1, 5.0, 1, "RATE"),  # infusion
        ("CMT", 5, 1, 5, "CMT"),  # observation of a dosing compartment
        ("CMT", 1, 5, 1, "CMT"),  # dose into an observation compartment
        ("ID", 6, 1, 6, "ID"),  # ID 1 again after ID 2 started? (rows 6-7 become 1, 2)
        ("weight", 2, 80.0, 2, "weight"),  # time-varying covariate
        ("TIME", 2, 0.0, 2, "AMT"),  # second dose of the same drug at the same time
        ("ID", 1, 1.5, 1, "ID"),  # non-whole ID
        ("AMT", 1, "forty", 1, "AMT"),  # not a number
    ],
)
def test_bad_event_rows_name_row_and_column(column, row, value, reported, named):
    frame = _small_table()
    frame[column] = frame[column].astype(object if isinstance(value, str) else float)
    if column == "ID" and row == 6:
        frame.loc[6, "ID"] = 1  # last row: ID 2 then 1 -> non-contiguous ID 1
        reported = 7
    elif column == "TIME" and value == 0.0:
        frame.loc[row - 1, "TIME"] = value
        frame.loc[0, "TIME"] = value
    else:
        frame.loc[row - 1, column] = value
    with pytest.raises(DataError) as err:
        events.from_event_table(frame)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"event table row {reported}, column `{named}`:"), msg


def test_missing_required_column_is_named():
    with pytest.raises(DataError, match="no column `CMT`"):
        events.from_event_table(_small_table().drop(columns="CMT"))


def test_from_frame_individual_values_and_conditional_draws():
    params = pm.default_parameters()
    cohort = pd.DataFrame({"ID": [7, 9, 12], "weight": [55.0, 72.5, 90.0], "plt_base": [12, 25, 8]})
    pop = pm.Population.from_frame(cohort, params, seed=4)
    assert list(pop.ids) == [7, 9, 12]
    cov = pop.covariates()
    np.testing.assert_allclose(cov["weight"], cohort.weight, rtol=1e-12)
    np.testing.assert_allclose(cov["plt_base"], cohort.plt_base, rtol=1e-12)
    # the same seed draws the same missing effects; a different seed others
    again = pm.Population.from_frame(cohort, params, seed=4)
    other = pm.Population.from_frame(cohort, params, seed=5)
    assert np.array_equal(again.z["k_ab"], pop.z["k_ab"])
    assert not np.array_equal(other.z["k_ab"], pop.z["k_ab"])
    # a full cohort frame reproduces a sampled population exactly (no seed needed)
    sampled = pm.Population.sample(5, params, seed=2)
    back = pm.Population.from_frame(events.cohort_frame(sampled), params)
    for key in sampled.z:
        np.testing.assert_allclose(back.z[key], sampled.z[key], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("cohort", "message"),
    [
        ({"weight": [70.0], "wieght": [1.0]}, "cohort column `wieght` is not a random effect"),
        ({"weight": [70.0, -3.0]}, "cohort row 2, column `weight`"),
        ({"plt_base": [20.0, None]}, "cohort row 2, column `plt_base`: must be a finite"),
        ({"weight": ["heavy"]}, "cohort row 1, column `weight`: must be a finite"),
        ({"ID": [1, 1], "weight": [70.0, 60.0]}, "cohort row 2, column `ID`: patient 1"),
        ({"weight": [70.0], "z_weight": [0.0]}, "both `weight` and `z_weight`"),
        ({"weight": []}, "cohort table has no rows"),
    ],
)
def test_bad_cohort_rows(cohort, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(")) as err:
        pm.Population.from_frame(pd.DataFrame(cohort), seed=1)
    assert "\n" not in str(err.value)


def test_cohort_needs_seed_for_missing_effects():
    with pytest.raises(DataError, match="pass `seed`"):
        pm.Population.from_frame(pd.DataFrame({"weight": [70.0]}))


def test_to_frame_long_with_arm_and_covariates(trial):
    pop, _, res = trial
    long = res.to_frame(
        ["platelets", "antibody"], long=True, arm="A", covariates=events.cohort_frame(pop)
    )
    assert list(long.columns[:5]) == ["patient", "arm", "time", "observable", "value"]
    assert "weight" in long.columns
    assert len(long) == 2 * len(pop) * res.times.size
    wide = res.to_frame(["platelets"])
    pivot = long[long.observable == "platelets"].pivot(
        index="time", columns="patient", values="value"
    )
    assert np.allclose(pivot.to_numpy(), res["platelets"])
    assert wide.shape[0] == len(pop) * res.times.size and "platelets" in wide.columns


def test_write_table_csv_reads_plainly_with_sidecar(tmp_path, trial):
    _, _, res = trial
    frame = res.to_frame(["platelets"], long=True, arm="A")
    path = tmp_path / "out.csv"
    write_table(path, frame, {"scenario": "x", "seed": 3})
    back = pd.read_csv(path)
    assert list(back.columns) == list(frame.columns)
    assert len(back) == len(frame)
    meta = json.loads(metadata_path(path).read_text())
    assert meta["scenario"] == "x" and meta["seed"] == 3
    assert meta["url"] == "out.csv"


def test_parquet_round_trip_keeps_metadata(tmp_path, table):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "events.parquet"
    write_table(path, table, {"scenario": "pred+il11"})
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, table)
    meta = json.loads(pq.read_schema(path).metadata[b"pdmodel"])
    assert meta["scenario"] == "pred+il11"
    data = events.from_event_table(back)
    assert len(data.regimens) == table.ID.nunique()


# ---------------------------------------------------------------- command line
SCENARIO = Path(__file__).resolve().parents[1] / "examples" / "scenarios" / "prednisone.toml"


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_cli_trial_export_reads_back_into_the_same_histories(tmp_path: Path, capsys) -> None:
    exported = tmp_path / "wu.csv"
    assert main(["export", "nonmem", "--trial", "wu2016", "--n", "6", "--out", str(exported)]) == 0
    table = pd.read_csv(exported)  # no options
    assert list(table.columns[:9]) == list(events.EVENT_COLUMNS)
    assert set(table.ARM) == {"control", "observation"} and table.ID.nunique() == 12
    meta = json.loads(metadata_path(exported).read_text())
    assert meta["trial"].startswith("wu2016") and meta["columns"] == list(table.columns)
    back = tmp_path / "back.csv"
    code = main(["simulate", str(SCENARIO), "--events", str(exported), "--table", "nonmem",
                 "--out", str(back), "--quiet"])  # fmt: skip
    assert code == 0
    again = pd.read_csv(back)
    dose_cols = ["ID", "TIME", "AMT", "CMT"]
    pd.testing.assert_frame_equal(
        table[table.EVID == 1][dose_cols].reset_index(drop=True),
        again[again.EVID == 1][dose_cols].reset_index(drop=True),
    )
    assert (again.groupby("ID").ARM.first() == table.groupby("ID").ARM.first()).all()
    platelets = ["ID", "TIME", "DV"]
    a = table[(table.EVID == 0) & (table.CMT == 5)][platelets]
    b = again[(again.EVID == 0) & (again.CMT == 5)][platelets]
    both = a.merge(b, on=["ID", "TIME"], suffixes=("_trial", "_back"))
    assert len(both) == 12 * 121  # the scenario's 120 days
    # the same doses; the trial's course also had decision times without a dose (its rules),
    # which end the integrator's steps there: equal to the integration tolerance
    np.testing.assert_allclose(both.DV_back, both.DV_trial, rtol=1e-6)


@pytest.mark.parametrize("layout", ["wide", "long", "nonmem"])
def test_cli_simulate_cohort_tables_read_plainly(tmp_path: Path, layout: str, capsys) -> None:
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("ID,weight,plt_base\n3,60,12\n8,85,25\n")
    out = tmp_path / "sim.csv"
    code = main(["simulate", str(SCENARIO), "--cohort", str(cohort), "--table", layout,
                 "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    for csv in sorted(tmp_path.glob("*.csv")):
        assert not csv.read_text().startswith("#"), csv.name
    frame = pd.read_csv(out)
    first = {"wide": ["patient", "arm", "time", "platelets"],
             "long": ["patient", "arm", "time", "observable", "value", "weight", "plt_base"],
             "nonmem": [*events.EVENT_COLUMNS, "weight", "plt_base"]}[layout]  # fmt: skip
    assert list(frame.columns[: len(first)]) == first
    ids = frame["ID" if layout == "nonmem" else "patient"]
    assert sorted(ids.unique()) == [3, 8]
    if layout != "wide":
        weight = frame.groupby(ids).weight.first()
        np.testing.assert_allclose(weight.to_numpy(), [60.0, 85.0])
    endpoints = pd.read_csv(tmp_path / "sim-endpoints.csv")
    assert "initial_response" in endpoints.columns
    meta = json.loads(metadata_path(out).read_text())
    assert "cohort.csv" in meta["cohort"] and meta["patients"] == "2"


GOOD_EVENTS = "ID,TIME,EVID,AMT,CMT\n1,0,1,40,2\n1,1,1,40,2\n1,2,0,0,5\n2,0,1,60,1\n"

BAD_TABLES = [
    # (option, file content, expected start of the message after the file name)
    ("--events", GOOD_EVENTS.replace("1,1,1,40,2", "1,-1,1,40,2"), "event table row 2, column `TIME`"),
    ("--events", GOOD_EVENTS.replace("1,2,0,0,5", "1,0.5,0,0,5"), "event table row 3, column `TIME`"),
    ("--events", GOOD_EVENTS.replace("1,1,1,40,2", "1,1,1,40,9"), "event table row 2, column `CMT`"),
    ("--events", GOOD_EVENTS.replace("1,2,0,0,5", "1,2,0,3,5"), "event table row 3, column `AMT`"),
    ("--events", GOOD_EVENTS.replace("2,0,1,60,1", ",0,1,60,1"), "event table row 4, column `ID`"),
    ("--events", GOOD_EVENTS.replace("1,1,1,40,2", "1,1,1,40,5"), "event table row 2, column `CMT`"),
    ("--events", GOOD_EVENTS.replace("EVID,", "EVENT,"), "event table has no column `EVID`"),
    ("--cohort", "ID,weight,plt_base\n1,60,12\n2,-85,25\n", "cohort row 2, column `weight`"),
    ("--cohort", "ID,weight,plt_base\n1,60,12\n2,85,abc\n", "cohort row 2, column `plt_base`"),
    ("--cohort", "ID,weight,platelets\n1,60,12\n", "cohort column `platelets` is not a random"),
    ("--cohort", "ID,weight\n1,60\n1,70\n", "cohort row 2, column `ID`"),
]  # fmt: skip


@pytest.mark.parametrize(("option", "content", "message"), BAD_TABLES)
def test_cli_bad_table_is_one_line_exit_2_nothing_written(
    tmp_path: Path, capsys, option: str, content: str, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    before = _files(tmp_path)
    code = main(["simulate", str(SCENARIO), option, str(bad), "--out", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0, err
    assert err.startswith(f"pdmodel: error: {bad}: {message}"), err
    assert _files(tmp_path) == before  # nothing written


def test_cli_options_that_do_not_combine(tmp_path: Path, capsys) -> None:
    cohort = tmp_path / "c.csv"
    cohort.write_text("weight\n70\n")
    assert main(["simulate", str(SCENARIO), "--cohort", str(cohort), "--n", "4"]) == 2
    assert "--n cannot be combined" in capsys.readouterr().err
    assert main(["export", "nonmem", "--out", str(tmp_path / "x.csv")]) == 2
    assert "exactly one of --scenario" in capsys.readouterr().err
    assert main(["export", "params", "--trial", "wu2016", "--out", str(tmp_path / "p.json")]) == 2
    assert "--trial is an option of `export nonmem`" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "p.json").exists()


def test_cohort_antibody_status_conditions_the_effects_not_given():
    params = pm.calibrated_parameters()
    status = np.array([1, 0] * 60)
    cohort = pd.DataFrame({"plt_base": 15.0, "ab_positive": status})
    pop = pm.Population.from_frame(cohort, params, seed=3)
    res = pm.simulate(pop, pm.Regimen(), 1.0, observables=["ab_positive"])
    np.testing.assert_array_equal(res["ab_positive"][0], status)
    # the condition moves the clearance deviate: positives clear faster (exact rejection draw)
    assert pop.z["k_ab"][status == 1].mean() > pop.z["k_ab"][status == 0].mean() + 0.5
    np.testing.assert_allclose(pop.covariates()["plt_base"], 15.0)
    # same seed, same patients
    again = pm.Population.from_frame(cohort, params, seed=3)
    assert np.array_equal(again.z["ab_assay"], pop.z["ab_assay"])


def test_cohort_antibody_status_contradicted_by_every_given_value():
    params = pm.calibrated_parameters()
    full = events.cohort_frame(pm.Population.sample(4, params, seed=1))
    truth = pm.simulate(pm.Population.from_frame(full, params), pm.Regimen(), 1.0,
                        observables=["ab_positive"])["ab_positive"][0]  # fmt: skip
    full["ab_positive"] = 1 - truth
    with pytest.raises(DataError, match=r"cohort row 1, column `ab_positive`: the values given"):
        pm.Population.from_frame(full, params)
    full["ab_positive"] = 2
    with pytest.raises(DataError, match="must be 0 or 1"):
        pm.Population.from_frame(full, params)
