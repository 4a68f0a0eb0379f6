"""Reproduction folders: discovered from disk, validated with messages naming file and field."""

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from dlrepro.errors import UserError
from dlrepro.reproduction import check_task, discover, load, make_run_id

GROKKING = Path(__file__).resolve().parents[1] / "reproductions" / "grokking"


@pytest.fixture
def spec():
    return yaml.safe_load((GROKKING / "reproduction.yaml").read_text())


def write(tmp_path: Path, spec: dict) -> Path:
    folder = tmp_path / spec.get("name", "grokking")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reproduction.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(GROKKING / "reference.csv", folder / "reference.csv")
    return folder


def test_every_shipped_reproduction_loads_and_its_task_has_its_measures_and_figures():
    repros = discover()
    assert "grokking" in repros
    for repro in repros.values():
        check_task(repro)
        for scale in ("smoke", "cpu", "paper"):
            assert repro.runs(scale), f"{repro.name} has no runs at {scale}"


def test_a_missing_field_names_the_file_and_the_field(tmp_path, spec):
    del spec["claims"][0]["op"]
    with pytest.raises(UserError) as e:
        load(write(tmp_path, spec))
    msg = str(e.value)
    assert "reproduction.yaml" in msg and "claims[0]" in msg and "'op'" in msg


def test_an_unknown_key_is_rejected(tmp_path, spec):
    spec["claims"][0]["treshold"] = 3
    with pytest.raises(UserError) as e:
        load(write(tmp_path, spec))
    assert "unknown key 'treshold' at claims[0]" in str(e.value)


def test_a_threshold_that_does_not_fit_its_comparison_is_rejected(tmp_path, spec):
    spec["claims"][0]["op"] = "between"
    with pytest.raises(UserError) as e:
        load(write(tmp_path, spec))
    assert "[low, high] for between" in str(e.value)


def test_the_name_must_match_the_folder(tmp_path, spec):
    folder = write(tmp_path, spec)
    renamed = folder.rename(tmp_path / "other")
    with pytest.raises(UserError) as e:
        load(renamed)
    assert "must equal the folder name" in str(e.value)


def test_a_measure_missing_from_the_task_is_named(spec):
    repro = discover()["grokking"]
    broken = copy.deepcopy(repro)
    broken.spec["claims"][0]["measure"] = "no_such_measure"
    with pytest.raises(UserError) as e:
        check_task(broken)
    assert "no_such_measure" in str(e.value)


def test_runs_expand_grid_times_seeds_with_readable_ids():
    repro = discover()["grokking"]
    runs = repro.runs("cpu")
    ids = [r.run_id for r in runs]
    assert "wd-s2" in ids and "wd_long-s0" in ids and "wd_long-s1" in ids
    assert "frac-frac0.6-s0" in ids
    assert len(ids) == len(set(ids))
    frac = repro.run("cpu", "frac-frac0.6-s0")
    assert frac.settings["frac"] == 0.6 and frac.params == {"frac": 0.6}


def test_a_seeds_override_replaces_every_sweeps_seeds():
    runs = discover()["grokking"].runs("cpu", seeds=[7])
    assert {r.seed for r in runs} == {7}


def test_a_seed_offset_moves_every_sweep_to_undeclared_seeds_and_keeps_init_links_paired():
    repro = discover()["transfer"]
    declared = repro.runs("cpu")
    moved = repro.runs("cpu", seed_offset=100)
    assert sorted(r.seed + 100 for r in declared) == sorted(r.seed for r in moved)
    by_id = {r.run_id: r for r in moved}
    linked = [r for r in moved if r.init_from]
    assert linked and all(by_id[r.init_from].seed == r.seed for r in linked)


def test_run_ids_are_filesystem_safe():
    assert make_run_id("lr", {"lr": 1e-3, "act": "tanh/x"}, 0) == "lr-lr0.001-acttanhx-s0"


def test_settings_hash_changes_with_settings():
    runs = discover()["grokking"].runs("smoke")
    assert len({r.settings_hash for r in runs}) == len(runs)


def test_a_sweeps_priority_reaches_its_runs_and_defaults_to_zero():
    runs = discover()["grokking"].runs("cpu")
    assert {r.priority for r in runs if r.sweep in ("none", "wd_long")} == {1}
    assert {r.priority for r in runs if r.sweep not in ("none", "wd_long")} == {0}
