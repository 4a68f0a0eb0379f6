"""Where things live, relative to the repository root. (Result paths are written once, in
workflow/rules/common.smk.)"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "dlrepro"
SCHEMAS = ROOT / "workflow" / "schemas"
REPRODUCTIONS = ROOT / "reproductions"
