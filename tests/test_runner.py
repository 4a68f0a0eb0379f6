"""The runner records every run's fate: a diverged or crashed run is written down, not lost."""

import contextlib
import json
import math
from types import SimpleNamespace

import pandas as pd
import torch

from dlrepro import tables
from dlrepro.reproduction import Run
from dlrepro.runner import RunningMeans, run_in_folder, start_torch


def fake_repro(train):
    return SimpleNamespace(task=SimpleNamespace(train=train))


def a_run(**settings):
    return Run("fake", "smoke", "a", "a-x1-s0", 0, {"x": 1}, {"seed": 0, **settings})


def job(tmp_path, train, run=None, init_weights=None):
    status = run_in_folder(
        fake_repro(train),
        run or a_run(),
        tmp_path,
        checkpoint_seconds=0.0,
        init_weights=init_weights,
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
    """A deterministic loop with a model, an optimizer, a generator, running means and a plain
    value, all registered once; the context checkpoints them every step."""

    def train(run):
        gen = torch.Generator().manual_seed(run.seed)
        model = torch.nn.Linear(3, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        means = RunningMeans()
        seen = {"batches": 0}
        run.register(model=model, optimizer=opt, generators=[gen], means=means, seen=seen)
        for step in range(run.resume(), 21):
            x = torch.randn(4, 3, generator=gen)
            loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
            loss = loss + 1e-3 * torch.randn(()).abs()  # global RNG, as dropout would use it
            opt.zero_grad()
            loss.backward()
            opt.step()
            means.add(1, loss=loss.item())
            seen["batches"] += 1
            if step % 3 == 0:
                run.log(step, "train", {**means.pop(), "batches": seen["batches"]})
            run.maybe_checkpoint(step)
            if step == crash_at:
                raise KeyboardInterrupt  # stands in for a kill: not caught by the runner

    return train


def test_a_resumed_run_ends_with_the_same_metrics_and_weights_as_an_uninterrupted_one(
    tmp_path,
):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, whole, _ = job(tmp_path / "a", counting_task())
    with contextlib.suppress(KeyboardInterrupt):
        job(tmp_path / "b", counting_task(crash_at=7))
    assert (tmp_path / "b" / "checkpoint.pt").exists()
    _, resumed, _ = job(tmp_path / "b", counting_task())
    cols = [c for c in whole.columns if c != "elapsed_s"]
    pd.testing.assert_frame_equal(whole[cols], resumed[cols])
    assert not (tmp_path / "b" / "checkpoint.pt").exists()  # removed once the run finished
    a, b = (torch.load(tmp_path / d / "weights.pt", weights_only=True) for d in "ab")
    assert a.keys() == {"weight", "bias"} and all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_that_registers_no_model_writes_empty_weights(tmp_path):
    job(tmp_path, lambda run: run.log(1, "val", {"acc": 0.5}))
    assert torch.load(tmp_path / "weights.pt", weights_only=True) == {}


def test_init_weights_are_the_base_runs_final_weights(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "next").mkdir()
    job(tmp_path / "base", counting_task())
    base = torch.load(tmp_path / "base" / "weights.pt", weights_only=True)
    got = {}
    job(tmp_path / "next", lambda run: got.update(w=run.init_weights()), init_weights=None)
    assert got["w"] is None  # no init_from: nothing to start from
    job(
        tmp_path / "next",
        lambda run: got.update(w=run.init_weights()),
        init_weights=tmp_path / "base" / "weights.pt",
    )
    assert torch.equal(got["w"]["weight"], base["weight"])


def test_something_that_cannot_be_restored_in_place_is_refused_at_register(tmp_path):
    status, _, record = job(tmp_path, lambda run: run.register(step=3))
    assert status == "failed" and "cannot be restored in place" in record["error"]


def test_a_checkpoint_from_other_settings_is_not_resumed(tmp_path):
    with contextlib.suppress(KeyboardInterrupt):
        job(tmp_path, counting_task(crash_at=5), run=a_run(lr=1))
    _, metrics, _ = job(tmp_path, counting_task(), run=a_run(lr=2))
    batches = metrics[metrics["metric"] == "batches"]
    assert batches["step"].tolist() == [3, 6, 9, 12, 15, 18]  # logged from a fresh start
    assert batches["value"].tolist() == [3, 6, 9, 12, 15, 18]


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


def test_a_run_starts_with_denormals_flushed_seeded_and_deterministic():
    # 1e-20 squared is a denormal (below 1.2e-38): a run's process makes it 0, because
    # denormal arithmetic made grokking's unregularized run three times slower.
    start_torch(1, 7)
    tiny = torch.tensor([1e-20])
    assert (tiny * tiny).item() == 0.0
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.initial_seed() == 7
