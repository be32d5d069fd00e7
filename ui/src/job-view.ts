// The job view (MCP Apps View) for get_job.
//
// The host hands it get_job's answer. One job shows with its progress (bar, step, ETA)
// and Cancel while it works, followed live with get_job (`wait_seconds: 5`) until it
// ends; then its result, in a form fit for its kind, and its files as downloads. A job
// cancelled or failed says what it got done before it stopped. Without a job_id, the
// answer is the recent jobs, each openable here; a Resend import id shows that import.

import { cancelJob, FAILED_JOB, nextJobAnswer } from "./follow";
import { Formats } from "./format";
import { connectToHost, download as hostDownload, screenApp, tellModel } from "./host";
import { JobScreen, kindName } from "./job-render";
import { type JobInfo, readJobsAnswer } from "./job-shapes";
import { type FileLink, readFileLinks, readText } from "./shapes";
import type { LastReport } from "./stopped";

const app = screenApp("contacts-mcp-job-view");
const view = new JobScreen(
  new Formats(),
  (id) => {
    personActed = true;
    void open(id, true);
  },
  download,
);

let closed = false;
// The model's call: what it asked, and whether its answer came.
let asked: { jobId: string | null; cancel: boolean } | null = null;
let answered = false;
// The job on screen, and how it got there.
let current: JobInfo | null = null;
let fromList = false;
// The last progress seen of the current job while it worked: its step names what its
// count counts, which a cancelled job's own message no longer says.
let lastSeen: LastReport | null = null;
// Bumped whenever another job (or the list) is shown: older follow loops end.
let generation = 0;
let following: string | null = null;
// Cancel asked for and not yet answered: its answer says where the job stopped.
let stopping = false;
// The recent list as last shown, for what it knows of a job that failed.
let listed = new Map<string, JobInfo>();
// The person pressed a button here: what it shows takes the focus.
let personActed = false;

// Handlers are set before connectToHost() at the end.

// The model's arguments come before its answer, which may wait up to 50 s for the job to
// end: a job is looked up and followed here at once, so its progress shows meanwhile.
app.ontoolinput = ({ arguments: args }) => {
  if (asked !== null) return;
  const jobId = typeof args?.job_id === "string" ? args.job_id.trim() : null;
  asked = { jobId, cancel: args?.cancel === true };
  if (jobId !== null && jobId.startsWith("job_") && !asked.cancel) {
    view.waiting(jobId);
    void open(jobId, false);
  }
};

app.ontoolresult = (result) => {
  if (answered) return; // this screen shows one answer; the person goes on from there
  answered = true;
  if (result.isError) {
    const message = readText(result.content) || "get_job refused.";
    const failed = FAILED_JOB.exec(message);
    if (failed !== null) {
      failedJob(failed[1], message);
      return;
    }
    if (current === null) view.showProblem("No job to show", message);
    return;
  }
  const answer = readJobsAnswer(result.structuredContent);
  if (answer === null) {
    view.showProblem("No job to show", readText(result.content) || "This answer holds no job.");
  } else if (answer.job !== null) {
    present(answer.job, result.content, answer.stoppedAt);
  } else if (answer.apiImport !== null) {
    generation += 1;
    view.showApiImport(answer.apiImport, focusing());
  } else {
    showList(answer.recent);
  }
};

app.ontoolcancelled = () => {
  if (current === null && !answered) {
    view.showProblem("No answer", "The call was cancelled before it answered.");
  }
};

app.onteardown = () => {
  closed = true;
  generation += 1;
  return {};
};

view.stop.button.addEventListener("click", () => void stopJob());
view.back.addEventListener("click", () => void list());
view.refresh.addEventListener("click", () => void list());
for (const button of [view.stop.button, view.back, view.refresh]) {
  button.addEventListener("click", () => (personActed = true), { capture: true });
}

function showList(jobs: JobInfo[]): void {
  generation += 1;
  following = null;
  current = null;
  listed = new Map(jobs.map((job) => [job.id, job]));
  view.showRecent(jobs, focusing());
}

/** The recent jobs, asked afresh. */
async function list(): Promise<void> {
  view.refreshing();
  try {
    const answer = await app.callServerTool({ name: "get_job", arguments: {} });
    const jobs = answer.isError ? null : readJobsAnswer(answer.structuredContent);
    if (jobs === null) {
      view.showProblem("No jobs", readText(answer.content) || "The jobs could not be listed.");
    } else {
      showList(jobs.recent);
    }
  } catch (error) {
    view.showProblem("No answer", `The jobs could not be listed (${String(error)}).`);
  }
}

/** Show a job (from the model's call, or opened from the list), and follow it. */
async function open(id: string, fromTheList: boolean): Promise<void> {
  const mine = ++generation;
  following = null;
  fromList = fromTheList;
  const known = listed.get(id);
  if (fromTheList && known?.status === "failed") {
    // get_job answers a failed job with its reason only: the list has the rest.
    current = known;
    lastSeen = null;
    view.showEnded(known, [], true, report(known, null), focusing());
    return;
  }
  let answer;
  try {
    answer = await app.callServerTool({
      name: "get_job",
      arguments: { job_id: id, wait_seconds: 0 },
    });
  } catch (error) {
    if (mine === generation)
      view.showProblem("No answer", `Job ${id} could not be looked up (${String(error)}).`);
    return;
  }
  // Another job (or the list) was shown meanwhile, or the answer to the model's call
  // already shows this one and follows it.
  if (mine !== generation) return;
  if (answer.isError) {
    const message = readText(answer.content) || `Job ${id} could not be looked up.`;
    if (FAILED_JOB.test(message)) failedJob(id, message);
    else view.showProblem("No such job", message);
    return;
  }
  const found = readJobsAnswer(answer.structuredContent)?.job ?? null;
  if (found === null) view.showProblem("No such job", readText(answer.content));
  else present(found, answer.content, null);
}

/** Where the job stood when it ended: the step seen last, if it is the same count. */
function report(job: JobInfo, stoppedAt: string | null): LastReport {
  let step = stoppedAt;
  if (step === null && job.status === "failed") step = job.message; // kept as it failed
  if (
    step === null &&
    lastSeen !== null &&
    lastSeen.done === job.done &&
    lastSeen.total === job.total
  )
    step = lastSeen.step;
  return { kind: job.kind, step, done: job.done, total: job.total };
}

/** A job as an answer tells it: shown, and followed while it works. */
function present(job: JobInfo, content: unknown, stoppedAt: string | null): void {
  const same = current !== null && current.id === job.id;
  if (!same) lastSeen = null;
  if (same && current!.status !== "working" && stoppedAt === null) return; // ended: final
  if (job.status === "working") {
    const fresh = !same || current!.status !== "working";
    current = job;
    lastSeen = { kind: job.kind, step: job.message, done: job.done, total: job.total };
    if (fresh && !stopping) view.showWorking(job, fromList, focusing());
    else view.progress(job);
    if (!job.paused && following !== job.id) void follow(job.id);
    return;
  }
  if (job.status === "cancelled" && stopping && stoppedAt === null) {
    return; // the cancel's own answer says where it stopped
  }
  current = job;
  following = null;
  view.showEnded(job, readFileLinks(content), fromList, report(job, stoppedAt), focusing());
}

/** get_job refused a failed job: its reason, and what was seen of it before. */
function failedJob(id: string, message: string): void {
  generation += 1;
  following = null;
  const kind = FAILED_JOB.exec(message)?.[2] ?? current?.kind ?? "";
  const reason = FAILED_JOB.exec(message)?.[3] ?? message;
  const last: LastReport | null = lastSeen ?? (current?.id === id ? report(current, null) : null);
  current = { ...(current ?? ({} as JobInfo)), id, kind, status: "failed", error: reason };
  const seen = last ?? { kind, step: null, done: 0, total: null };
  view.showFailed(id, reason, seen, fromList, focusing());
}

/** Follow a working job with get_job until it ends (or another is shown). */
async function follow(id: string): Promise<void> {
  const mine = ++generation;
  following = id;
  while (mine === generation && !closed) {
    let answer;
    try {
      answer = await nextJobAnswer(app, id, () => mine === generation && !closed);
    } catch (error) {
      view.showError(
        `Lost touch with the job (${String(error)}). It goes on: ask the assistant about ` +
          `job ${id}.`,
      );
      following = null;
      return;
    }
    if (answer === null || mine !== generation) return;
    if (answer.isError) {
      const message = readText(answer.content) || `No news of job ${id}.`;
      if (FAILED_JOB.test(message)) failedJob(id, message);
      else view.showError(message);
      following = null;
      return;
    }
    const next = readJobsAnswer(answer.structuredContent)?.job ?? null;
    if (next === null) {
      view.showError(readText(answer.content) || `No news of job ${id}: ask the assistant.`);
      following = null;
      return;
    }
    following = id;
    present(next, answer.content, null);
    if (next.status !== "working" || next.paused) {
      if (following === id) following = null;
      return;
    }
  }
}

async function stopJob(): Promise<void> {
  if (current === null || current.status !== "working" || stopping) return;
  const { id, kind } = current;
  stopping = true;
  view.stop.stopping();
  let answer;
  try {
    answer = await cancelJob(app, id);
  } catch (error) {
    stopping = false;
    view.stopFailed(`The job could not be cancelled (${String(error)}).`);
    return;
  }
  stopping = false;
  const found = answer.isError ? null : readJobsAnswer(answer.structuredContent);
  if (found?.job == null) {
    const message = readText(answer.content) || "The job could not be cancelled.";
    if (FAILED_JOB.test(message)) failedJob(id, message);
    else view.stopFailed(message);
    return;
  }
  if (found.job.status === "cancelled") {
    tellModel(app, `The person cancelled job ${id} (${kindName(kind)}) in the job view.`);
  }
  present(found.job, answer.content, found.stoppedAt);
}

/** Hand a file the server offers as a resource (contacts-mcp://files/…) to the host. */
function download(link: FileLink): void {
  hostDownload(app, link, view);
}

/** Whether what is shown next takes the focus: after the person acted here, or while
 * the focus is in this screen, never taken from the host's own page. */
function focusing(): boolean {
  const acted = personActed;
  personActed = false;
  return acted || document.hasFocus();
}

connectToHost(app, view);
