"""The runner records every run's fate: a diverged or crashed run is written down, not lost."""

import contextlib
import json
import math
from types import SimpleNamespace

import pandas as pd
import torch

from dlrepro import tables
from dlrepro.reproduction import Run
from dlrepro.runner import run_job


def fake_repro(train):
    return SimpleNamespace(task=SimpleNamespace(train=train))


def a_run(**settings):
    return Run("fake", "smoke", "a", "a-x1-s0", 0, {"x": 1}, {"seed": 0, **settings})


def job(tmp_path, train, run=None):
    status = run_job(
        fake_repro(train),
        run or a_run(),
        "cpu",
        1,
        {},
        tmp_path / "metrics.parquet",
        tmp_path / "run.json",
        tmp_path / "ckpt.pt",
        checkpoint_seconds=0.0,
    )
    return (
        status,
        tables.read(tmp_path / "metrics.parquet", "metrics"),
        json.loads((tmp_path / "run.json").read_text()),
    )


def test_a_nan_loss_stops_the_run_as_diverged_and_keeps_its_metrics(tmp_path):
    def train(run):
        for step in range(1, 10):
            loss = math.nan if step == 4 else 1.0 / step
            run.check_finite(loss=loss)
            run.log(step, "train", {"loss": loss})

    status, metrics, record = job(tmp_path, train)
    assert status == record["status"] == "diverged"
    assert metrics["step"].tolist() == [1, 2, 3]
    assert "non-finite" in record["error"]


def test_an_exception_is_recorded_as_failed_with_the_error(tmp_path):
    def train(run):
        run.log(1, "train", {"loss": 1.0})
        raise RuntimeError("out of memory")

    status, metrics, record = job(tmp_path, train)
    assert status == "failed"
    assert record["error"] == "RuntimeError: out of memory"
    assert len(metrics) == 1


def test_the_record_holds_provenance(tmp_path):
    status, metrics, record = job(tmp_path, lambda run: run.log(1, "val", {"acc": 0.5}))
    assert status == "completed"
    assert (
        record["versions"]["torch"] == torch.__version__.split("+")[0]
        or record["versions"]["torch"]
    )
    assert record["threads"] == 1 and record["seed"] == 0
    assert record["settings"] == {"seed": 0}
    assert {"started_at", "finished_at", "wall_s", "git_commit", "device"} <= set(record)
    assert metrics["x"].tolist() == [1]  # swept parameters are columns


def counting_task(crash_at=None):
    """A deterministic loop with randomness, checkpointing every step."""

    def train(run):
        gen = torch.Generator().manual_seed(run.seed)
        w = torch.zeros(3)
        start = 1
        state = run.resume()
        if state:
            w, start = state["w"], state["step"] + 1
            gen.set_state(state["gen"])
        for step in range(start, 21):
            w = w + torch.randn(3, generator=gen)
            run.log(step, "train", {"w0": w[0].item(), "w1": w[1].item()})
            run.maybe_checkpoint(step, lambda w=w: {"w": w, "gen": gen.get_state()})
            if step == crash_at:
                raise KeyboardInterrupt  # stands in for a kill: not caught by the runner

    return train


def test_a_resumed_run_ends_with_the_same_metrics_as_an_uninterrupted_one(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, whole, _ = job(tmp_path / "a", counting_task())
    with contextlib.suppress(KeyboardInterrupt):
        job(tmp_path / "b", counting_task(crash_at=7))
    assert (tmp_path / "b" / "ckpt.pt").exists()
    _, resumed, _ = job(tmp_path / "b", counting_task())
    cols = [c for c in whole.columns if c != "elapsed_s"]
    pd.testing.assert_frame_equal(whole[cols], resumed[cols])
    assert not (tmp_path / "b" / "ckpt.pt").exists()  # removed once the run finished


def test_a_checkpoint_from_other_settings_is_not_resumed(tmp_path):
    with contextlib.suppress(KeyboardInterrupt):
        job(tmp_path, counting_task(crash_at=5), run=a_run(lr=1))
    _, metrics, _ = job(tmp_path, counting_task(), run=a_run(lr=2))
    assert metrics["step"].min() == 1 and len(metrics) == 40


def test_the_report_lists_runs_that_did_not_complete(tmp_path):
    from dlrepro.report import Section, render
    from dlrepro.reproduction import discover

    runs = pd.DataFrame(
        [
            {
                "run_id": "wd-s0",
                "seed": 0,
                "status": "diverged",
                "error": "non-finite loss at step 12",
                "device": "cpu:x86_64",
                "threads": 1,
                "wall_s": 1.0,
                "git_commit": "abc",
                "versions_json": '{"torch": "2"}',
            }
        ]
    )
    claims = pd.DataFrame(columns=["verdict", "op"])
    html = render("cpu", [Section(discover()["grokking"], claims, runs, tmp_path)])
    assert "Runs that did not complete" in html and "non-finite loss at step 12" in html
