"""A byte-level text corpus, prepared once into uint8 token tensors with a train/val split.

Sources, in order of preference (the workflow config's `data.corpus`):

* None (the default): the Python standard library's own `.py` sources, which every machine that
  runs dlrepro has. The file list is sorted and filtered to the modules that every CPython
  build ships (Debian splits tkinter, lib2to3, distutils, ... into separate packages, and
  `_sysconfigdata*` is machine-generated), so the corpus is identical across machines with the
  same Python version; its file count, sha256 and size are recorded so that a difference shows.
* A local text file (split contiguously: the last `val_fraction` is validation, as nanoGPT does
  for TinyShakespeare) or a folder of text files (split by file, see below).
* An http(s) URL (e.g. TinyShakespeare's input.txt), fetched into `data.root` when
  `data.download` is true, or `hf:<dataset>[:<config>]` through the `datasets` library.

Bytes are the tokens (vocabulary 256), so no tokenizer has to be trained or shipped, and the
token count of a corpus is its size in bytes.
"""

from __future__ import annotations

import hashlib
import sysconfig
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import torch

from dlrepro.atomic import write_with
from dlrepro.errors import UserError

VOCAB_SIZE = 256
VAL_EVERY = 20  # a file goes to validation when hash(relative path) % VAL_EVERY == 0 (≈5%)
VAL_FRACTION = 0.05  # for a single file: the last 5% is validation
TEXT_SUFFIXES = (".txt", ".md", ".rst", ".py", ".tex", ".html", ".json", ".csv", ".c", ".h")
SEPARATOR = b"\n\n"  # between files, so a file's start never fuses with the previous end
# Parts of the standard library that some distributions leave out or generate per machine.
STDLIB_EXCLUDE = {
    "site-packages",
    "dist-packages",
    "test",
    "tests",
    "idlelib",
    "tkinter",
    "turtledemo",
    "lib2to3",
    "distutils",
    "ensurepip",
    "venv",
    "lib-dynload",
    "__pycache__",
}


def stdlib_files(stdlib: Path | None = None) -> tuple[Path, list[Path]]:
    """The default corpus's files: the standard library's `.py` sources, sorted by path."""
    root = Path(stdlib or sysconfig.get_paths()["stdlib"])
    files = []
    for p in root.rglob("*.py"):
        rel = p.relative_to(root)
        if any(part in STDLIB_EXCLUDE or part.startswith("config-") for part in rel.parts):
            continue
        if rel.name.startswith("_sysconfigdata"):
            continue
        files.append(p)
    return root, sorted(files, key=lambda p: p.relative_to(root).as_posix())


def text_files(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def is_val_file(rel: str) -> bool:
    """Whether a file (by relative path) is held out. Hashing the path, not its position,
    keeps the split stable when files are added or removed elsewhere in the tree."""
    return int(hashlib.sha256(rel.encode()).hexdigest(), 16) % VAL_EVERY == 0


def _split_files(root: Path, files: list[Path]) -> tuple[bytes, bytes, list[str]]:
    train, val, names = [], [], []
    for p in files:
        rel = p.relative_to(root).as_posix()
        names.append(rel)
        (val if is_val_file(rel) else train).append(p.read_bytes())
    return SEPARATOR.join(train), SEPARATOR.join(val), names


def _download(url: str, root: Path) -> Path:
    name = Path(urllib.parse.urlparse(url).path).name or "corpus.txt"
    dest = root / "corpus" / name
    if not dest.exists():

        def fetch(tmp: Path) -> None:
            with urllib.request.urlopen(url, timeout=60) as r:  # noqa: S310 (the user's URL)
                tmp.write_bytes(r.read())

        try:
            write_with(dest, fetch)
        except OSError as e:
            raise UserError(
                f"could not download the corpus {url}: {e}; set data.corpus to a "
                "local text file or folder, or leave it null for the default"
            ) from e
    return dest


def _hf_text(spec: str) -> tuple[bytes, bytes, str]:
    try:
        import datasets  # optional: only for `hf:` corpora
    except ImportError as e:
        raise UserError(f"data.corpus = {spec!r} needs `pip install datasets`") from e
    name, _, cfg = spec[3:].partition(":")
    ds = datasets.load_dataset(name, cfg or None)
    val_split = "validation" if "validation" in ds else "test"
    col = "text" if "text" in ds["train"].column_names else ds["train"].column_names[0]
    join = lambda split: "\n".join(ds[split][col]).encode()  # noqa: E731
    return join("train"), join(val_split), f"datasets:{spec[3:]}"


def build_corpus(data_config: dict[str, Any]) -> dict[str, Any]:
    """Read the configured source into {'train', 'val' (uint8 tensors), 'meta' (dict)}."""
    spec = data_config.get("corpus")
    files: list[str] = []
    if spec is None:
        root, paths = stdlib_files()
        train, val, files = _split_files(root, paths)
        source = f"python-stdlib:{sysconfig.get_python_version()}"
    elif str(spec).startswith(("http://", "https://", "hf:")):
        if not data_config.get("download", False):
            raise UserError(
                f"data.corpus = {spec!r} needs a download, but data.download is false; "
                "set data.download=true or point data.corpus at a local file"
            )
        if str(spec).startswith("hf:"):
            train, val, source = _hf_text(str(spec))
        else:
            path = _download(str(spec), Path(data_config.get("root") or "data"))
            train, val, source = *_split_single(path.read_bytes()), str(spec)
    else:
        path = Path(spec).expanduser()
        if path.is_file():
            train, val = _split_single(path.read_bytes())
            files, source = [path.name], str(path)
        elif path.is_dir():
            paths = text_files(path)
            if not paths:
                raise UserError(f"data.corpus folder {path} has no text files {TEXT_SUFFIXES}")
            train, val, files = _split_files(path, paths)
            source = str(path)
        else:
            raise UserError(
                f"data.corpus = {spec!r} is neither a file nor a folder; give a text file, a "
                "folder of text files, an http(s) URL, or null for the Python-sources default"
            )
    if len(val) == 0 or len(train) == 0:
        raise UserError(f"the corpus {source} is too small to split into train and validation")
    digest = hashlib.sha256()
    digest.update(train)
    digest.update(b"\0VAL\0")
    digest.update(val)
    meta = {
        "source": source,
        "sha256": digest.hexdigest(),
        "train_tokens": len(train),
        "val_tokens": len(val),
        "n_files": len(files),
        "files_sha256": hashlib.sha256("\n".join(files).encode()).hexdigest(),
        "vocab_size": VOCAB_SIZE,
        "tokenizer": "bytes",
    }
    return {
        "train": torch.frombuffer(bytearray(train), dtype=torch.uint8),
        "val": torch.frombuffer(bytearray(val), dtype=torch.uint8),
        "meta": meta,
        "files": files,
    }


def _split_single(blob: bytes) -> tuple[bytes, bytes]:
    cut = int(len(blob) * (1 - VAL_FRACTION))
    return blob[:cut], blob[cut:]


def prepare_corpus(out_path: Path, data_config: dict[str, Any]) -> dict[str, Any]:
    """The `corpus` dataset builder: write the prepared corpus atomically; return its meta."""
    corpus = build_corpus(data_config)
    write_with(out_path, lambda tmp: torch.save(corpus, tmp))
    return corpus["meta"]


def load_corpus(path: Path) -> dict[str, Any]:
    """Load a prepared corpus: {'train', 'val': uint8 tensors, 'meta': dict, 'files': list}."""
    try:
        corpus = torch.load(path, weights_only=True)
    except FileNotFoundError as e:
        raise UserError(f"prepared corpus {path} does not exist; run the prepare rule") from e
    if not isinstance(corpus, dict) or not {"train", "val", "meta"} <= set(corpus):
        raise UserError(f"{path} is not a prepared corpus (keys train, val, meta)")
    return corpus
