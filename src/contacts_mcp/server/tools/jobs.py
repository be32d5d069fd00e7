"""Jobs at the MCP surface: start work and wait within a budget, and one tool, `get_job`,
that waits on, reports on and cancels any job.

A tool that starts a job returns its result when the job ends within the server's wait
budget (20 s by default, under every host's 60 s timeout), or the job's handle: status,
progress, an estimate of the time left, and the `get_job` call that goes on waiting.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from contacts_mcp.api.imports import ContactImport
from contacts_mcp.server.file_resources import file_uri, files_text, serve_job_files
from contacts_mcp.server.screens import JOB_VIEW, screen
from contacts_mcp.server.toolkit import State, ToolContext, hints, result, run, services
from contacts_mcp.services.jobs import MAX_WAIT_SECONDS, JobView, spoken_duration
from contacts_mcp.text.sanitize import clean, label
from contacts_mcp.text.words import counted

if TYPE_CHECKING:
    from contacts_mcp.services.jobs import Job, Progress, Work

__all__ = ["JobKind", "JobOut", "register_job_tools", "start_and_wait"]

R = TypeVar("R", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class JobKind(Generic[R]):
    """How a kind of job is run again from its journaled arguments, and shown when done."""

    name: str
    result: type[R]
    work: Callable[[State, Mapping[str, Any]], Work]
    text: Callable[[R], str]
    # Whether the work writes to the account; a read-only server resumes and stops only
    # jobs that do not.
    writes: bool = True
    # Account-wide upkeep (a sync of the mirror): every caller may see and wait on it.
    shared: bool = False
    # What the journal keeps of the arguments once the job ended (None: all of them).
    ended_arguments: Callable[[State, Mapping[str, Any]], dict[str, Any]] | None = None


class JobOut(JobView, Generic[T]):
    """A job-running tool's answer: the result when the job ended in time, else the handle."""

    result: T | None = Field(default=None, description="Set once status is completed.")
    file_uris: dict[str, str] | None = Field(
        default=None, description="The result's files as resources: field → URI."
    )


class JobsOut(BaseModel):
    job: JobOut[dict[str, Any]] | None = Field(default=None, description="The job asked for.")
    recent: list[JobView] = Field(default_factory=list, description="Without a job_id.")
    api_import: ContactImport | None = Field(
        default=None, description="For the id of a Resend Contact Imports API import."
    )
    stopped_at: str | None = Field(
        default=None, description="On cancel: its last step before it stopped."
    )


def increasing(ctx: ToolContext) -> Progress:
    """`ctx.report_progress`, passing on only reports that move forward and are not final.

    MCP requires each progress notification of a request to be greater than the last;
    work reports phases ("reading the file", "uploading part 1") at the same count. A
    report that reaches the total comes just before the result, and a notification sent
    with the result is dropped by the TypeScript SDK with an error: the result says it.
    """
    last: float | None = None

    async def report(progress: float, total: float | None, message: str) -> None:
        nonlocal last
        if (last is not None and progress <= last) or (total and progress >= total):
            return
        last = progress
        await ctx.report_progress(progress, total, message)

    return report


def working_text(job: Job) -> str:
    return working_text_for(job.view())


def working_text_for(view: JobView) -> str:
    """A working job as the model reads it: where it stands, and the call that waits."""
    done = f"{view.done}" + (f" of {view.total}" if view.total else "")
    if view.next_call is None:  # paused: left by a stopped server, not resumed here
        return (
            f"Job {view.job_id} ({view.kind}) is paused at {done}: the server running it "
            "stopped, and this server is read-only, so it cannot take up a job that writes. "
            "What it finished is kept; ask a server that may write for this job_id to resume it."
        )
    eta = (
        f", about {spoken_duration(view.eta_seconds)} left" if view.eta_seconds is not None else ""
    )
    call = json.dumps(view.next_call["arguments"])
    return (
        f"Still running as job {view.job_id} ({clean(view.message, 80)}: {done}{eta}). It goes "
        f"on in the background: call get_job {call} to wait for it (the call returns as soon "
        "as it ends), with cancel=true to stop it."
    )


async def start_and_wait(
    ctx: ToolContext, kind: JobKind[R], arguments: Mapping[str, Any]
) -> CallToolResult:
    """Start (or join) the job for `arguments` and answer within the wait budget."""
    state = services(ctx)
    work = kind.work(state, arguments)
    job = state.jobs.start(kind.name, arguments, work, caller=state.caller(), shared=kind.shared)
    await state.jobs.wait(job, state.wait_seconds, increasing(ctx))
    return await _answer(state, job, kind)


async def _answer(state: State, job: Job, kind: JobKind[R]) -> CallToolResult:
    """The job as its tool answers: the result once completed, with the files it wrote
    served to the job's caller as resources (`server.file_resources` links them)."""
    if job.status == "failed":
        raise ToolError(job.error or f"Job {job.id} failed.")
    view = job.view()
    if job.status == "completed" and job.result is not None:
        done = kind.result.model_validate(job.result)
        served = await serve_job_files(state, job.caller, kind.name, done)
        uris = {field: file_uri(found.id) for field, found in served.items()} or None
        out = JobOut[kind.result](**view.model_dump(), result=done, file_uris=uris)  # type: ignore[name-defined]
        return result(kind.text(done) + files_text(served), out)
    if job.status == "cancelled":
        text = f"Job {job.id} ({job.kind}) was cancelled; what it finished is kept."
    else:
        text = working_text(job)
    return result(text, JobOut[kind.result](**view.model_dump()))  # type: ignore[name-defined]


def _view_line(view: JobView) -> str:
    progress = f"{view.done}" + (f"/{view.total}" if view.total else "")
    return (
        f"{view.job_id}: {view.kind}, {view.status} ({clean(view.message, 60)}, {progress}), "
        f"started {view.created_at[:16]}"
    )


def _api_import_line(job: ContactImport) -> str:
    c = job.counts
    return (
        f"Resend import {label(job.id, 40)}: {label(job.status, 20)} | {counted(c.total, 'row')}, "
        f"{c.created} created, {c.updated} updated, {c.skipped} skipped, {c.failed} failed | "
        f"started {job.created_at[:16]}"
    )


def register_job_tools(server: MCPServer[State], kinds: Mapping[str, JobKind[Any]]) -> None:
    @server.tool(annotations=hints("Wait for or cancel a job", "control"), meta=screen(JOB_VIEW))
    async def get_job(
        ctx: ToolContext,
        job_id: Annotated[
            str | SkipJsonSchema[None],
            Field(description="Omit to list recent jobs.", max_length=100),
        ] = None,
        wait_seconds: Annotated[
            float, Field(description="Wait up to this long for it to end.", ge=0, le=50)
        ] = 20,
        cancel: Annotated[bool, Field(description="Stop it; finished work is kept.")] = False,
    ) -> Annotated[CallToolResult, JobsOut]:
        """Wait for, check or cancel a job, or list recent ones; or a Resend import's id."""
        state = services(ctx)
        caller = state.caller()
        if job_id is None:
            recent = [job.view() for job in state.jobs.recent(caller=caller)]
            text = "\n".join(_view_line(view) for view in recent) or "No jobs yet."
            return result(text, JobsOut(recent=recent))
        if _is_uuid(job_id):
            found = await run(state.imports.status(job_id))
            return result(_api_import_line(found), JobsOut(api_import=found))
        job = await run(_find(state, job_id, caller))
        kind = kinds.get(job.kind)
        stopped_at: str | None = None
        if cancel:
            if state.read_only and (kind is None or kind.writes):
                raise ToolError(
                    f"Job {job.id} ({job.kind}) writes, and this server is read-only "
                    "(--read-only): it cannot stop it. Ask a server that may write."
                )
            if job.caller != caller:  # a shared job another caller started
                raise ToolError(
                    f"Job {job.id} ({job.kind}) was started by another caller, and others' "
                    "searches may be waiting on it: you can wait for it, not stop it."
                )
            # Where it stood: a cancelled job's message no longer says what its count counts.
            last_step = job.message if job.status == "working" else None
            await state.jobs.cancel(job)
            stopped_at = last_step if job.status == "cancelled" else None
        else:
            await state.jobs.wait(job, min(wait_seconds, MAX_WAIT_SECONDS), increasing(ctx))
        stopped = "" if stopped_at is None else f" Its last step: {clean(stopped_at, 80)}."
        if kind is None:  # a kind this version no longer has: report it as data
            answer = JobOut[dict[str, Any]](**job.view().model_dump(), result=job.result)
            out = JobsOut(job=answer, stopped_at=stopped_at)
            return result(_view_line(job.view()) + stopped, out)
        if job.status == "failed":
            raise ToolError(f"Job {job.id} ({job.kind}) failed: {job.error}")
        shown = await _answer(state, job, kind)
        assert isinstance(shown.structured_content, dict)
        answer = JobOut[dict[str, Any]].model_validate(shown.structured_content)
        text = shown.content[0].text if shown.content[0].type == "text" else ""
        return result(text + stopped, JobsOut(job=answer, stopped_at=stopped_at))


async def _find(state: State, job_id: str, caller: str) -> Job:
    """`state.jobs.find` as an awaitable, for `run` to explain its errors."""
    return state.jobs.find(job_id, caller)


def _is_uuid(value: str) -> bool:
    from contacts_mcp.api.models import is_uuid

    return is_uuid(value.strip())
