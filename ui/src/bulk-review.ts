// The bulk review screen (MCP Apps View) for update_contacts (an undo of a bulk change
// too, and a merge of duplicates), delete_contacts and forget_contacts (a person's
// erasure).
//
// The host hands it the tool's result. A preview shows here with Approve and Cancel;
// both call `approve_run`, an app-only tool, with the one-time nonce the server put in
// the result's `_meta` (which hosts give the screen and never the model). Approve starts
// exactly the previewed run; the screen then follows it with get_job (progress, ETA,
// Cancel) and shows the outcome and its files. The protocol is the official App class's.

import { cancelJob, FAILED_JOB, nextJobAnswer } from "./follow";
import { Formats, shown } from "./format";
import { connectToHost, download as hostDownload, screenApp, tellModel } from "./host";
import {
  type Approval,
  type FileLink,
  type Job,
  type Preview,
  readApproval,
  readCancelled,
  readFileLinks,
  readJobAnswer,
  readPreview,
  readRun,
  readText,
} from "./shapes";
import { type LastReport, readStoppedAt } from "./stopped";
import { View } from "./view";

type Phase = "waiting" | "review" | "deciding" | "running" | "done";

const app = screenApp("contacts-mcp-bulk-review");
const view = new View(new Formats());

let phase: Phase = "waiting";
let preview: Preview | null = null;
let approval: Approval | null = null;
let expiry: ReturnType<typeof setTimeout> | undefined;
let closed = false;
// The job being followed, for Cancel the run.
let current: Job | null = null;
// Its last progress seen while it worked: the step names what its count counts, which a
// cancelled job's own message no longer says.
let lastSeen: LastReport | null = null;
// Cancel the run asked for and not yet answered: its answer says where the run stopped.
let stopping = false;

// Handlers are set before connectToHost() at the end: the host may send the result right
// after the handshake.

app.ontoolresult = (result) => {
  if (phase !== "waiting") return; // this screen reviews one answer
  if (result.isError) {
    phase = "done";
    view.showProblem("Nothing to review", readText(result.content) || "The tool refused.");
    return;
  }
  preview = readPreview(result.structuredContent);
  if (preview !== null) {
    approval = readApproval(result._meta);
    phase = "review";
    const expiresAt = approval?.expiresAt || preview.expiresAt;
    view.showPreview(preview, approval !== null, expiresAt);
    const left = Date.parse(expiresAt) - Date.now();
    if (approval !== null && !Number.isNaN(left)) {
      expiry = setTimeout(
        () => {
          if (phase === "review") view.expired();
        },
        Math.max(0, left),
      );
    }
    return;
  }
  const run = readRun(result.structuredContent);
  if (run !== null) {
    void follow(run, result.content); // confirmed in the conversation: nothing to approve
    return;
  }
  phase = "done";
  view.showProblem(
    "Nothing to review",
    readText(result.content) || "This answer holds no preview.",
  );
};

app.ontoolcancelled = () => {
  if (phase !== "waiting") return;
  phase = "done";
  view.showProblem(
    "No preview",
    "The preview was cancelled before it finished: nothing was changed.",
  );
};

app.onteardown = () => {
  closed = true;
  clearTimeout(expiry);
  return {};
};

view.approve.addEventListener("click", () => void decide(true));
view.cancel.addEventListener("click", () => void decide(false));
view.stop.button.addEventListener("click", () => void stopRun());
view.prev.addEventListener("click", () => view.turnPage(-1));
view.next.addEventListener("click", () => view.turnPage(1));

/** Approve (run exactly the preview) or Cancel (spend the nonce; nothing runs). */
async function decide(approve: boolean): Promise<void> {
  if (phase !== "review" || approval === null || preview === null) return;
  phase = "deciding";
  clearTimeout(expiry);
  view.deciding(approve);
  const what = previewed(preview);
  let result;
  try {
    result = await app.callServerTool({
      name: "approve_run",
      arguments: { nonce: approval.nonce, approve },
    });
  } catch (error) {
    phase = "done";
    view.showProblem(
      "No answer",
      `The server did not answer (${String(error)}). ` +
        (approve
          ? "The change may have started: ask the assistant to check its jobs (get_job)."
          : "Nothing runs without an approval."),
    );
    return;
  } finally {
    approval = null; // spent by its first use, whatever the answer
  }
  if (result.isError) {
    phase = "done";
    view.showProblem(approve ? "Not approved" : "Cancelled", readText(result.content));
    return;
  }
  if (!approve || readCancelled(result.structuredContent)) {
    phase = "done";
    view.showDeclined(readText(result.content) || "Cancelled: nothing was changed.");
    tellModel(app, `The person cancelled ${what} in the review screen: nothing was changed.`);
    return;
  }
  const run = readRun(result.structuredContent);
  if (run === null) {
    phase = "done";
    view.showProblem("Approved", readText(result.content));
    return;
  }
  tellModel(app, `The person approved ${what} in the review screen: job ${run.id}.`);
  await follow(run, result.content);
}

/** Show a job's progress until it ends, then its outcome. */
async function follow(job: Job, content: unknown): Promise<void> {
  phase = "running";
  current = job;
  seen(job);
  view.showRun(job);
  while (job.status === "working" && !closed) {
    let answer;
    try {
      answer = await nextJobAnswer(app, job.id, () => !closed);
    } catch (error) {
      view.showError(
        `Lost touch with the run (${String(error)}). ` +
          `It goes on: ask the assistant about job ${job.id}.`,
      );
      return;
    }
    if (answer === null) break; // closed
    const next = answer.isError ? null : readJobAnswer(answer.structuredContent);
    const failed = answer.isError ? FAILED_JOB.exec(readText(answer.content)) : null;
    if (failed !== null && phase === "running") {
      finish({ ...job, status: "failed", error: failed[3], outcome: null }, answer.content);
      return;
    }
    if (next === null) {
      view.showError(
        readText(answer.content) || `No news of job ${job.id}: ask the assistant about it.`,
      );
      return;
    }
    if (phase !== "running") return; // Cancel the run already showed its end
    if (next.status === "cancelled" && stopping) return; // its answer shows the end
    job = current = next;
    content = answer.content;
    seen(job);
    view.progress(job);
  }
  if (!closed) finish(job, content);
}

/** Keep a working job's last progress, for what it did should it stop. */
function seen(job: Job): void {
  if (job.status === "working")
    lastSeen = { kind: job.kind, step: job.message, done: job.done, total: job.total };
}

/** Where the run stood when it ended: the step seen last, if it is the same count. */
function lastReport(job: Job, stoppedAt: string | null): LastReport {
  let step = stoppedAt;
  if (step === null && job.status === "failed" && job.message) step = job.message;
  if (step === null && lastSeen?.done === job.done && lastSeen.total === job.total)
    step = lastSeen.step;
  return { kind: job.kind || preview?.kind || "", step, done: job.done, total: job.total };
}

async function stopRun(): Promise<void> {
  if (phase !== "running" || current === null) return;
  const id = current.id;
  stopping = true;
  view.stop.stopping();
  try {
    const answer = await cancelJob(app, id);
    stopping = false;
    const job = answer.isError ? null : readJobAnswer(answer.structuredContent);
    if (job === null) {
      view.stopFailed(readText(answer.content) || "The run could not be cancelled.");
    } else if (job.status !== "working" && phase === "running") {
      finish(job, answer.content, readStoppedAt(answer.structuredContent));
    }
  } catch (error) {
    stopping = false;
    view.stopFailed(`The run could not be cancelled (${String(error)}).`);
  }
}

function finish(job: Job, content: unknown, stoppedAt: string | null = null): void {
  if (phase === "done") return;
  phase = "done";
  view.showOutcome(job, readFileLinks(content), download, lastReport(job, stoppedAt));
  const outcome = job.outcome;
  const f = view.formats;
  tellModel(
    app,
    job.status === "completed" && outcome?.action === "forget"
      ? `The approved erasure finished (job ${job.id}): ` +
          `${f.count(outcome.done)} of ${f.counted(outcome.selected, "person", "people")} ` +
          `forgotten, ${f.count(outcome.failed)} not completely; the screen shows the receipt.`
      : job.status === "completed" && outcome?.action === "undo"
        ? `The approved undo finished (job ${job.id}): ${outcome.done} of ` +
          `${outcome.selected} put back, ${outcome.changedSince} left alone (changed again ` +
          `since), ${outcome.refused} kept unsubscribed, ${outcome.gone} deleted since, ` +
          `${outcome.failed} failed.`
        : job.status === "completed" && outcome?.action === "merge"
          ? `The approved merge finished (job ${job.id}): ` +
            `${f.counted(outcome.selected, "contact")} merged into one, ` +
            `${outcome.done} deleted after the kept one took what they held, ` +
            `${outcome.failed} could not be deleted.`
          : job.status === "completed" && outcome !== null
            ? `The approved ${outcome.action} finished (job ${job.id}): ` +
              `${outcome.done} of ${outcome.selected} done, ${outcome.failed} failed.`
            : `The approved run (job ${job.id}) ended: ${job.status}.`,
  );
}

/** The preview in words, for the model: "the previewed delete of 3 contacts". */
function previewed(preview: Preview): string {
  const f = view.formats;
  return preview.kind === "forget"
    ? `the previewed erasure of ${f.counted(preview.count, "person", "people")}`
    : preview.undo !== null
      ? `the previewed undo of job ${preview.undo.job} (${f.counted(preview.count, "contact")})`
      : preview.merge !== null
        ? `the previewed merge of ${f.counted(preview.count, "contact")} into ` +
          shown(preview.merge.keep)
        : `the previewed ${preview.kind} of ${f.counted(preview.count, "contact")}`;
}

/** The hook for files the server offers as resources (contacts-mcp://files/…). */
function download(link: FileLink): void {
  hostDownload(app, link, view);
}

connectToHost(app, view);
