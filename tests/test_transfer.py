"""Transfer reproduction (Yosinski et al. 2014): the A/B split, layer surgery, claims, workflow."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import SmokeRun, copy_workdir, snakemake

from dlrepro.claims import judge
from dlrepro.paths import REPRODUCTIONS
from dlrepro.reproduction import Run, load
from dlrepro.runner import run_in_folder
from dlrepro.trainer import ImageData
from reproductions.transfer import task
from reproductions.transfer.measures import MEASURES
from reproductions.transfer.model import LayeredCNN
from reproductions.transfer.split import split_classes, take_per_class

# -- the A/B split and the training subsets --------------------------------------------------


def test_split_halves_are_disjoint_and_cover_every_class():
    halves = split_classes(10, seed=3)
    assert len(halves["A"]) == len(halves["B"]) == 5
    assert not set(halves["A"]) & set(halves["B"])
    assert sorted(halves["A"] + halves["B"]) == list(range(10))


def test_split_is_deterministic_per_seed_and_differs_across_seeds():
    assert split_classes(10, 0) == split_classes(10, 0)
    assert len({tuple(split_classes(10, s)["A"]) for s in range(5)}) > 1


def test_training_subset_is_class_balanced_renumbered_and_nested():
    labels = torch.arange(10).repeat(30)  # 30 examples of each of 10 classes
    idx, y = take_per_class(labels, [7, 2, 5], per_class=4, seed=0)
    assert sorted(labels[idx].tolist()) == [2] * 4 + [5] * 4 + [7] * 4
    assert torch.equal(torch.tensor([7, 2, 5])[y], labels[idx])  # 7 -> 0, 2 -> 1, 5 -> 2
    assert labels[idx][:4].unique().numel() > 1  # classes mixed, not one after another
    bigger, _ = take_per_class(labels, [7, 2, 5], per_class=10, seed=0)
    assert set(idx.tolist()) <= set(bigger.tolist())
    again, _ = take_per_class(labels, [7, 2, 5], per_class=4, seed=0)
    assert torch.equal(idx, again)


# -- copying and freezing layers, through the task and the shared trainer --------------------


@pytest.fixture(scope="module")
def repro():
    return load(REPRODUCTIONS / "transfer")


def _images(n_per_class: int = 40) -> ImageData:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(10).repeat(n_per_class)
    x = torch.randint(0, 256, (len(y), 1, 28, 28), generator=g, dtype=torch.uint8)
    return ImageData(x_train=x, y_train=y, x_test=x, y_test=y, n_classes=10)


def _train(repro, run_id: str, tmp_path: Path, monkeypatch, **changes) -> tuple[dict, dict]:
    """Train smoke-scale run `run_id` on random images from a saved base network; return the
    base weights and the run's final weights."""
    run = repro.run("smoke", run_id)
    run = Run(**{**run.__dict__, "settings": {**run.settings, **changes}})
    torch.manual_seed(123)
    base = LayeredCNN([4, 8], [16], n_classes=5)
    torch.save(base.state_dict(), tmp_path / "base.pt")
    monkeypatch.setattr(task, "load_images", lambda run, name: _images())
    folder = tmp_path / "-".join([run_id, *(f"{k}{v}" for k, v in changes.items())])
    init = tmp_path / "base.pt" if run.init_from else None
    status = run_in_folder(repro, run, folder, init_weights=init, stream=io.StringIO())
    assert status == "completed"
    return base.state_dict(), torch.load(folder / "weights.pt", weights_only=True)


def _layer(key: str) -> int:
    return int(key.split(".")[1])


def test_a_transferred_net_starts_from_the_bases_layers_up_to_n_and_fresh_ones_above(
    repro, tmp_path, monkeypatch
):
    base, start = _train(repro, "anb-n2-s0", tmp_path, monkeypatch, steps=0)
    for key, value in start.items():
        assert torch.equal(value, base[key]) == (_layer(key) < 2), key


def test_frozen_copied_layers_do_not_change_in_training_and_the_others_do(
    repro, tmp_path, monkeypatch
):
    base, final = _train(repro, "bnb-n2-s0", tmp_path, monkeypatch)
    for key, value in final.items():
        assert torch.equal(value, base[key]) == (_layer(key) < 2), key


def test_fine_tuned_copied_layers_change_but_stay_near_the_base(repro, tmp_path, monkeypatch):
    base, final = _train(repro, "bnb_plus-n2-s0", tmp_path, monkeypatch)
    torch.manual_seed(456)
    fresh = LayeredCNN([4, 8], [16], n_classes=5).state_dict()
    for key in ("layers.0.0.weight", "layers.1.0.weight"):
        assert not torch.equal(final[key], base[key])
        assert (final[key] - base[key]).norm() < (fresh[key] - base[key]).norm()


def test_the_random_feature_control_keeps_its_untrained_layers_frozen(repro, tmp_path, monkeypatch):
    _, start = _train(repro, "random_frozen-s0", tmp_path, monkeypatch, steps=0)
    _, final = _train(repro, "random_frozen-s0", tmp_path, monkeypatch)
    for key, value in final.items():
        assert torch.equal(value, start[key]) == (_layer(key) < 3), key


# -- claims on hand-made summary tables ------------------------------------------------------

SEEDS = (0, 1, 2)
BASE_B = 0.90
FLAT = [0.0] * 5


def summary(
    anb=FLAT, anb_plus=FLAT, bnb=FLAT, bnb_plus=FLAT, few_finetune=0.0, full_finetune=None
) -> pd.DataFrame:
    """Summary rows of a cpu-scale run whose treatments sit at `x` points from baseB at
    n = 1..5 (the same for every seed, plus a small per-seed wobble); `few_finetune` is the
    fine-tune - scratch gap at 10 images per class, `full_finetune` overrides AnB+ at n = 5."""
    rows = []

    def add(sweep, acc, seed, **params):
        rows.append(
            {
                "run_id": f"{sweep}-{params}-s{seed}",
                "sweep": sweep,
                "seed": seed,
                "status": "completed",
                "half": params.get("half"),
                "n": params.get("n"),
                "per_class": params.get("per_class"),
                "test_acc": acc,
                "copied_layers": float(params.get("copied", params.get("n") or 0)),
                "examples_per_class": float(params.get("per_class") or 1200),
            }
        )

    for seed in SEEDS:
        wobble = 0.001 * (seed - 1)
        add("base", 0.95, seed, half="A")
        add("base", BASE_B + wobble, seed, half="B")
        for sweep, curve in [
            ("anb", anb),
            ("anb_plus", anb_plus),
            ("bnb", bnb),
            ("bnb_plus", bnb_plus),
        ]:
            for n, pts in enumerate(curve, 1):
                if sweep == "anb_plus" and n == 5 and full_finetune is not None:
                    pts = full_finetune
                add(sweep, BASE_B + wobble + pts / 100, seed, n=n)
        add("random_frozen", 0.5, seed, copied=5)
        for k, scratch in [(10, 0.6), (50, 0.75), (250, 0.85)]:
            add("scratch", scratch + wobble, seed, per_class=k)
            gap = few_finetune if k == 10 else few_finetune / 2
            add("finetune", scratch + wobble + gap / 100, seed, per_class=k, copied=5)
            add("probe", scratch + 0.02, seed, per_class=k, copied=5)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def claims(repro) -> dict:
    return {c["id"]: c for c in repro.claims}


def verdict(claim: dict, rows: pd.DataFrame) -> str:
    return judge(claim, rows, pd.DataFrame(columns=["run_id"]), MEASURES, min_seeds=3)["verdict"]


FALLING = [0.2, -0.5, -2.0, -4.0, -6.0]
CASES = {
    # claim: (summary that reproduces it, summary that does not)
    "specificity_deep": (dict(anb=FALLING), dict(anb=[0.2, -0.5, -1.0, -1.5, -2.0])),
    "specificity_grows": (dict(anb=FALLING), dict(anb=[-4.0, -1.0, -3.0, 0.5, -2.0])),
    "finetune_boost": (dict(anb_plus=[1.0, 1.2, 1.5, 1.5, 2.0]), dict(anb_plus=[0.3] * 5)),
    "bnb_dip": (dict(bnb=[0.0, -1.0, -3.0, -1.0, -0.2]), dict(bnb=[0.0, -0.3, -0.4, -0.2, -0.1])),
    "bnb_plus_no_dip": (
        dict(bnb_plus=[0.0, 0.2, -0.3, 0.1, 0.0]),
        dict(bnb_plus=[0, 0, -2.0, 0, 0]),
    ),
    "finetune_beats_scratch": (dict(few_finetune=8.0), dict(few_finetune=1.0)),
    "gap_shrinks": (
        dict(few_finetune=8.0, full_finetune=1.0),
        dict(few_finetune=3.0, full_finetune=2.0),
    ),
}


@pytest.mark.parametrize("claim_id", sorted(CASES))
def test_each_claim_is_reproduced_on_a_table_that_shows_it_and_not_on_one_that_does_not(
    claims, claim_id
):
    shows, lacks = CASES[claim_id]
    assert verdict(claims[claim_id], summary(**shows)) == "reproduced"
    assert verdict(claims[claim_id], summary(**lacks)) == "not reproduced"


def test_a_dip_that_does_not_recover_at_the_top_is_not_a_dip(claims):
    sinking = summary(bnb=[0.0, -1.0, -3.0, -3.5, -4.0])
    assert verdict(claims["bnb_dip"], sinking) == "not reproduced"


def test_a_claim_is_inconclusive_when_a_seed_lacks_its_base_network(claims):
    rows = summary(anb=FALLING)
    rows = rows[~((rows["sweep"] == "base") & (rows["half"] == "B") & (rows["seed"] == 2))]
    assert verdict(claims["specificity_deep"], rows) == "inconclusive"


def test_informative_claims_measure_a_value(claims):
    rows = summary(anb=FALLING, anb_plus=[1.0] * 5, few_finetune=5.0)
    for cid in (
        "anb_plus_over_bnb_plus",
        "anb_above_random",
        "probe_vs_scratch_few",
        "baseb_accuracy",
    ):
        row = judge(claims[cid], rows, pd.DataFrame(columns=["run_id"]), MEASURES, min_seeds=3)
        assert row["verdict"] == "inconclusive" and pd.notna(row["measured"]), cid


# -- runs that start from other runs, through the CLI ----------------------------------------

SMOKE = ("--cores", "2", "--config", "scale=smoke", "reproductions=[transfer]")


def _jobs(proc) -> list[str]:
    """The run ids of the train jobs a dry run would start."""
    return re.findall(r"run_id=([A-Za-z0-9._-]+)", proc.stdout + proc.stderr)


@pytest.fixture(scope="module")
def smoke_transfer(smoke_all: SmokeRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the whole smoke pipeline's folder (transfer included), for tests that delete."""
    return copy_workdir(smoke_all.workdir, tmp_path_factory.mktemp("transfer"))


@pytest.mark.workflow
def test_transfer_runs_train_on_the_base_weights_and_record_their_split(smoke_transfer):
    out = smoke_transfer / "results" / "smoke" / "transfer"
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs["status"]) == {"completed"}
    splits = [json.loads(j)["split"] for j in runs["data_json"]]
    assert all(set(s["A"]).isdisjoint(s["B"]) and len(s["A"]) == 5 for s in splits)
    claims = pd.read_parquet(out / "claims.parquet")
    assert set(claims["claim_id"]) >= set(CASES)
    for fig in ("fig2", "data_efficiency"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000


@pytest.mark.workflow
def test_deleting_one_transfer_run_reruns_only_that_run_not_its_base(smoke_transfer):
    out = Path("results") / "smoke" / "transfer"
    runs = smoke_transfer / out / "runs"
    base_weights = runs / "base-halfA-s0" / "weights.pt"
    before = base_weights.stat().st_mtime_ns
    shutil.rmtree(runs / "anb-n2-s0")
    # Snakemake (>= 7.8) leaves a deleted intermediate file alone while everything after it is
    # up to date, so the deleted run is asked for by name, with the reproduction's target.
    again = (str(out / "runs" / "anb-n2-s0" / "run.json"), "transfer")
    dry = snakemake(smoke_transfer, *again, "--dry-run", *SMOKE)
    assert _jobs(dry) == ["anb-n2-s0"]
    snakemake(smoke_transfer, *again, *SMOKE)
    assert (runs / "anb-n2-s0" / "metrics.parquet").exists()
    assert base_weights.stat().st_mtime_ns == before
    summary = pd.read_parquet(smoke_transfer / out / "summary.parquet")
    assert "anb-n2-s0" in set(summary["run_id"])
