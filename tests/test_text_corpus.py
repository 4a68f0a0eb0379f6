"""The byte-level corpus builder (dlrepro/data/text.py): deterministic, hashed, split, offline."""

import pytest
import torch

from dlrepro.data import BUILDERS, prepare, text
from dlrepro.errors import UserError


def write_tree(root):
    (root / "pkg" / "sub").mkdir(parents=True)
    for i in range(40):
        (root / "pkg" / f"m{i:02d}.py").write_text(f"def f{i}(x):\n    return x + {i}\n" * 3)
    (root / "pkg" / "sub" / "notes.txt").write_text("plain text notes\n" * 10)
    (root / "pkg" / "image.png").write_bytes(b"\x89PNG not text")  # not a text suffix: skipped
    return root / "pkg"


def test_folder_corpus_is_deterministic_and_hashed(tmp_path):
    folder = write_tree(tmp_path)
    a = text.build_corpus({"corpus": str(folder)})
    b = text.build_corpus({"corpus": str(folder)})
    assert a["meta"] == b["meta"]
    assert torch.equal(a["train"], b["train"]) and torch.equal(a["val"], b["val"])
    assert len(a["meta"]["sha256"]) == 64
    assert a["meta"]["n_files"] == 41  # 40 .py + 1 .txt, not the .png
    assert a["files"] == sorted(a["files"])
    total = a["meta"]["train_tokens"] + a["meta"]["val_tokens"]
    assert 0 < a["meta"]["val_tokens"] < total
    assert a["train"].dtype == torch.uint8


def test_hash_changes_when_a_file_changes(tmp_path):
    folder = write_tree(tmp_path)
    before = text.build_corpus({"corpus": str(folder)})["meta"]["sha256"]
    (folder / "m03.py").write_text("changed\n")
    assert text.build_corpus({"corpus": str(folder)})["meta"]["sha256"] != before


def test_split_by_file_is_stable_under_additions():
    names = [f"a/m{i}.py" for i in range(200)]
    held = {n for n in names if text.is_val_file(n)}
    assert 0 < len(held) < 40  # about 1 in 20
    assert {n for n in names + ["b/new.py"] if text.is_val_file(n)} - {"b/new.py"} == held


def test_single_file_splits_at_the_end(tmp_path):
    f = tmp_path / "shakespeare.txt"
    f.write_bytes(bytes(range(256)) * 40)
    c = text.build_corpus({"corpus": str(f)})
    assert c["meta"]["train_tokens"] == int(len(f.read_bytes()) * 0.95)
    assert bytes(c["train"].tolist() + c["val"].tolist()) == f.read_bytes()


def test_prepare_writes_a_loadable_file(tmp_path):
    out = tmp_path / "data" / "corpus.pt"
    assert "corpus" in BUILDERS
    meta = prepare("corpus", out, {"corpus": str(write_tree(tmp_path))})
    loaded = text.load_corpus(out)
    assert loaded["meta"] == meta
    assert not list(out.parent.glob(".*tmp"))  # written atomically, no leftovers


def test_bad_sources_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="neither a file nor a folder"):
        text.build_corpus({"corpus": str(tmp_path / "missing")})
    with pytest.raises(UserError, match="download"):
        text.build_corpus({"corpus": "https://example.org/input.txt", "download": False})
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no text files"):
        text.build_corpus({"corpus": str(tmp_path / "empty")})


def test_default_stdlib_file_list_is_sorted_and_portable():
    root, files = text.stdlib_files()
    rel = [p.relative_to(root).as_posix() for p in files]
    assert rel == sorted(rel) and len(rel) > 100
    assert not any(r.startswith(("site-packages/", "test/", "tkinter/")) for r in rel)
    assert not any(r.split("/")[-1].startswith("_sysconfigdata") for r in rel)
