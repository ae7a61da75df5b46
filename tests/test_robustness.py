"""Nothing silently wrong, nothing half-written, nothing overwritten (robustness issue).

Every case: one line on stderr, the stated exit code, no new files, existing files unchanged.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pdmodel as pm
from pdmodel import io as pio
from pdmodel.cli import main
from pdmodel.errors import CalibrationError, ParameterError, PopulationError, RegimenError

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"
POP = str(SCENARIOS / "prednisone.toml")
PATIENT = str(SCENARIOS / "il11_stop_rule.toml")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _fails(capsys, argv: list[str], folder: Path, code: int = 2, contains: str = "") -> str:
    before = _snapshot(folder)
    assert main(argv) == code
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("pdmodel: "), err
    assert contains in err, err
    assert _snapshot(folder) == before, "files were written or changed"
    return err


# ------------------------------------------------------------------ outputs checked up front
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--figure", "f.xyz"], "matplotlib cannot write .xyz"),
        (["--figure", "f"], "without an extension"),
        (["--figure", "f.csv"], "matplotlib cannot write .csv"),
        (["--out", "x.csv", "--figure", "x.csv"], "cannot write .csv"),
        (["--out", "x.png"], "a table file ends in .csv or .parquet"),
        (["--out", "afile/x.csv"], "afile is a file, not a folder"),
        (["--out", "s.toml"], "a table file ends in"),
        (["--n", "3", "--stream", "--out", "x.csv"], "--stream writes Parquet"),
    ],
)
def test_simulate_bad_outputs(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "s.toml").write_text(Path(POP).read_text())
    _fails(capsys, ["simulate", POP, "--n", "3", *extra], tmp_path, contains=message)


def test_output_onto_an_input_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine.csv"
    mine.write_text(Path(POP).read_text())  # a scenario named .csv
    _fails(capsys, ["simulate", str(mine), "--n", "3", "--out", str(mine)], tmp_path,
           contains="is an input of the command")  # fmt: skip
    cohort = tmp_path / "c.csv"
    cohort.write_text("weight\n70\n")
    _fails(capsys, ["simulate", POP, "--cohort", str(cohort), "--out", str(cohort)], tmp_path,
           contains="is an input of the command")  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--vary", "il11.ug_per_kg=,,"], "no values after `=`"),
        (["--vary", "scenario.days=20", "--vary", "scenario.days=30"], "is given twice"),
        (["--vary", "scenario.days=20", "--out", "x.parquet"], "a table file ends in .csv"),
        (["--vary", "scenario.days=20", "--figure", "f.txt"], "matplotlib cannot write .txt"),
    ],
)
def test_sweep_bad_options(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    _fails(capsys, ["sweep", POP, "--n", "3", *extra], tmp_path, contains=message)


def test_options_that_do_not_apply(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _fails(capsys, ["simulate", PATIENT, "--n", "100"], tmp_path, contains="--n does not apply")
    _fails(capsys, ["sweep", PATIENT, "--n", "5", "--vary", "scenario.days=10"], tmp_path,
           contains="--n does not apply")  # fmt: skip
    _fails(capsys, ["fit", "wei2016_prednisone", "wei2016_prednisone", "--out",
                    str(tmp_path / "f.json")], tmp_path, contains="is given twice")  # fmt: skip


def test_reproduce_under_a_file_fails_before_any_work(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    t0 = time.perf_counter()
    _fails(capsys, ["reproduce", "--n", "2000", "--out", str(tmp_path / "afile" / "sub")],
           tmp_path, contains="is a file, not a folder")  # fmt: skip
    assert time.perf_counter() - t0 < 5, "the check must come before the simulation"


def test_read_only_location_fails_before_any_work(tmp_path, capsys, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(pio.tempfile, "TemporaryFile", read_only)
    for argv in (
        ["simulate", POP, "--n", "3", "--out", str(tmp_path / "x.csv")],
        ["reproduce", "--n", "2000", "--out", str(tmp_path / "r")],
        ["validate", "--n", "2000", "--out", str(tmp_path / "v")],
        ["fit", "--n", "300", "--out", str(tmp_path / "f.json")],
    ):
        t0 = time.perf_counter()
        _fails(capsys, argv, tmp_path, contains="Read-only file system")
        assert time.perf_counter() - t0 < 5, argv


# ------------------------------------------------------------------ all or nothing
def test_full_disk_during_reproduce_leaves_the_previous_run(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    assert main(["reproduce", "--n", "10", "--joint", "0", "--quiet", "--out", str(out)]) == 0
    before = _snapshot(tmp_path)
    calls = {"n": 0}
    original = pio.OutputSet.text

    def full(self, name, content):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path(name)))
        return original(self, name, content)

    monkeypatch.setattr(pio.OutputSet, "text", full)
    assert main(["reproduce", "--n", "12", "--joint", "0", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "No space left on device" in err
    assert _snapshot(tmp_path) == before  # the earlier set is intact, no temporary files


def test_rerun_replaces_the_whole_set(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["reproduce", "--n", "10", "--joint", "0", "--quiet", "--out", str(out)]
    assert main([*args, "--bands", "2"]) == 0
    assert (out / "bands.csv").exists()
    (out / "notes.txt").write_text("mine")  # not pdmodel's: kept
    assert main(args) == 0
    assert not (out / "bands.csv").exists()
    assert (out / "notes.txt").read_text() == "mine"


def test_outputs_get_umask_permissions(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        out = tmp_path / "x.csv"
        out.write_text("old")
        out.chmod(0o644)
        assert main(["simulate", POP, "--n", "3", "--out", str(out), "--quiet"]) == 0
    finally:
        os.umask(old)
    for p in tmp_path.iterdir():
        assert p.stat().st_mode & 0o777 == 0o644, p.name


def test_keyboard_interrupt_is_one_line_exit_130(capsys, monkeypatch):
    from pdmodel import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli._COMMANDS, "params", interrupted)
    assert main(["params"]) == 130
    assert capsys.readouterr().err == "pdmodel: interrupted\n"


def test_sigint_to_a_running_reproduce(tmp_path):
    out = tmp_path / "r"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pdmodel", "reproduce", "--n", "20000", "--quiet", "--out",
         str(out)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(8)  # imported and simulating
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip() == "pdmodel: interrupted"
    assert not out.exists()


# ------------------------------------------------------------------ strict inputs
def _params_file(tmp_path: Path, text: str | bytes, name: str = "p.json") -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"parameters": {"k_ab": 0.5, "k_ab": 0.6}}', "duplicate key `k_ab`"),
        ('{"parameters": {"k_ab": {"value": 0.5, "unti": "1/h"}}}', "did you mean `unit`"),
        ('{"parameters": {"k_ab": {"value": 0.5, "lower": 0.2}}}', "bounds and priors come"),
        ('{"parameters": {"k_ab": {"value": 0.5, "prior": "fixed"}}}', "has `prior`"),
        ('{"format_version": 99, "parameters": {}}', "`format_version` 99"),
        ('{"paramaters": {}, "parameters": {}}', "unknown key `paramaters`"),
        ('{"parameters": ' * 5000 + "{}" + "}" * 5000, "nested too deeply"),
        (
            '{"parameters": {"k_ab": {"value": 0.5, "description": "caf\u00e9"}}}'.encode(
                "latin-1"
            ),
            "not UTF-8 text",
        ),  # Latin-1, not UTF-8
        ('{"parameters": {"k_ab": 0.5}}'.encode("latin-1") + b"\xe9", "not UTF-8 text"),
        (bytes(range(256)), "not UTF-8 text"),
    ],
)
def test_parameter_files_are_strict(tmp_path, content, message):
    with pytest.raises(ParameterError, match=message):
        pm.load_parameters(_params_file(tmp_path, content))


def test_byte_order_marks_are_accepted(tmp_path):
    bom = "\ufeff"
    js = pm.load_parameters(_params_file(tmp_path, bom + '{"parameters": {"k_ab": 0.5}}'))
    csv = pm.load_parameters(_params_file(tmp_path, bom + "name,value\nk_ab,0.5\n", "p.csv"))
    assert js["k_ab"] == csv["k_ab"] == 0.5
    sc = tmp_path / "s.toml"
    sc.write_text(bom + Path(POP).read_text(), encoding="utf-8")
    from pdmodel.scenarios import load_scenario

    assert load_scenario(sc).n == 500


def test_cli_names_the_file_of_a_binary_parameter_file(tmp_path, capsys):
    bad = _params_file(tmp_path, bytes(range(256)))
    err = _fails(capsys, ["params", "--params", bad], tmp_path)
    assert bad in err and "not UTF-8 text" in err


def _fit_body(tmp_path: Path, edit) -> str:
    shipped = Path(pm.__file__).parent / "data" / "calibrated.json"
    body = json.loads(shipped.read_text())
    edit(body)
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(body))
    return str(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b["parameters"]["k_ab"].__setitem__("stderr", -0.1), "a standard error is >= 0"),
        (lambda b: b["fit"]["correl"][0].__setitem__(2, 5.0), "a correlation lies in"),
        (lambda b: b["fit"]["correl"][0].__setitem__(2, None), "a correlation lies in"),
        (lambda b: b["fit"]["correl"][0].__setitem__(0, "pred_ka"), "not a free parameter"),
    ],
)
def test_fit_files_are_checked(tmp_path, edit, message):
    from pdmodel.calibration import load_fit

    with pytest.raises(CalibrationError, match=message):
        load_fit(_fit_body(tmp_path, edit))


def test_plausibility_limits():
    params = pm.default_parameters()
    with pytest.raises(PopulationError, match="65 SD from the model's distribution"):
        pm.Population.patient(params, weight=1e6)
    with pytest.raises(PopulationError, match="SD from the model's distribution"):
        pm.Population.patient(params, plt_base=1e6)
    for threshold in (0, -1):
        with pytest.raises(RegimenError, match="rule threshold must be positive"):
            pm.regimens.il11(ug_per_kg=50, days=14, stop_if_platelets_above=threshold)
    with pytest.raises(PopulationError, match=r"needs about .* of memory"):
        pm.Population.sample(10**12, params, seed=1)


def test_huge_population_in_a_scenario_is_one_line(tmp_path, capsys):
    sc = tmp_path / "big.toml"
    sc.write_text(Path(POP).read_text().replace("n = 500", "n = 1000000000000"))
    _fails(capsys, ["simulate", str(sc), "--out", str(tmp_path / "o.csv")], tmp_path,
           contains="of memory")  # fmt: skip


def test_fit_report_flags_estimates_at_a_bound():
    import dataclasses

    from pdmodel.shipped import shipped_fit

    shipped = shipped_fit()
    # an estimate put at 0.9996 of its upper bound 1 (the refitted shipped set has none there)
    fit = dataclasses.replace(shipped, params=shipped.params.replace(gc_imax_mk=0.9996))
    bound = fit.at_bound()
    assert bound == {"gc_imax_mk": "upper"}
    assert "AT UPPER BOUND" in fit.report()
    assert fit.parameter_table().set_index("parameter").loc["gc_imax_mk", "at_bound"] == "upper"
    # on the log scale only the bound's own neighbourhood counts: gc_ec50_hi in [5, 20000] at
    # 15, three times its lower bound, is not at it (0.1% of the range, 20, had flagged it)
    low = fit.params.table["gc_ec50_hi"].lower
    above = dataclasses.replace(fit, params=fit.params.replace(gc_ec50_hi=3 * low))
    assert "gc_ec50_hi" not in above.at_bound()
    at_low = dataclasses.replace(fit, params=fit.params.replace(gc_ec50_hi=low * 1.0005))
    assert at_low.at_bound()["gc_ec50_hi"] == "lower"


def test_endpoints_on_less_than_a_day_name_file_and_key(tmp_path, capsys):
    sc = tmp_path / "e.toml"
    sc.write_text(
        "[scenario]\ndays = 0.5\nendpoints = true\n[population]\nn = 3\n"
        '[[regimen]]\nbuilder = "il11"\nug_per_kg = 50\ndays = 1\n'
    )
    _fails(capsys, ["simulate", str(sc), "--out", str(tmp_path / "e.csv")], tmp_path,
           contains=f"{sc}: `scenario.days`: endpoints are scored on daily counts")  # fmt: skip


def test_messages_name_options_not_python_arguments(tmp_path, capsys):
    err = _fails(capsys, ["export", "params", "--out", str(tmp_path / "p.txt")], tmp_path)
    assert "fmt=" not in err and ".json or .csv" in err


def test_patient_table_is_checked_when_the_scenario_is_read(tmp_path):
    from pdmodel.scenarios import ScenarioError, load_scenario

    sc = tmp_path / "p.toml"
    sc.write_text(Path(PATIENT).read_text().replace("[patient]", "[patient]\nwieght = 70", 1))
    with pytest.raises(ScenarioError, match=r"`patient`.*wieght"):
        load_scenario(sc)


def test_dose_plausibility_limits_from_the_drug_table():
    for build, message in (
        (lambda: pm.regimens.prednisone(mg_per_kg=1e6), "limit 20 mg/kg"),
        (lambda: pm.regimens.il11(ug_per_kg=1e7), "limit 750 ug/kg"),
        (lambda: pm.regimens.dexamethasone(mg=40000), "limit 1050 mg"),
    ):
        with pytest.raises(RegimenError, match=message):
            build()
    # the doses in use pass
    pm.regimens.dexamethasone(mg=40) + pm.regimens.il11(ug_per_kg=75)
    pm.regimens.prednisone(mg_per_kg=2.0, days=28)


def test_inconsistent_correlations_are_refused_before_drawing():
    import dataclasses

    from pdmodel.calibration import posterior_draws
    from pdmodel.shipped import shipped_fit

    fit = shipped_fit()
    a, b, c = fit.free[:3]
    bad = {**fit.correl}
    for (x, y), r in (((a, b), 0.99), ((b, c), 0.99), ((a, c), -0.99)):
        bad[(x, y)] = bad[(y, x)] = r  # each in [-1, 1], together impossible
    with pytest.raises(CalibrationError, match="not positive semi-definite"):
        posterior_draws(dataclasses.replace(fit, correl=bad), 3, seed=1)


def test_fit_and_export_never_write_over_their_inputs(tmp_path, capsys):
    params = tmp_path / "p.json"
    pm.save_parameters(pm.default_parameters(), params)
    _fails(capsys, ["export", "params", "--params", str(params), "--out", str(params)], tmp_path,
           contains="is an input of the command")  # fmt: skip
    _fails(capsys, ["fit", "--params", str(params), "--out", str(params)], tmp_path,
           contains="is an input of the command")  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", POP, "--n", "3", "--out", "{d}/s.csv"],
        ["sweep", POP, "--n", "3", "--vary", "scenario.days=20,30", "--out", "{d}/w.csv"],
        ["validate", "--n", "10", "--quiet", "--out", "{d}/v"],
        [
            "fit",
            "wei2016_prednisone",
            "--free",
            "k_ab",
            "--n",
            "20",
            "--max-nfev",
            "2",
            "--quiet",
            "--out",
            "{d}/f.json",
        ],
    ],
    ids=["simulate", "sweep", "validate", "fit"],
)
def test_full_disk_leaves_nothing_in_each_writing_command(tmp_path, capsys, monkeypatch, argv):
    """ENOSPC on the second staged file: no output, no temporary file, exit 2, one line."""
    calls = {"n": 0}
    original = pio.OutputSet.write

    def full(self, name, writer):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path(name)))
        return original(self, name, writer)

    monkeypatch.setattr(pio.OutputSet, "write", full)
    _fails(capsys, [a.replace("{d}", str(tmp_path)) for a in argv], tmp_path,
           contains="No space left on device")  # fmt: skip
    assert calls["n"] == 2
    assert list(tmp_path.iterdir()) == []  # not even an empty folder


def test_a_refused_command_creates_no_default_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _fails(capsys, ["simulate", POP, "--n", "3", "--figure", "f.xyz"], tmp_path,
           contains="matplotlib cannot write")  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_bands_say_which_parameters_have_no_standard_error(tmp_path, capsys):
    fit_file = _fit_body(tmp_path, lambda b: b["parameters"]["k_ab"].__setitem__("stderr", None))
    args = ["reproduce", "--n", "10", "--joint", "0", "--bands", "2", "--params", fit_file]
    assert main([*args, "--out", str(tmp_path / "r")]) == 0
    assert "note: k_ab has no standard error in the fit" in capsys.readouterr().out
