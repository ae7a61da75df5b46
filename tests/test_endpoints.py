"""Endpoints on hand-built trajectories with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from pdmodel.endpoints import EndpointConfig, patient_endpoints, sampling_days, sustained
from pdmodel.errors import OptionError

DAYS = np.arange(0.0, 181.0)


def traj(*segments: tuple[float, float, float]) -> np.ndarray:
    """Piecewise-constant platelet trajectory: (from_day, to_day, value) segments."""
    x = np.full(DAYS.size, 10.0)
    for a, b, v in segments:
        x[(DAYS >= a) & (DAYS < b)] = v
    return x


def run(cols: list[np.ndarray], cfg: EndpointConfig, course=None) -> dict[str, np.ndarray]:
    plt = np.stack(cols, axis=1)
    course = np.zeros(plt.shape[1]) if course is None else course
    return patient_endpoints(plt, DAYS, cfg, course)


IWG = EndpointConfig(
    sampling=((0, 14, 1), (14, 180, 7)), response_window=56, grading="iwg2009",
    effective_grades=("CR", "R"),
)  # fmt: skip


def test_never_responds() -> None:
    out = run([traj((0, 181, 12.0))], IWG)
    assert out["initial_response"][0] == 0 and out["complete_response"][0] == 0
    assert np.isnan(out["onset_time"][0]) and np.isnan(out["recurrence_rate"][0])
    assert out["sustained_response"][0] == 0
    assert out["effective_degree"][0] == 2  # NR
    assert out["peak_platelets"][0] == 12.0


def test_responds_then_relapses() -> None:
    # baseline 10; >= 30 from day 5 to day 39 (sampled daily, then days 14, 21, 28, 35), relapse by 42
    out = run([traj((5, 40, 35.0))], IWG)
    assert out["initial_response"][0] == 1 and out["onset_time"][0] == 5.0
    assert out["recurrence_rate"][0] == 1 and out["sustained_response"][0] == 0
    assert out["effective_degree"][0] == 1  # R


def test_responds_on_last_sampling_day_of_window() -> None:
    # day 56 is a sampling day (14 + 6 x 7) and the last day of the response window
    out = run([traj((56, 181, 120.0))], IWG)
    assert out["onset_time"][0] == 56.0 and out["complete_response"][0] == 1
    assert out["sustained_response"][0] == 1 and out["recurrence_rate"][0] == 0
    # one sample later is outside the window
    late = run([traj((57, 181, 120.0))], IWG)
    assert late["initial_response"][0] == 0 and np.isnan(late["onset_time"][0])


def test_doubling_needed_for_iwg_r() -> None:
    # baseline 20: 35 is >= 30 but not >= 2 x 20
    out = run([traj((0, 1, 20.0), (1, 181, 35.0))], IWG)
    assert out["initial_response"][0] == 0


def test_sampling_schedule_changes_onset() -> None:
    x = traj((17, 181, 40.0))  # response from day 17
    daily = EndpointConfig(sampling=((0, 180, 1),), grading="iwg2009", effective_grades=("R",))
    weekly = EndpointConfig(sampling=((0, 180, 7),), grading="iwg2009", effective_grades=("R",))
    assert run([x], daily)["onset_time"][0] == 17.0
    assert run([x], weekly)["onset_time"][0] == 21.0


def test_chinese_grading_needs_sustained_counts() -> None:
    cfg = EndpointConfig(
        grading="cn_national", effective_grades=("markedly effective", "good effect")
    )
    cols = [
        traj((7, 181, 110.0)),  # >= 100 for more than 84 days: markedly effective
        traj((7, 60, 110.0)),  # >= 100 only ~7 weeks, >= 50 too short for 56 d: progress
        traj((7, 100, 60.0)),  # >= 50 for > 56 days: good effect
        traj((0, 181, 12.0)),  # ineffective
    ]
    out = run(cols, cfg)
    assert out["effective_degree"].tolist() == [0, 2, 1, 3]
    assert out["total_effective_rate"].tolist() == [1, 0, 1, 0]


def test_recovery_course_and_immune_changes() -> None:
    cfg = EndpointConfig(recovery_day=14, after_day=28)
    plt = np.stack([traj((10, 181, 55.0))], axis=1)
    ab = np.zeros_like(plt)
    ab[0] = 1.0
    cd25 = np.linspace(15.0, 10.0, DAYS.size)[:, None]
    treg = np.full_like(plt, 4.0)
    out = patient_endpoints(
        plt, DAYS, cfg, np.array([42.0]), ab_positive=ab, cd4cd25=cd25, treg=treg
    )
    assert out["recovery_level"][0] == 55.0 and out["treatment_course"][0] == 42.0
    assert out["ab_positive_before"][0] == 1 and out["ab_positive_after"][0] == 0
    assert out["cd4cd25_change"][0] == pytest.approx(cd25[28, 0] - 15.0)
    assert out["treg_change"][0] == 0.0


def test_sustained_helper() -> None:
    days = np.array([0.0, 7, 14, 21, 28])
    mask = np.array([[0, 1, 1], [1, 1, 1], [1, 0, 1], [1, 1, 0], [0, 1, 0]], dtype=bool)
    assert sustained(mask, days, 14, 28).tolist() == [True, False, True]
    assert sustained(mask, days, 7, 28).tolist() == [True, True, True]
    assert sustained(mask, days, 15, 28).tolist() == [False, False, False]
    assert sustained(mask, days, 14, 0).tolist() == [False, False, True]


def test_sampling_days_and_config_errors() -> None:
    cfg = EndpointConfig(
        sampling=((0, 3, 1), (3, 10, 7)),
        followup=12,
        response_window=12,
        recovery_day=5,
        after_day=5,
    )
    assert sampling_days(cfg).tolist() == [0, 1, 2, 3, 12]  # stops are exclusive
    with pytest.raises(OptionError, match="unknown grading"):
        EndpointConfig(grading="who")
    with pytest.raises(OptionError, match="are not grades of"):
        EndpointConfig(effective_grades=("cured",))
    with pytest.raises(OptionError, match="`recovery_day` must lie within"):
        EndpointConfig(recovery_day=200)
    with pytest.raises(OptionError, match="whole days"):
        EndpointConfig(sampling=((0, 3, 0.5),))
    with pytest.raises(OptionError, match="invalid sampling segment"):
        EndpointConfig(sampling=((5, 3, 1),))
    with pytest.raises(OptionError, match="not among the simulated days"):
        patient_endpoints(np.ones((3, 1)), np.arange(3.0), EndpointConfig(), np.zeros(1))


def test_three_level_chinese_grading() -> None:
    cfg = EndpointConfig(grading="cn3", effective_grades=("markedly effective", "effective"))
    cols = [traj((21, 22, 105.0)), traj((3, 5, 45.0)), traj((3, 5, 55.0)), traj((0, 181, 12.0))]
    out = run(cols, cfg)
    # 105 on sampling day 21 only: markedly; 45 = baseline 10 + 35 >= 30 rise: effective; 55: effective; none
    assert out["effective_degree"].tolist() == [0, 1, 1, 2]
    assert out["total_effective_rate"].tolist() == [1, 1, 1, 0]


@pytest.mark.parametrize("smooth", [False, True])
def test_confirmed_loss_of_response(smooth: bool) -> None:
    import dataclasses

    from pdmodel.endpoints import smooth_patient_endpoints

    confirm = dataclasses.replace(IWG, relapse_confirm_days=1.0)
    cols = [
        traj((3, 181, 60.0), (8, 9, 12.0)),  # one daily count lost (day 8): not confirmed
        traj((3, 181, 60.0), (8, 10, 12.0)),  # days 8-9 lost, but day 10 (> 1 day later) is not
        traj((3, 181, 60.0), (8, 11, 12.0)),  # days 8, 9, 10 lost: confirmed
        traj((3, 180, 60.0)),  # lost only on the last sampling day (180): cannot be confirmed
        traj((3, 30, 60.0)),  # weekly counts from day 35 on all lost: confirmed
    ]

    def recurrence(cfg: EndpointConfig) -> np.ndarray:
        if not smooth:
            return run(cols, cfg)["recurrence_rate"]
        plt = np.stack(cols, axis=1)
        v, w, _ = smooth_patient_endpoints(plt, DAYS, cfg, np.zeros(plt.shape[1]), width=1e-8)[
            "recurrence_rate"
        ]
        return np.where(w > 0, v, np.nan)

    np.testing.assert_array_equal(recurrence(IWG), [1, 1, 1, 1, 1])
    np.testing.assert_array_equal(recurrence(confirm), [0, 0, 1, 0, 1])
    with pytest.raises(OptionError, match="relapse_confirm_days"):
        dataclasses.replace(IWG, relapse_confirm_days=-1.0)


@pytest.mark.parametrize("smooth", [False, True])
def test_confirmed_response(smooth: bool) -> None:
    import dataclasses

    from pdmodel.endpoints import smooth_patient_endpoints

    confirm = dataclasses.replace(IWG, response_confirm_days=7.0)
    cols = [
        traj((3, 8, 60.0)),  # >= 30 on days 3-7 only: not confirmed 7 days later
        traj((3, 11, 60.0)),  # days 3-10: confirmed (day 10 is 7 days after day 3)
        traj((10, 30, 120.0)),  # from day 10: needs day 21 (next count >= 17): confirmed CR
        traj((10, 20, 120.0)),  # from day 10 but gone by day 21: not confirmed
        traj((50, 181, 60.0)),  # from day 50 (weekly: 49, 56, 63): first day 56 in the window
    ]

    def endpoint(cfg: EndpointConfig, name: str) -> np.ndarray:
        plt = np.stack(cols, axis=1)
        if not smooth:
            return run(cols, cfg)[name]
        v, w, _ = smooth_patient_endpoints(plt, DAYS, cfg, np.zeros(plt.shape[1]), width=1e-8)[name]
        return np.where(w > 0, v, np.nan)

    np.testing.assert_array_equal(endpoint(IWG, "initial_response"), [1, 1, 1, 1, 1])
    np.testing.assert_array_equal(endpoint(confirm, "initial_response"), [0, 1, 1, 0, 1])
    np.testing.assert_array_equal(endpoint(confirm, "complete_response"), [0, 0, 1, 0, 0])
    # a loss after a confirmed response is still a recurrence; unconfirmed ones have none
    rec = endpoint(confirm, "recurrence_rate")
    assert rec[1] == 1 and rec[2] == 1 and rec[4] == 0 and np.isnan(rec[0])
    with pytest.raises(OptionError, match="response_confirm_days"):
        dataclasses.replace(IWG, response_confirm_days=float("nan"))


def test_endpoint_numbers_must_be_numbers() -> None:
    import dataclasses

    with pytest.raises(
        OptionError, match=r"`response_confirm_days` must be a number, got 'a week'"
    ):
        dataclasses.replace(IWG, response_confirm_days="a week")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="`followup` must be a number"):
        dataclasses.replace(IWG, followup=True)


def test_smooth_onset_moments_are_those_over_offsets() -> None:
    """Smooth onset time: mean and SD over patients *and* logistic offsets (law of total
    variance), checked against the hard endpoint on offset-shifted counts."""
    import dataclasses

    from pdmodel.endpoints import smooth_patient_endpoints, summarise_smooth

    cfg = dataclasses.replace(IWG, onset_fold=0.0)  # the level alone: an offset scales counts
    rng = np.random.default_rng(4)
    # 60 patients whose counts rise exponentially from 10, at different days and rates
    start, rate = rng.uniform(0.0, 30.0, 60), rng.uniform(0.02, 0.2, 60)
    plt = 10.0 * np.exp(np.clip(DAYS[:, None] - start, 0.0, None) * rate)
    width = 0.3
    e = smooth_patient_endpoints(plt, DAYS, cfg, np.zeros(plt.shape[1]), width=width)["onset_time"]
    assert e.within is not None and np.all(e.within >= 0) and e.within.max() > 1.0
    smooth = summarise_smooth(e.value, e.weight, "continuous", e.within)
    # Monte Carlo over offsets: the hard endpoint on counts divided by exp(offset)
    k = 400
    offsets = rng.logistic(0.0, width, (1, k * plt.shape[1]))
    shifted = np.repeat(plt, k, axis=1) * np.exp(-offsets)
    hard = patient_endpoints(shifted, DAYS, cfg, np.zeros(shifted.shape[1]))["onset_time"]
    hard = hard[np.isfinite(hard)]
    assert smooth.value == pytest.approx(hard.mean(), abs=4 * hard.std() / np.sqrt(hard.size))
    assert smooth.sd == pytest.approx(hard.std(), rel=0.02)
    # without the within-patient part the SD is too small
    between = summarise_smooth(e.value, e.weight, "continuous")
    assert between.sd < 0.9 * hard.std()


def test_levels_and_folds_are_validated() -> None:
    import dataclasses

    for key, bad in (("onset_level", 0.0), ("relapse_level", -30.0), ("onset_level", np.inf)):
        with pytest.raises(OptionError, match=f"`{key}` must be a platelet count > 0"):
            dataclasses.replace(IWG, **{key: bad})
    for key, bad in (("onset_fold", -1.0), ("relapse_fold", np.nan)):
        with pytest.raises(OptionError, match=f"`{key}` must be a multiple of baseline >= 0"):
            dataclasses.replace(IWG, **{key: bad})
    # a fold of 0 (level alone) is valid, for the hard and the smooth endpoints alike
    from pdmodel.endpoints import smooth_patient_endpoints

    cfg = dataclasses.replace(IWG, onset_fold=0.0, relapse_fold=0.0)
    cols = [traj((5, 40, 35.0)), traj((0, 181, 12.0))]
    hard = run(cols, cfg)
    soft = smooth_patient_endpoints(np.stack(cols, axis=1), DAYS, cfg, np.zeros(2), width=1e-8)
    assert hard["onset_time"][0] == 5.0 and soft["onset_time"].value[0] == pytest.approx(5.0)
    assert soft["recurrence_rate"].value[0] == pytest.approx(hard["recurrence_rate"][0])


@pytest.mark.parametrize("smooth", [False, True])
def test_cheng2003_grading_needs_both_a_count_above_50_and_a_rise_of_30(smooth: bool) -> None:
    """Cheng 2003's response: > 50 and a rise of >= 30 (both), by day 10 (min_rise criterion)."""
    cfg = EndpointConfig(
        sampling=((0.0, 181.0, 1.0),), response_window=10.0, grading="cheng2003",
        effective_grades=("R",),
    )  # fmt: skip
    base10 = 10.0
    cols = [
        traj((1, 5, 45.0)),  # rise 35 but below 50: no
        traj((1, 5, 55.0)),  # 55, rise 45: yes
        traj((0, 181, 30.0), (3, 6, 55.0)),  # 55 but a rise of 25 over 30: no
        traj((12, 20, 120.0)),  # after day 10: no
    ]
    assert cols[0][0] == base10
    if smooth:
        from pdmodel.endpoints import smooth_patient_endpoints

        plt = np.stack(cols, axis=1)
        got = smooth_patient_endpoints(plt, DAYS, cfg, np.zeros(4), width=1e-8)[
            "total_effective_rate"
        ].value
    else:
        got = run(cols, cfg)["total_effective_rate"]
    np.testing.assert_allclose(got, [0.0, 1.0, 0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("smooth", [False, True])
def test_sustained_complete_response_and_response_at_followup(smooth: bool) -> None:
    import dataclasses

    from pdmodel.endpoints import smooth_patient_endpoints

    confirm = dataclasses.replace(IWG, relapse_confirm_days=1.0)
    cols = [
        traj((3, 181, 120.0)),  # CR kept to the end
        traj((3, 40, 120.0)),  # CR, then back to baseline
        traj((3, 40, 120.0), (40, 181, 60.0)),  # CR lost, response (>= 30, 2 x) kept
        traj((3, 30, 60.0), (100, 181, 60.0)),  # response lost, regained by follow-up
        traj((3, 181, 120.0), (8, 9, 80.0)),  # one daily count below 100 (day 8)
        traj((0, 181, 12.0)),  # never
    ]

    def endpoints(cfg: EndpointConfig) -> dict[str, np.ndarray]:
        if not smooth:
            return run(cols, cfg)
        soft = smooth_patient_endpoints(np.stack(cols, axis=1), DAYS, cfg, np.zeros(6), width=1e-8)
        return {k: v.value for k, v in soft.items()}

    out = endpoints(IWG)
    np.testing.assert_array_equal(out["sustained_complete_response"], [1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(out["sustained_response"], [1, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(out["response_at_followup"], [1, 0, 1, 1, 1, 0])
    # a loss of CR confirmed by the next count more than a day later, as a loss of response
    out = endpoints(confirm)
    np.testing.assert_array_equal(out["sustained_complete_response"], [1, 0, 0, 0, 1, 0])
