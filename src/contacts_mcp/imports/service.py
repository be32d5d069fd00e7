"""CSV imports for the tools: preview, import (two strategies), and import status.

Everything the model can get wrong is checked before the first write: the file (path
policy, encoding, quoting, headers), the column map, properties, segments and topics.
Only then are missing properties created (when allowed) and the import run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeGuard, TypeVar

import anyio

from contacts_mcp.api.client import ResendClient, api_deadline
from contacts_mcp.api.imports import ContactImport, OnConflict
from contacts_mcp.api.models import (
    PROPERTY_KEY,
    RESERVED_PROPERTY_KEYS,
    PropertyType,
    Subscription,
    is_uuid,
)
from contacts_mcp.imports.csvio import CSVFormatError
from contacts_mcp.imports.journal import Journal
from contacts_mcp.imports.mapping import check_column_map
from contacts_mcp.imports.models import ImportSummary, PreviewOut, PreviewReport
from contacts_mcp.imports.plan import (
    MAX_INLINE_BYTES,
    ImportPlan,
    ImportSource,
    Progress,
    import_key,
    scan_file,
    write_failure_report,
)
from contacts_mcp.imports.preview import preview_table
from contacts_mcp.imports.settings import ImportSettings
from contacts_mcp.imports.strategy_api import run_api
from contacts_mcp.imports.strategy_rows import run_rows
from contacts_mcp.services.before_state import JournalAppender
from contacts_mcp.services.explain import NothingFoundError, UserFacingError, api_errors, show
from contacts_mcp.services.mirror import Mirror
from contacts_mcp.services.outfiles import WrittenFiles
from contacts_mcp.services.private import private_file
from contacts_mcp.services.schema import SchemaService
from contacts_mcp.services.sharing import FolderLock, FolderLockTimeout
from contacts_mcp.text.sanitize import clean
from contacts_mcp.text.words import counted

__all__ = ["ImportService", "PreviewOut", "StrategyChoice"]

StrategyChoice = Literal["auto", "api", "rows"]
logger = logging.getLogger("contacts_mcp.imports")

T = TypeVar("T")
# Journals and failure reports are kept this long after an import was last run.
BUILT_IN_TARGETS = frozenset(
    {"email", "first_name", "last_name", "unsubscribed", "segments", "skip"}
)


async def _progress_none(done: float, total: float | None, message: str) -> None:
    return None


class ImportService:
    """Preview and import CSV files of contacts."""

    def __init__(
        self,
        client: ResendClient,
        schema: SchemaService,
        settings: ImportSettings,
        *,
        backend: str = "",
        mirror: Mirror | None = None,
    ) -> None:
        self._client = client
        self._schema = schema
        self._settings = settings
        self._backend = backend
        self._mirror = mirror
        # Keys of imports running in this process: the same import twice at once would
        # share one journal and both do every row.
        self._running: set[str] = set()

    async def _filled_mirror(self) -> Mirror | None:
        """The account's mirror, if it has been filled: an import writes through to it."""
        if self._mirror is None:
            return None
        state = await anyio.to_thread.run_sync(self._mirror.state)
        return self._mirror if state.synced_at is not None else None

    # -- preview ----------------------------------------------------------------------

    async def preview(
        self,
        source: ImportSource,
        *,
        columns: Mapping[str, str] | None = None,
        new_properties: Mapping[str, PropertyType] | None = None,
        progress: Progress = _progress_none,
        api_seconds: float | None = None,
    ) -> PreviewOut:
        """What importing `source` would do: its format, a proposed (or the given) column
        map, and its problems. Its one API read (the properties) ends within
        `api_seconds`: a preview runs as a job, but an API that does not answer is an
        error then, not a job that waits on it."""
        _check_source(source)
        with api_deadline(api_seconds):
            properties = await self._schema.properties(fresh=True)
        existing = {p.key: p.type for p in properties if _importable_type(p.type)}
        report_progress = _thread_progress(progress)

        def scan() -> tuple[PreviewReport, int]:
            with (
                source.open(self._settings.files) as (stream, size),
                source.read_table(stream) as table,
            ):
                return (
                    preview_table(
                        table,
                        existing_properties=existing,
                        column_map=columns,
                        new_properties=new_properties,
                        progress=report_progress,
                    ),
                    size,
                )

        try:
            report, size = await _off_loop(scan)
        except ValueError as exc:  # a given column map that does not fit the file
            raise UserFacingError(str(exc)) from None
        arguments: dict[str, Any] = (
            {"path": source.path}
            if source.path is not None
            else {"upload": source.upload}
            if source.upload is not None
            else {"csv_text": "<the same CSV text>"}
        )
        arguments |= {
            "columns": report.column_map,
            "on_conflict": "skip",
            "strategy": "auto",
        }
        if report.new_properties:
            arguments |= {
                "new_properties": report.new_properties,
                "create_missing_properties": True,
            }
        if source.text is None:
            arguments |= {
                "encoding": report.format.encoding,
                "delimiter": report.format.delimiter,
                "has_header": report.format.has_header,
            }
        return PreviewOut(
            **report.model_dump(),
            file=source.name,
            size_bytes=size,
            import_arguments=arguments,
        )

    # -- import -----------------------------------------------------------------------

    async def run(
        self,
        source: ImportSource,
        *,
        columns: Mapping[str, str],
        on_conflict: OnConflict,
        new_properties: Mapping[str, PropertyType] | None = None,
        create_missing_properties: bool = False,
        segments: Sequence[str] = (),
        topics: Mapping[str, Subscription] | None = None,
        dry_run: bool = False,
        strategy: StrategyChoice = "auto",
        progress: Progress = _progress_none,
        before_state: Path | None = None,
        written: WrittenFiles | None = None,
    ) -> ImportSummary:
        """Import `source`. With `before_state`, the import journals there what each
        contact it changes or creates was before (`services.before_state`), so that it
        can be undone; through the Contact Imports API, only the contacts it created
        (Resend reports nothing per contact: see `strategy_api`)."""
        _check_source(source)
        await progress(0, None, "reading the file")
        segments_column = next((c for c, t in columns.items() if t == "segments"), None)
        topics_column = next((c for c, t in columns.items() if t == "topics"), None)
        scan = await _off_loop(
            lambda: scan_file(source, self._settings.files, segments_column, topics_column)
        )
        total = scan.rows
        if total == 0:
            raise UserFacingError(
                "The file has no data rows (only a header, or blank lines): nothing to import."
            )
        property_types = await self._check_columns(
            scan.headers, columns, new_properties or {}, create_missing_properties
        )
        segment_ids = await self._schema.segment_ids(segments)
        topic_ids = await self._schema.topic_ids(topics or {})
        # Every segment a row names must exist before the first write, as the others.
        row_segments = {
            name: (await self._schema.resolve_segment(name)).id
            for name in sorted(scan.segment_names)
        }
        row_topics = {
            name: (await self._schema.resolve_topic(name)).id for name in sorted(scan.topic_names)
        }
        per_row = segments_column or topics_column
        if per_row is not None and strategy == "api":
            raise UserFacingError(
                "Resend's Contact Imports API takes one list of segments and topics per "
                f"import, not a {columns[per_row]} column: use strategy 'rows' (or 'auto', "
                "which picks it)."
            )
        # A segments or topics column needs the rows strategy: the API takes one list. An
        # upsert runs row by row unless told otherwise: what the API's upsert does to an
        # existing contact is not documented, and it reports nothing per contact, so
        # neither the consent rules nor an undo could be kept (see the README).
        by_rows = per_row is not None or (strategy == "auto" and on_conflict == "upsert")
        chosen, recent_imports = await self._choose("rows" if by_rows else strategy)
        options = {
            "columns": dict(columns),
            "types": property_types,
            "on_conflict": on_conflict,
            "segments": sorted(segment_ids),
            "topics": topic_ids,
            "strategy": chosen,
            "dry_run": dry_run,
        }
        key = import_key(scan.content_hash, {**options, "backend": self._backend})
        already = UserFacingError(
            "This import is already running (here or in another host window). Wait for it "
            "to finish; running it again afterwards resumes or repeats it safely."
        )
        if key in self._running:
            raise already
        self._running.add(key)
        # Other server processes on the data folder would share its journal: one at a time.
        running = FolderLock(self._settings.state_dir / "imports" / f"{key}.lock")
        try:
            async with running.held(wait=0):
                before = (
                    None
                    if before_state is None or dry_run
                    else JournalAppender(before_state, written)
                )
                try:
                    return await self._run_plan(
                        source, key, total, chosen, columns, property_types, on_conflict,
                        segment_ids, topic_ids, dry_run, progress, row_segments, row_topics,
                        recent_imports, before,
                    )  # fmt: skip
                finally:
                    if before is not None:
                        before.close()
        except FolderLockTimeout:
            raise already from None
        finally:
            running.close()
            self._running.discard(key)

    async def _run_plan(
        self,
        source: ImportSource,
        key: str,
        total: int,
        chosen: Literal["api", "rows"],
        columns: Mapping[str, str],
        property_types: dict[str, PropertyType],
        on_conflict: OnConflict,
        segment_ids: list[str],
        topic_ids: dict[str, Subscription],
        dry_run: bool,
        progress: Progress,
        row_segments: dict[str, str],
        row_topics: dict[str, str],
        recent_imports: frozenset[str],
        before: JournalAppender | None,
    ) -> ImportSummary:
        imports_dir = self._settings.state_dir / "imports"
        keep_days = self._settings.retention.days.get("imports")
        if keep_days is not None:
            await _off_loop(lambda: _forget_old_imports(imports_dir, keep_days))
        folder = imports_dir / key
        if dry_run:
            shutil.rmtree(folder, ignore_errors=True)  # a dry run always starts afresh
        journal = await _off_loop(lambda: Journal(folder / "journal.sqlite"))
        try:
            if not dry_run:
                await self._create_properties(property_types)
            plan = ImportPlan(
                source=source,
                settings=self._settings,
                columns=dict(columns),
                property_types=property_types,
                on_conflict=on_conflict,
                segment_ids=segment_ids,
                topics=topic_ids,
                row_segments=row_segments,
                row_topics=row_topics,
                dry_run=dry_run,
                key=key,
                total_rows=total,
                journal=journal,
                progress=progress,
                mirror=await self._filled_mirror(),
                imports_before=set(recent_imports),
                before=before,
            )
            runner = run_api if chosen == "api" else run_rows
            try:
                summary = await runner(self._client, plan)
            except anyio.get_cancelled_exc_class():
                # Nobody is waiting for a result any more, so leave one on disk: what was
                # done so far, and how to go on.
                self._write_reports(plan, _interrupted(plan, chosen))
                logger.info("import %s cancelled; its progress is saved", key)
                raise
            return self._write_reports(plan, summary)
        finally:
            journal.close()

    async def status(self, import_id: str) -> ContactImport:
        """A Resend Contact Imports API import, by the id an import reported."""
        wanted = import_id.strip()
        if not is_uuid(wanted):
            raise UserFacingError(
                f"{show(wanted, 40)} is not a Resend import id (a UUID from an import's "
                "import_ids). Call get_job without an id to list recent jobs."
            )

        def missing() -> UserFacingError:
            return NothingFoundError(
                f"No Resend import {show(wanted)}. Call get_job without an id to list recent jobs."
            )

        with api_errors(not_found=missing):
            return await self._client.get_contact_import(wanted)

    # -- helpers ----------------------------------------------------------------------

    async def _choose(
        self, strategy: StrategyChoice
    ) -> tuple[Literal["api", "rows"], frozenset[str]]:
        """The strategy, and for "api" the account's recent imports: the one request that
        shows the API is there also tells a lost upload's job from those before it."""
        if strategy == "rows":
            return "rows", frozenset()
        with api_errors():
            recent = await self._client.recent_contact_imports()
        if strategy == "api" and recent is None:
            raise UserFacingError(
                "This account does not have Resend's Contact Imports API (a beta). "
                "Use strategy 'rows' (or 'auto', which picks it by itself)."
            )
        if recent is None:
            return "rows", frozenset()
        return "api", frozenset(job.id for job in recent)

    async def _check_columns(
        self,
        names: Sequence[str],
        columns: Mapping[str, str],
        new_properties: Mapping[str, PropertyType],
        create_missing: bool,
    ) -> dict[str, PropertyType]:
        """Property key → type for every property column, or a clear error. The schema as
        read in the last minute (by the preview, usually) will do: Resend checks each
        value again as it is written, and a row it refuses is reported."""
        schema = {p.key: p.type for p in await self._schema.properties()}
        problems: list[str] = []
        types: dict[str, PropertyType] = {}
        for target in dict.fromkeys(columns.values()):
            if target in BUILT_IN_TARGETS:
                continue
            if target in schema:
                type_ = schema[target]
                if not _importable_type(type_):
                    problems.append(
                        f"property {target!r} has type {clean(type_, 20)!r}, which imports "
                        "cannot fill (only string and number); map the column to 'skip'"
                    )
                    continue
                types[target] = type_
            elif target in new_properties:
                if not create_missing:
                    problems.append(
                        f"property {target!r} does not exist: pass create_missing_properties=true "
                        "to create it, or map the column to 'skip'"
                    )
                elif not PROPERTY_KEY.fullmatch(target) or target.lower() in RESERVED_PROPERTY_KEYS:
                    problems.append(f"{target!r} cannot be a property key")
                types[target] = new_properties[target]
        try:
            # The shape of the map (columns exist, one email, no target twice) is checked
            # by the same rules the preview uses.
            check_column_map(names, columns, types)
        except ValueError as exc:
            problems.insert(0, str(exc).removeprefix("The column map has problems: ").rstrip("."))
        if problems:
            raise UserFacingError("The column map has problems: " + "; ".join(problems) + ".")
        return types

    async def _create_properties(self, types: Mapping[str, PropertyType]) -> None:
        if {p.key for p in await self._schema.properties()}.issuperset(types):
            return
        # Read afresh: a property created elsewhere since the columns were checked is not
        # created twice.
        existing = {p.key for p in await self._schema.properties(fresh=True)}
        for key, type_ in types.items():
            if key not in existing:
                await self._schema.create_property(key, type_)

    def _write_reports(self, plan: ImportPlan, summary: ImportSummary) -> ImportSummary:
        """Write the failure report and the summary; the summary, naming both files (the
        copy on disk too)."""
        folder = plan.report_dir
        failures_path = folder / "failures.csv"
        written = write_failure_report(failures_path, plan.journal.failures())
        summary_path = folder / "summary.json"
        summary = summary.model_copy(
            update={
                "failures_file": str(failures_path) if written else None,
                "summary_file": str(summary_path),
            }
        )
        private_file(summary_path).write_text(
            json.dumps(summary.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8"
        )
        return summary


def _interrupted(plan: ImportPlan, strategy: Literal["api", "rows"]) -> ImportSummary:
    counts = plan.journal.counts()
    return ImportSummary(
        strategy=strategy,
        dry_run=plan.dry_run,
        rows=plan.total_rows,
        created=counts.get("created", 0),
        updated=counts.get("updated", 0),
        skipped=counts.get("skipped", 0),
        failed=counts.get("failed", 0),
        duplicates=counts.get("duplicate", 0),
        notes=[*plan.notes, "Cancelled: run the same import again to continue."],
    )


def _forget_old_imports(folder: Path, max_age_days: float) -> None:
    """Remove journals and reports of imports untouched for `max_age_days`."""
    if not folder.is_dir():
        return
    cutoff = time.time() - max_age_days * 86400
    for entry in folder.iterdir():
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime >= cutoff:
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.suffix == ".lock" and not entry.with_suffix("").exists():
                entry.unlink()  # the lock of an import whose journal is gone


def _check_source(source: ImportSource) -> None:
    given = [source.path, source.text, source.upload]
    if sum(value is not None for value in given) != 1:
        raise UserFacingError(
            "Give exactly one of `path` (a CSV file), `csv_text` (CSV content) or `upload` "
            "(an upload's id)."
        )
    if source.text is not None and len(source.text.encode("utf-8")) > MAX_INLINE_BYTES:
        raise UserFacingError(
            f"csv_text is over {MAX_INLINE_BYTES // (1024 * 1024)} MB; save it to a file in an "
            "import folder and pass `path` instead."
        )


def _thread_progress(progress: Progress) -> Any:
    """A callback a worker thread can call to report progress on the event loop."""

    def report(rows: int) -> None:
        async def send() -> None:
            await progress(rows, None, f"read {counted(rows, 'row')}")

        # Outside a worker thread (a direct call) there is no event loop to report to.
        with contextlib.suppress(RuntimeError):
            anyio.from_thread.run(send)

    return report


async def _off_loop(work: Callable[[], T]) -> T:
    """Run blocking file work in a worker thread; file format problems become user errors."""
    try:
        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except CSVFormatError as exc:
        raise UserFacingError(f"The CSV cannot be read: {exc}") from None


def _importable_type(type_: str) -> TypeGuard[PropertyType]:
    """Whether imports can fill a property of this type (Resend also has types they cannot)."""
    return type_ in ("string", "number")
