"""Parquet tables have the documented columns and types, checked on write, written atomically."""

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dlrepro import tables
from dlrepro.atomic import atomic_path


def metrics_frame():
    return pd.DataFrame(
        {
            "run_id": ["r"],
            "reproduction": ["x"],
            "scale": ["smoke"],
            "sweep": ["a"],
            "seed": [0],
            "step": [1],
            "epoch": [float("nan")],
            "split": ["train"],
            "metric": ["loss"],
            "value": [0.5],
            "elapsed_s": [0.1],
        }
    )


def test_a_valid_table_round_trips_through_pandas_and_pyarrow(tmp_path):
    path = tmp_path / "m.parquet"
    tables.write(metrics_frame(), path, "metrics")
    assert pq.read_table(path).num_rows == 1
    assert tables.read(path, "metrics")["metric"].tolist() == ["loss"]


def test_a_missing_column_is_refused():
    with pytest.raises(tables.SchemaError, match="lacks column 'elapsed_s'"):
        tables.check(metrics_frame().drop(columns="elapsed_s"), "metrics")


def test_a_wrong_type_is_refused():
    bad = metrics_frame().assign(value=["high"])
    with pytest.raises(tables.SchemaError, match="'value'"):
        tables.check(bad, "metrics")


def test_an_unknown_verdict_is_refused():
    cols = tables.COLUMNS["claims"]
    row = {c: {"O": "x", "b": True}.get(k, 1) for c, k in cols.items()}
    row["verdict"] = "probably"
    with pytest.raises(tables.SchemaError, match="unknown verdict"):
        tables.check(pd.DataFrame([row]).astype({"measured": float}), "claims")


def test_a_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []
