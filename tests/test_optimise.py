"""Regimen optimisation: bisection against a brute-force scan, enumeration against direct
simulations, costs against arithmetic, problem-file errors and the command."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import pdmodel as pm
from pdmodel.analysis import load_problem, optimise, problem_from_dict, regimen_costs
from pdmodel.cli import main
from pdmodel.errors import ScenarioError
from pdmodel.regimens import dexamethasone, il11, prednisone
from pdmodel.scenarios import endpoint_summary
from pdmodel.shipped import calibrated_parameters
from pdmodel.trials import entry_population

N = 80
DAYS = 42


def _problem(regimen: list[dict], target: dict | None = None, **extra) -> dict:
    data = {
        "optimise": {"days": DAYS, "costs": ["il11", "glucocorticoid", "days"]},
        "population": {"n": N, "seed": 3, "plt_max": 30.0},
        "regimen": regimen,
        **extra,
    }
    if target is not None:
        data["target"] = target
    return data


def _value(regimen: pm.Regimen, endpoint: str, by_day: float) -> float:
    """The endpoint of one regimen, simulated directly (no optimiser code)."""
    pop = entry_population(30.0, calibrated_parameters(), N, 3)
    res = pm.simulate(pop, regimen, DAYS, times=np.arange(DAYS + 1.0), progress=False)
    return endpoint_summary(res, DAYS, by_day)[endpoint]


def test_bisection_finds_the_least_dose_a_scan_finds():
    # a monotone dose-response: rhIL-11 added to low-dose prednisone, response by day 14
    target = 0.78
    data = _problem(
        [
            {"builder": "prednisone", "mg_per_kg": 0.5, "days": 14},
            {"builder": "il11", "ug_per_kg": {"min": 2.5, "max": 50.0, "step": 2.5}, "days": 14},
        ],
        {"endpoint": "initial_response", "at_least": target, "by_day": 14},
    )
    res = optimise(problem_from_dict(data))
    grid = np.arange(2.5, 50.0 + 1e-9, 2.5)
    scan = [_value(prednisone(mg_per_kg=0.5, days=14) + il11(ug_per_kg=float(x), days=14),
                   "initial_response", 14) for x in grid]  # fmt: skip
    assert np.all(np.diff(scan) >= 0), scan  # the case is monotone, as bisection assumes
    meets = np.flatnonzero(np.array(scan) >= target)
    assert 0 < meets[0] < len(grid) - 1, scan  # the answer is inside the range
    best = res.best
    assert best is not None
    assert best["regimen"].endswith(f"il11(ug_per_kg={grid[meets[0]]:g}, days=14)")
    assert best["value"] == pytest.approx(scan[meets[0]])
    # bisection needs far fewer simulations than the scan's 20
    assert res.evaluations <= 2 + int(np.ceil(np.log2(len(grid))))


def test_enumeration_ranks_every_combination_by_its_costs():
    data = _problem(
        [
            {"alternatives": [
                {"builder": "prednisone", "mg_per_kg": [0.5, 1.0], "days": 14},
                {"builder": "dexamethasone", "mg": 40.0, "days": 4, "cycles": [1, 2]},
            ]},
            {"builder": "il11", "optional": True, "ug_per_kg": [25.0], "days": 14},
        ],
        {"endpoint": "initial_response", "at_least": 0.5, "by_day": 14},
        optimise={"days": DAYS, "costs": ["glucocorticoid", "il11"]},
    )  # fmt: skip
    res = optimise(problem_from_dict(data))
    t = res.candidates
    assert len(t) == 4 * 2 == res.evaluations  # 4 glucocorticoid choices x with/without IL-11
    # each row's value is the direct simulation of its regimen
    direct = {
        "prednisone(mg_per_kg=1, days=14)": prednisone(mg_per_kg=1.0, days=14),
        "dexamethasone(mg=40, days=4, cycles=2)": dexamethasone(mg=40.0, days=4, cycles=2),
    }
    for text, reg in direct.items():
        assert t.loc[t["regimen"] == text, "value"].item() == pytest.approx(
            _value(reg, "initial_response", 14)
        )
    # ranked: those meeting the target first, by glucocorticoid then rhIL-11 (brute force)
    ok = t[t["meets"]]
    order = ok.sort_values(["glucocorticoid", "il11"], kind="stable")
    assert list(ok["regimen"]) == list(order["regimen"])
    assert list(ok["rank"]) == list(range(1, len(ok) + 1))
    assert t.loc[~t["meets"], "rank"].isna().all()
    assert all(t.loc[~t["meets"], "value"] < 0.5)


def test_costs_are_the_doses_given():
    pop = entry_population(30.0, calibrated_parameters(), 40, 2)
    weight = pop.individuals().weight
    reg = prednisone(mg_per_kg=1.0, days=14) + dexamethasone(mg=40.0, days=4)
    reg = reg + il11(ug_per_kg=25.0, days=10)
    res = pm.simulate(pop, reg, 30, progress=False)
    c = regimen_costs(res)
    # dexamethasone 0.75 mg ~ prednisone 5 mg (Liu 2013, table 1)
    assert c["glucocorticoid"] == pytest.approx(14 * weight.mean() + 4 * 40 * 5 / 0.75)
    assert c["il11"] == pytest.approx(10 * 25e-3 * weight.mean())
    assert c["days"] == pytest.approx(14)
    # a stop rule: fewer doses, smaller cost
    stop = pm.simulate(pop, il11(ug_per_kg=25.0, days=14, stop_if_platelets_above=50.0),
                       30, progress=False)  # fmt: skip
    assert regimen_costs(stop)["il11"] < 14 * 25e-3 * weight.mean()


def test_objective_picks_the_best_value_and_breaks_ties_by_cost():
    data = _problem(
        [{"builder": "dexamethasone", "mg": 40.0, "days": 4, "cycles": [1, 2, 3]}],
        objective={"endpoint": "complete_response", "maximise": True, "by_day": 28},
        optimise={"days": DAYS, "costs": ["glucocorticoid"]},
    )
    res = optimise(problem_from_dict(data))
    t = res.candidates
    half = 0.5 / N
    assert t["value"].iloc[0] >= t["value"].max() - half
    tied = t[t["value"] >= t["value"].max() - half]
    assert res.best["glucocorticoid"] == tied["glucocorticoid"].min()


def test_draws_report_the_probability_of_meeting_the_target(tmp_path, capsys):
    problem = tmp_path / "p.toml"
    problem.write_text(
        f"[optimise]\ndays = {DAYS}\ncosts = ['glucocorticoid']\n"
        "[target]\nendpoint = 'initial_response'\nat_least = 0.5\nby_day = 14\n"
        f"[population]\nn = {N}\nseed = 3\n"
        "[[regimen]]\nbuilder = 'prednisone'\nmg_per_kg = [0.5, 1.0]\ndays = 14\n"
        "[[regimen]]\nbuilder = 'il11'\noptional = true\nug_per_kg = [25.0]\n"
    )
    out = tmp_path / "o.csv"
    argv = ["optimise", str(problem), "--draws", "3", "--runners-up", "1", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "under 3 parameter draws" in printed and "p_meets" in printed
    table = pd.read_csv(out)
    u = pd.read_csv(tmp_path / "o-uncertainty.csv")
    assert len(table) == 4 and (tmp_path / "o.png").stat().st_size > 0
    assert list(u["rank"]) == [1, 2] and u["draws"].eq(3).all()
    assert u["p_meets"].between(0, 1).all()
    assert (u["value_q0.025"] <= u["value_median"]).all()
    assert (u["value_median"] <= u["value_q0.975"]).all()
    # the same command gives the same answer (seeded patients and draws)
    first = u.copy()
    assert main([*argv, "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "o-uncertainty.csv"), first)


BAD = [
    ({"typo": 1}, "`typo`"),
    ({"target": {"endpoint": "initial_response", "at_least": 0.5},
      "objective": {"endpoint": "initial_response", "maximise": True}}, "give one of [target]"),
    ({"target": {"endpoint": "nonsense", "at_least": 0.5}}, "`endpoint`: use one of"),
    ({"target": {"endpoint": "initial_response"}}, "give one of `at_least` or `at_most`"),
    ({"target": {"endpoint": "initial_response", "at_least": 0.5, "by_day": 99}}, "`by_day`"),
    ({"regimen": [{"builder": "il11", "ug_per_kg": {"min": 5, "max": 50},
                   "days": {"min": 5, "max": 14}}]}, "only one argument may be a continuous"),
    ({"regimen": [{"builder": "il11", "ug_per_kg": {"min": 50, "max": 5}}]}, "needs min < max"),
    ({"regimen": [{"builder": "il11", "ug_per_kg": []}]}, "an empty list"),
    ({"regimen": [{"ug_per_kg": 5}]}, "needs a `builder`"),
    ({"regimen": [{"builder": "il11", "dose": 5}]}, "dose"),
    ({"optimise": {"costs": ["money"]}}, "`optimise.costs`"),
    ({"population": {"n": 0}}, "population.n"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_problems_are_refused_naming_the_key(change, message):
    data = _problem([{"builder": "il11", "ug_per_kg": [25.0]}],
                    {"endpoint": "initial_response", "at_least": 0.5})  # fmt: skip
    data.update(change)
    with pytest.raises(ScenarioError, match=re.escape(message)):
        problem_from_dict(data, "p.toml")


def test_problem_file_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[target]\nendpoint = 'initial_response'\nat_least = 0.8\n[[regimen]]\n"
                   "builder = 'il11'\nug_per_kg = {min = 5, max = 50}\n"
                   "[objective]\nendpoint = 'x'\n")  # fmt: skip
    with pytest.raises(ScenarioError, match=r"bad\.toml"):
        load_problem(bad)
    assert main(["optimise", str(bad), "--out", str(tmp_path / "o.csv")]) == 2
    assert "bad.toml" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_the_shipped_example_problem_parses():
    p = load_problem("examples/problems/response_by_day14.toml")
    assert p.goal == "initial_response >= 0.8 by day 14"
    assert p.costs == ("glucocorticoid", "il11", "days")
