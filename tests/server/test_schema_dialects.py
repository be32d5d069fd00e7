"""Every input schema survives the conversion Gemini-style hosts make to OpenAPI 3.0.

Those hosts (and agent frameworks that target several model APIs) turn a tool's JSON
Schema into OpenAPI 3.0's Schema Object: one `type` per schema, `nullable` instead of a
`null` type, no `const`, no `$ref`. A field whose schema cannot be expressed that way,
such as a type list (`["string", "number"]`) or no type at all, is dropped or the whole
tool is rejected. This converter does what they do, and refuses (rather than drops)
whatever it cannot express, so the test names the field that would be lost.
"""

from typing import Any

import pytest
from mcp import Client

from contacts_mcp.backends import LOCAL_API_KEY, BackendConfig
from contacts_mcp.server import build_server

pytestmark = pytest.mark.anyio

# OpenAPI 3.0 Schema Object keywords a tool argument may use.
KEYWORDS = {
    "type", "format", "description", "nullable", "enum", "items", "properties", "required",
    "anyOf", "minItems", "maxItems", "minimum", "maximum", "minProperties", "maxProperties",
    "minLength", "maxLength", "pattern", "default", "additionalProperties", "title",
}  # fmt: skip
TYPES = {"string", "number", "integer", "boolean", "array", "object"}
NULL = {"type": "null"}


class UnconvertibleError(Exception):
    pass


def to_openapi(schema: Any, path: str) -> dict[str, Any]:
    """`schema` as an OpenAPI 3.0 Schema Object; `UnconvertibleError` naming the path of
    the first part that has no such form."""
    if not isinstance(schema, dict):
        raise UnconvertibleError(f"{path}: not a schema object")
    unknown = set(schema) - KEYWORDS - {"const"}
    if unknown:
        raise UnconvertibleError(f"{path}: {sorted(unknown)} has no OpenAPI 3.0 form")
    converted: dict[str, Any] = {}
    if "anyOf" in schema:
        branches = schema["anyOf"]
        others = [b for b in branches if b != NULL]
        if not others:
            raise UnconvertibleError(f"{path}: a union of null alone")
        forms = [to_openapi(b, f"{path}|{i}") for i, b in enumerate(others)]
        if len(forms) == 1:
            converted.update(forms[0])
        else:
            converted["anyOf"] = forms
        if len(others) < len(branches):
            converted["nullable"] = True
    elif "type" in schema:
        kind = schema["type"]
        if not isinstance(kind, str):
            raise UnconvertibleError(f"{path}: type list {kind!r}")
        if kind not in TYPES:
            raise UnconvertibleError(f"{path}: type {kind!r}")
        converted["type"] = kind
    else:
        raise UnconvertibleError(f"{path}: no type")
    if "const" in schema:
        converted["enum"] = [schema["const"]]
    for key in KEYWORDS - {"type", "anyOf", "properties", "items", "additionalProperties"}:
        if key in schema:
            converted[key] = schema[key]
    if "properties" in schema:
        converted["properties"] = {
            name: to_openapi(sub, f"{path}.{name}") for name, sub in schema["properties"].items()
        }
    if "items" in schema:
        converted["items"] = to_openapi(schema["items"], f"{path}[]")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        converted["additionalProperties"] = to_openapi(extra, f"{path}{{}}")
    elif extra is not None:
        converted["additionalProperties"] = extra
    return converted


def leaves(schema: dict[str, Any], path: str = "") -> dict[str, dict[str, Any]]:
    """Every named property, at any depth, by its path."""
    found: dict[str, dict[str, Any]] = {}
    for name, sub in schema.get("properties", {}).items():
        found[f"{path}.{name}"] = sub
        found.update(leaves(sub, f"{path}.{name}"))
    items = schema.get("items")
    if isinstance(items, dict):
        found.update(leaves(items, f"{path}[]"))
    return found


async def test_every_input_schema_converts_to_openapi_3_without_losing_a_field(
    era: str,
) -> None:
    server = build_server(BackendConfig(api_key=LOCAL_API_KEY, local_db=":memory:"))
    async with Client(server, mode=era) as client:
        tools = (await client.list_tools()).tools
    assert len(tools) == 26
    for tool in tools:
        converted = to_openapi(tool.input_schema, tool.name)
        before, after = leaves(tool.input_schema), leaves(converted)
        assert set(after) == set(before), tool.name
        for path, sub in after.items():
            # Each field keeps a type the host can show the model: one, or a union of ones.
            assert "type" in sub or all("type" in b for b in sub["anyOf"]), (tool.name, path)


def test_the_converter_refuses_what_hosts_would_drop() -> None:
    with pytest.raises(UnconvertibleError, match=r"t\.value: type list"):
        to_openapi({"type": "object", "properties": {"value": {"type": ["string", "null"]}}}, "t")
    with pytest.raises(UnconvertibleError, match=r"t\.value: no type"):
        to_openapi({"type": "object", "properties": {"value": {}}}, "t")
    nullable = to_openapi({"anyOf": [{"type": "string"}, NULL]}, "t")
    assert nullable == {"type": "string", "nullable": True}
