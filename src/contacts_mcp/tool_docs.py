"""A tool as a person at a terminal reads it (`contacts-mcp call --describe TOOL`): its
description, then each argument with a readable type, whether it is required, its
default and its meaning, all taken from the tool's real input schema."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from mcp.types import Tool

__all__ = ["describe_tool", "readable_type"]


def describe_tool(tool: Tool) -> str:
    """A tool's description and arguments, as `call --describe` prints them."""
    schema = tool.input_schema
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    lines = [tool.name, textwrap.indent(tool.description or "(no description)", "  "), ""]
    properties: dict[str, Any] = schema.get("properties", {})
    lines.append("Arguments, as one JSON object:" if properties else "No arguments.")
    for name, prop in properties.items():
        if name in required:
            status = "required"
        elif isinstance(prop, dict) and "default" in prop:
            status = f"optional, default {_json(prop['default'])}"
        else:
            status = "optional"
        lines.append(f"  {name} ({status}): {readable_type(prop, defs)}")
        about = prop.get("description") if isinstance(prop, dict) else None
        if about:
            lines += textwrap.wrap(
                about, width=88, initial_indent=" " * 6, subsequent_indent=" " * 6
            )
    return "\n".join(lines)


def readable_type(schema: Any, defs: dict[str, Any], seen: frozenset[str] = frozenset()) -> str:
    """A JSON schema as a person reads it: `list of string`, `integer 1..100`,
    `one of "new", "full"`, `{field, op, value}`, `{key: string}`."""
    if not isinstance(schema, dict):
        return "any"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen or name not in defs:  # a recursive model stops at its name
            return name
        return readable_type(defs[name], defs, seen | {name})
    if "const" in schema:
        return _json(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(_json(value) for value in schema["enum"])
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return _either([readable_type(branch, defs, seen) for branch in branches])
    kind = schema.get("type")
    if isinstance(kind, list):
        return _either([readable_type({**schema, "type": one}, defs, seen) for one in kind])
    if kind == "array":
        items = readable_type(schema.get("items"), defs, seen)
        return f"list of {items}{_size(schema.get('minItems'), schema.get('maxItems'), '')}"
    if kind == "object":
        values = schema.get("additionalProperties")
        if schema.get("properties"):
            shape = "{" + ", ".join(schema["properties"]) + "}"
        elif isinstance(values, dict) and values:
            shape = f"{{key: {readable_type(values, defs, seen)}}}"
        else:
            shape = "object"
        return shape + _size(schema.get("minProperties"), schema.get("maxProperties"), " keys")
    if kind in ("integer", "number"):
        return f"{kind}{_bounds(schema)}"
    if kind == "string":
        return f"{kind}{_size(schema.get('minLength'), schema.get('maxLength'), ' characters')}"
    return kind if isinstance(kind, str) else "any"


def _bounds(schema: dict[str, Any]) -> str:
    if "minimum" in schema and "maximum" in schema:
        return f" {_json(schema['minimum'])}..{_json(schema['maximum'])}"
    limits = [
        f"{sign} {_json(schema[key])}"
        for key, sign in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
        )
        if key in schema
    ]
    return f" {', '.join(limits)}" if limits else ""


def _size(low: Any, high: Any, unit: str) -> str:
    if low and high is not None:
        return f", {low} to {high}{unit}"
    if high is not None:
        return f", at most {high}{unit}"
    return f", at least {low}{unit}" if low else ""


def _either(choices: list[str]) -> str:
    """`a`, `a or b`, `a, b or c`: a schema's alternatives."""
    unique = list(dict.fromkeys(choices)) or ["any"]
    return unique[0] if len(unique) == 1 else f"{', '.join(unique[:-1])} or {unique[-1]}"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
