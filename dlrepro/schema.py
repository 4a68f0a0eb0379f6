"""JSON-Schema validation that reports one readable line per problem, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from dlrepro.errors import UserError
from dlrepro.paths import SCHEMAS


def load_schema(name: str) -> dict[str, Any]:
    return yaml.safe_load((SCHEMAS / name).read_text())


def _where(error: jsonschema.ValidationError) -> str:
    parts = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p)))
    return "".join(parts) or "(top level)"


def _explain(error: jsonschema.ValidationError) -> str:
    where = _where(error)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"unknown key {', '.join(map(repr, extra))} at {where}; allowed keys: {allowed}"
    if error.validator == "enum":
        return f"{where} = {error.instance!r} is not allowed; choose one of {error.validator_value}"
    if error.validator == "type":
        return f"{where} = {error.instance!r} has the wrong type; expected {error.validator_value}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    return f"{where} = {error.instance!r}: {error.message}"


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Read strings as YAML where the schema wants something else.

    `snakemake --config seeds=[0,1,2]` hands over ['0', '1', '2']: Snakemake parses command-line
    values with YAML's BaseLoader, which keeps every scalar a string. A string is replaced by its
    YAML reading only where that reading fits the schema and the string does not.
    """
    validator_cls = jsonschema.validators.validator_for(schema)
    if isinstance(value, str):
        if validator_cls(schema).is_valid(value):
            return value
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return parsed if validator_cls(schema).is_valid(parsed) else value
    branches = [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]
    if isinstance(value, dict):
        out = dict(value)
        for b in branches:
            for key, sub in b.get("properties", {}).items():
                if key in out:
                    out[key] = coerce(out[key], sub)
        return out
    if isinstance(value, list):
        for b in branches:
            if isinstance(b.get("items"), dict):
                return [coerce(v, b["items"]) for v in value]
    return value


def validate(instance: Any, schema_name: str, source: str) -> Any:
    """Validate `instance` against a schema, filling `default`s; raise UserError on problems."""
    schema = load_schema(schema_name)
    instance = coerce(instance, schema)
    validator_cls = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_cls(schema).iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        lines = "\n".join(f"  - {_explain(e)}" for e in errors[:10])
        raise UserError(f"{source} is invalid:\n{lines}")
    _fill_defaults(instance, schema)
    return instance


def _fill_defaults(instance: Any, schema: dict[str, Any]) -> None:
    if not isinstance(instance, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = sub["default"]
        if key in instance:
            _fill_defaults(instance[key], sub)


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text())
    except FileNotFoundError as e:
        raise UserError(f"{path} does not exist") from e
    except yaml.YAMLError as e:
        raise UserError(f"{path} is not valid YAML: {e}") from e
