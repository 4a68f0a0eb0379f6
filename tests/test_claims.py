"""The claims engine: every verdict is reachable, and only the declared threshold decides."""

import json
import math

import pandas as pd

from dlrepro.claims import Measurement, judge, median_over_seeds


def summary(statuses=("completed", "completed", "completed"), values=(3.0, 5.0, 4.0)):
    return pd.DataFrame(
        {
            "run_id": [f"a-s{i}" for i in range(len(values))],
            "sweep": "a",
            "seed": list(range(len(values))),
            "status": list(statuses),
            "x": list(values),
        }
    )


def median_x(rows):
    return median_over_seeds({int(r.seed): r.x for r in rows.itertuples()}, "x")


MEASURES = {"median_x": median_x}
METRICS = pd.DataFrame({"run_id": []})


def claim(**kw):
    base = {
        "id": "c",
        "statement": "x is large",
        "paper": {"value": 4, "source": "Fig. 1"},
        "measure": "median_x",
        "sweeps": ["a"],
        "op": ">=",
        "threshold": 4,
        "min_seeds": 1,
    }
    return {**base, **kw}


def test_reproduced_when_every_seed_meets_the_threshold():
    row = judge(claim(), summary(values=(4.0, 5.0, 4.5)), METRICS, MEASURES)
    assert row["verdict"] == "reproduced"
    assert row["measured"] == 4.5  # the median
    assert row["n_seeds"] == 3


def test_not_reproduced_when_no_seed_meets_it_and_it_carries_the_measured_value():
    row = judge(claim(threshold=5.5), summary(), METRICS, MEASURES)
    assert row["verdict"] == "not reproduced"
    assert row["measured"] == 4.0


def test_seeds_on_both_sides_of_the_threshold_leave_the_claim_inconclusive():
    # seeds 3, 5, 4 against >= 4: the median (4) meets it, seed 0 does not
    row = judge(claim(), summary(), METRICS, MEASURES)
    assert (row["verdict"], row["measured"]) == ("inconclusive", 4.0)
    assert "seeds disagree: 2 of 3 meet >= 4" in row["reason"]
    assert "seed 0: 3" in row["reason"]
    # and the other way round: the median misses, one seed meets it
    row = judge(claim(threshold=4.5), summary(), METRICS, MEASURES)
    assert row["verdict"] == "inconclusive"
    assert "1 of 3 meet" in row["reason"]


def test_between_checks_both_ends():
    close = summary(values=(4.0, 4.2, 4.4))
    ok = judge(claim(op="between", threshold=[3.5, 4.5]), close, METRICS, MEASURES)
    assert ok["verdict"] == "reproduced"
    off = judge(claim(op="between", threshold=[4.5, 9]), close, METRICS, MEASURES)
    assert off["verdict"] == "not reproduced"


def test_between_judges_every_seed_not_their_median():
    # two seeds either side of the band: their median (5) is in it, neither seed is
    two = summary(statuses=("completed",) * 2, values=(0.0, 10.0))
    row = judge(claim(op="between", threshold=[4, 6]), two, METRICS, MEASURES)
    assert (row["verdict"], row["measured"]) == ("not reproduced", 5.0)
    three = summary(values=(0.0, 5.0, 10.0))
    row = judge(claim(op="between", threshold=[4, 6]), three, METRICS, MEASURES)
    assert row["verdict"] == "inconclusive"


def test_the_seed_values_judged_are_in_the_row_details():
    row = judge(claim(), summary(), METRICS, MEASURES)
    assert json.loads(row["details_json"])["per_seed"] == {"0": 3.0, "1": 5.0, "2": 4.0}


def fit(value, interval):
    return {"fit": lambda rows: Measurement(value, interval=interval)}


def test_a_fit_is_decided_only_when_its_whole_interval_is_on_one_side_of_the_threshold():
    c = claim(measure="fit")
    assert judge(c, summary(), METRICS, fit(5.0, (4.2, 5.8)))["verdict"] == "reproduced"
    assert judge(c, summary(), METRICS, fit(3.0, (2.0, 3.9)))["verdict"] == "not reproduced"
    row = judge(c, summary(), METRICS, fit(5.0, (3.5, 6.5)))
    assert row["verdict"] == "inconclusive"
    assert "95% interval 3.5–6.5 straddles >= 4" in row["reason"]
    assert json.loads(row["details_json"])["interval_95"] == [3.5, 6.5]


def test_a_fit_judged_against_a_band_must_lie_inside_it_or_clear_of_it():
    c = claim(measure="fit", op="between", threshold=[0.35, 0.65])
    assert judge(c, summary(), METRICS, fit(0.5, (0.4, 0.6)))["verdict"] == "reproduced"
    assert judge(c, summary(), METRICS, fit(0.8, (0.7, 0.9)))["verdict"] == "not reproduced"
    assert judge(c, summary(), METRICS, fit(0.6, (0.5, 0.7)))["verdict"] == "inconclusive"
    assert judge(c, summary(), METRICS, fit(0.5, (0.1, 0.9)))["verdict"] == "inconclusive"


def test_a_diverged_run_makes_the_claim_inconclusive():
    row = judge(
        claim(), summary(statuses=("completed", "diverged", "completed")), METRICS, MEASURES
    )
    assert row["verdict"] == "inconclusive"
    assert "runs diverged: a-s1" in row["reason"]


def test_diverged_never_reached_passes_the_run_to_the_measure_as_never_reaching():
    row = judge(
        claim(diverged="never_reached"),
        summary(statuses=("completed", "diverged", "completed")),
        METRICS,
        MEASURES,
    )
    # median_over_seeds: a seed whose event never came makes the value unknown
    assert row["verdict"] == "inconclusive"
    assert "seed(s) [1]" in row["reason"]

    def best_seed(rows):  # a measure that treats "never reached" as data
        return Measurement(float(rows["x"].max()))

    row = judge(
        claim(diverged="never_reached", measure="best"),
        summary(statuses=("completed", "diverged", "completed"), values=(3.0, 9.0, 4.0)),
        METRICS,
        {"best": best_seed},
    )
    assert (row["verdict"], row["measured"]) == ("reproduced", 4.0)  # the diverged 9.0 is NaN


def test_diverged_exclude_judges_the_other_runs():
    row = judge(
        claim(diverged="exclude", min_seeds=2),
        summary(statuses=("completed", "diverged", "completed"), values=(3.0, 9.0, 3.5)),
        METRICS,
        MEASURES,
    )
    # judged on seeds 0 and 2 alone (the diverged 9.0 would have met it): both < 4
    assert (row["verdict"], row["measured"], row["seeds"]) == ("not reproduced", 3.25, "[0, 2]")


def test_a_measure_gets_the_metrics_table_only_when_it_asks_for_it():
    seen = {}

    def wants(rows, metrics):
        seen["metrics"] = metrics
        return Measurement(5.0)

    judge(claim(measure="w"), summary(), METRICS, {"w": wants})
    assert "metrics" in seen
    judge(claim(measure="n"), summary(), METRICS, {"n": lambda rows: Measurement(5.0)})


def test_seeds_a_measure_leaves_empty_are_the_seeds_of_its_rows():
    row = judge(claim(min_seeds=3), summary(), METRICS, {"median_x": lambda r: Measurement(5.0)})
    assert (row["verdict"], row["seeds"]) == ("reproduced", "[0, 1, 2]")


def test_min_seeds_defaults_to_the_seeds_the_sweeps_run():
    c = claim()
    del c["min_seeds"]
    one_seed = {"median_x": lambda r: Measurement(5.0, seeds=[0])}
    row = judge(c, summary(), METRICS, one_seed, min_seeds=3)
    assert row["verdict"] == "inconclusive"
    assert "1 seed(s) measured, 3 needed" in row["reason"]


def test_every_row_carries_the_sha256_of_its_claim_spec():
    a = judge(claim(), summary(), METRICS, MEASURES)["spec_sha256"]
    b = judge(claim(threshold=4.0001), summary(), METRICS, MEASURES)["spec_sha256"]
    assert len(a) == 64 and a != b


def test_too_few_seeds_is_inconclusive():
    row = judge(claim(min_seeds=4), summary(), METRICS, MEASURES)
    assert row["verdict"] == "inconclusive"
    assert "3 seed(s) measured, 4 needed" in row["reason"]


def test_an_event_that_never_happened_is_inconclusive_with_the_reason():
    row = judge(claim(), summary(values=(3.0, math.nan, 4.0)), METRICS, MEASURES)
    assert row["verdict"] == "inconclusive"
    assert "seed(s) [1]" in row["reason"]


def test_a_sweep_not_run_at_this_scale_is_inconclusive():
    row = judge(claim(sweeps=["b"]), summary(), METRICS, MEASURES)
    assert row["verdict"] == "inconclusive"
    assert "not run at this scale" in row["reason"]


def test_informative_claims_report_the_value_without_a_verdict():
    row = judge(claim(op="informative", threshold=None), summary(), METRICS, MEASURES)
    assert row["verdict"] == "inconclusive"
    assert row["measured"] == 4.0


def test_measurement_without_value_is_inconclusive():
    measures = {"median_x": lambda rows: Measurement(None, reason="budget too short")}
    row = judge(claim(), summary(), METRICS, measures)
    assert (row["verdict"], row["reason"]) == ("inconclusive", "budget too short")
