"""The workflow configuration is checked before any job runs, with one readable message."""

import pytest

from dlrepro.config import check_config, selected
from dlrepro.errors import UserError
from dlrepro.reproduction import discover


def test_defaults_are_filled_in():
    cfg = check_config({})
    assert cfg["scale"] == "cpu"
    assert cfg["device"] == "auto"
    assert cfg["reproductions"] == "all"
    assert cfg["data"]["download"] is True


def test_unknown_key_names_the_key_and_the_allowed_keys():
    with pytest.raises(UserError) as e:
        check_config({"scael": "cpu"})
    assert "unknown key 'scael'" in str(e.value)
    assert "scale" in str(e.value)


def test_unknown_value_names_the_value_and_the_choices():
    with pytest.raises(UserError) as e:
        check_config({"scale": "huge"})
    msg = str(e.value)
    assert "scale = 'huge'" in msg and "smoke" in msg and "paper" in msg


def test_wrong_type_is_reported():
    with pytest.raises(UserError) as e:
        check_config({"checkpoint_seconds": "often"})
    assert "checkpoint_seconds" in str(e.value)


def test_unknown_nested_data_key_is_reported():
    with pytest.raises(UserError) as e:
        check_config({"data": {"fashion": "/x"}})
    assert "unknown key 'fashion' at data" in str(e.value)


def test_selecting_an_unknown_reproduction_lists_the_known_ones():
    cfg = check_config({"reproductions": ["grokking", "nope"]})
    with pytest.raises(UserError) as e:
        selected(cfg, discover())
    assert "'nope'" in str(e.value) and "grokking" in str(e.value)


def test_all_selects_every_reproduction_folder():
    assert "grokking" in selected(check_config({}), discover())
