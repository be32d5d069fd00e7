"""Contact import endpoints: `/contacts/imports…` (a Resend beta; reference §13).

`POST` checks everything it can without reading past the CSV's header — fields, segments,
topics, properties, the header's columns — so that a mistake is a 4xx and nothing is
queued; the rows are applied afterwards by the store's `ImportRunner`.

Choices the reference leaves open (UNCONFIRMED), made here:
* Columns a `column_map` does not name fall back to the default headers (`email`,
  `first_name`, `last_name`, `unsubscribed`), used where the header has them. A column the
  map names must be in the header (422). Unknown `column_map` keys are refused (422), so
  that a typo such as `firstName` is not silently ignored.
* A mapped property must already exist and the map's `type` must be the property's (422).
  Properties are not created by an import.
* Header names and cells are matched and imported with surrounding whitespace stripped.
* `file` must be a file part; the JSON fields and `on_conflict` must be plain fields. An
  empty field counts as absent.
* A file with no records at all is accepted and completes with `total` 0.
* Imports are listed with `object: "contact_import"` on each item, like the get.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import anyio.to_thread
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from contacts_mcp.emulator.options import EmulatorOptions
from contacts_mcp.emulator.routes.contacts import segment_ids
from contacts_mcp.emulator.routes.topics import topic_subscriptions
from contacts_mcp.emulator.store import (
    IMPORT_STATUSES,
    Columns,
    ContactImport,
    ImportPlan,
    Store,
    UnreadableCsv,
    read_header,
)
from contacts_mcp.emulator.wire import JSON, ApiError, invalid, missing, paged, store_of

__all__ = ["create_import", "get_import", "list_imports"]

# `GET /contacts/imports` is always paginated, 10 by default (docs list-contact-imports).
_DEFAULT_LIMIT = 10
_ON_CONFLICT = ("upsert", "skip")
_FIELDS = ("email", "first_name", "last_name", "unsubscribed")
_PROPERTY_TYPES = ("string", "number", "boolean")
# Starlette's `max_part_size` bounds the plain fields, which it holds in memory; file parts
# are spooled to disk (in memory up to 1 MB) whatever their size, so the CSV is limited by
# `import_max_bytes` instead. A column_map for hundreds of properties is a few kilobytes.
_FIELD_MAX_BYTES = 1024 * 1024
_COLUMN_MAP_SHAPE = (
    'The `column_map` field must be a JSON object like {"email": "<column>", '
    '"properties": {"<key>": {"column": "<column>", "type": "string"}}}.'
)


@dataclass(frozen=True, slots=True)
class _ColumnMap:
    """The header names asked for: `fields` by the map itself, `properties` by key."""

    fields: Mapping[str, str]
    properties: Mapping[str, tuple[str, str]]
    """Property key -> (column, type)."""


def _import_item(job: ContactImport) -> dict[str, Any]:
    counts = job.counts
    return {
        "object": "contact_import",
        "id": job.id,
        "status": job.status,
        "created_at": job.created_at,
        "completed_at": job.completed_at,
        "counts": {
            "total": counts.total,
            "created": counts.created,
            "updated": counts.updated,
            "skipped": counts.skipped,
            "failed": counts.failed,
        },
    }


def _require_imports_api(request: Request) -> EmulatorOptions:
    options = cast(EmulatorOptions, request.app.state.options)
    if not options.imports_api:
        # What a team without the beta gets, as far as a client can tell: the probe of the
        # project's `auto` import strategy falls back on a 404.
        raise ApiError(404, "not_found", "The requested endpoint does not exist.")
    return options


# -- the form --------------------------------------------------------------------------------


async def _read_form(request: Request) -> FormData:
    try:
        # The default `max_files`/`max_fields` (1000 each) are far above a legitimate form.
        return await request.form(max_part_size=_FIELD_MAX_BYTES)
    except HTTPException as exc:  # Starlette's 400 for a malformed multipart body
        raise invalid(f"The request body must be valid multipart/form-data: {exc.detail}") from None


def _text_field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if isinstance(value, UploadFile):
        raise invalid(f"The `{name}` field must be a plain form field, not a file.")
    return value or None


def _json_field(form: FormData, name: str) -> object:
    raw = _text_field(form, name)
    if raw is None:
        return None
    try:
        value: object = json.loads(raw)
    except (ValueError, RecursionError):
        raise invalid(f"The `{name}` field must be a JSON-encoded string.") from None
    return value


def _upload(form: FormData, max_bytes: int) -> UploadFile:
    upload = form.get("file")
    if upload is None or upload == "":
        missing("file")
    if not isinstance(upload, UploadFile):
        raise invalid("The `file` field must be a file (a CSV file part).")
    if (upload.size or 0) > max_bytes:
        raise invalid("File too large")
    return upload


def _on_conflict(form: FormData, default: str) -> str:
    value = _text_field(form, "on_conflict") or default
    if value not in _ON_CONFLICT:
        raise invalid("The `on_conflict` field must be `upsert` or `skip`.")
    return value


def _column(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"`{where}` must be the name of a CSV column.")
    return value.strip()


def _column_map(raw: object) -> _ColumnMap:
    """The shape of `column_map`; None (absent) maps nothing explicitly."""
    if raw is None:
        return _ColumnMap({}, {})
    if not isinstance(raw, dict):
        raise invalid(_COLUMN_MAP_SHAPE)
    for key in raw:
        if key not in (*_FIELDS, "properties"):
            raise invalid(f"Unknown key `{key}` in `column_map`. {_COLUMN_MAP_SHAPE}")
    # null counts as absent, as for the JSON fields of other endpoints.
    fields = {
        field: _column(raw[field], f"column_map.{field}")
        for field in _FIELDS
        if raw.get(field) is not None
    }
    mapped = raw.get("properties")
    if mapped is None:
        mapped = {}
    if not isinstance(mapped, dict):
        raise invalid(_COLUMN_MAP_SHAPE)
    properties: dict[str, tuple[str, str]] = {}
    for key, spec in mapped.items():
        where = f"column_map.properties.{key}"
        if not isinstance(spec, dict):
            raise invalid(f'`{where}` must be an object like {{"column": "<column>"}}.')
        type_ = spec.get("type") or "string"  # the documented default
        if type_ not in _PROPERTY_TYPES:
            raise invalid(f"`{where}.type` must be `string`, `number` or `boolean`.")
        properties[key] = (_column(spec.get("column"), f"{where}.column"), type_)
    return _ColumnMap(fields, properties)


def _property_plan(store: Store, column_map: _ColumnMap) -> list[tuple[str, str, str, str]]:
    """(key, property id, column, type) per mapped property; 422 for an unknown key or type."""
    defined = store.properties_by_key()
    plan = []
    for key, (column, type_) in column_map.properties.items():
        prop = defined.get(key)
        if prop is None:
            raise invalid(
                f"The contact property `{key}` does not exist. "
                "Create it with POST /contact-properties first."
            )
        if type_ != prop.type:
            raise invalid(
                f"The contact property `{key}` is a {prop.type}, "
                f"but `column_map` maps it as a {type_}."
            )
        plan.append((key, prop.id, column, type_))
    return plan


def _columns(
    header: list[str], column_map: _ColumnMap, properties: list[tuple[str, str, str, str]]
) -> Columns:
    """Where each mapped field is in the header; 422 for a column it lacks."""
    # The first of two same-named columns wins.
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(name, index)

    def mapped(column: str, where: str) -> int:
        if column not in positions:
            raise invalid(f"The column `{column}` ({where}) is not in the CSV header.")
        return positions[column]

    found: dict[str, int | None] = {}
    for field in _FIELDS:
        if field in column_map.fields:
            found[field] = mapped(column_map.fields[field], f"column_map.{field}")
        else:
            # Without a map, header names are matched case-sensitively (reference §13.1).
            found[field] = positions.get(field)
    email = found["email"]
    if email is None:
        raise invalid("missing required email column")
    return Columns(
        email=email,
        first_name=found["first_name"],
        last_name=found["last_name"],
        unsubscribed=found["unsubscribed"],
        properties=tuple(
            (mapped(column, f"column_map.properties.{key}.column"), type_)
            for key, _id, column, type_ in properties
        ),
    )


# -- endpoints -------------------------------------------------------------------------------


async def create_import(request: Request) -> Response:
    options = _require_imports_api(request)
    store = store_of(request)
    form = await _read_form(request)
    try:
        upload = _upload(form, options.import_max_bytes)
        on_conflict = _on_conflict(form, options.import_default_on_conflict)
        column_map = _column_map(_json_field(form, "column_map"))
        segments = segment_ids(store, _json_field(form, "segments"))
        subscriptions = topic_subscriptions(store, _json_field(form, "topics"))
        properties = _property_plan(store, column_map)
        try:
            header = await anyio.to_thread.run_sync(read_header, upload.file)
        except UnreadableCsv:
            # Queued all the same: the import fails in the background, as a file that
            # cannot be parsed does (reference §13.2 has no 4xx for it).
            columns = None
        else:
            # No records at all: nothing to check, and nothing to import.
            columns = None if header is None else _columns(header, column_map, properties)
        plan = ImportPlan(
            on_conflict=on_conflict,
            property_ids=tuple(property_id for _key, property_id, _column, _type in properties),
            segment_ids=tuple(segments),
            subscriptions=subscriptions,
        )
        job = store.create_import()
        # From here the runner owns (and closes) the uploaded file.
        store.imports.submit(job.id, upload.file, columns, plan)
    except BaseException:
        await form.close()
        raise
    for _name, value in form.multi_items():
        if isinstance(value, UploadFile) and value is not upload:
            await value.close()  # stray file parts, e.g. a second `file`
    return JSON({"object": "contact_import", "id": job.id}, status_code=201)


async def get_import(request: Request) -> Response:
    _require_imports_api(request)
    job = store_of(request).get_import(request.path_params["import_id"])
    if job is None:
        raise ApiError(404, "not_found", "Contact import not found")
    return JSON(_import_item(job))


async def list_imports(request: Request) -> Response:
    _require_imports_api(request)
    store = store_of(request)
    status = request.query_params.get("status")
    if status is not None and status not in IMPORT_STATUSES:
        raise invalid(
            "The `status` parameter must be `queued`, `in_progress`, `completed` or `failed`."
        )
    return paged(
        request,
        lambda page: store.list_imports(page, status=status),
        _import_item,
        default_limit=_DEFAULT_LIMIT,
    )
