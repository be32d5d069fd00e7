// The import review screen (MCP Apps View) for preview_import.
//
// The host hands it the tool's result: a preview of a CSV import, or, when the model gave
// no file, an error; then the screen offers a file picker and sends the file in 1 MB
// chunks through the app-only `upload_csv`, and previews it itself. The person edits the
// column mapping (each column's target: a built-in field, an existing property, a new
// property and its type, or skip) and checks it: preview_import again, whose answer
// carries a fresh one-time nonce in `_meta` approving exactly that mapping. Import calls
// the app-only `approve_import` with the nonce of the latest check of the mapping shown,
// and the person's on-conflict choice; the screen then follows the job with get_job
// (progress, ETA, Cancel the run) and shows the summary and the failure report.

import { cancelJob, nextJobAnswer } from "./follow";
import { Formats, shown } from "./format";
import {
  connectToHost,
  download as hostDownload,
  screenApp,
  tellModel,
  type ToolResult,
} from "./host";
import { knownProperties, mappingArguments, mappingOf, signature } from "./import-mapping";
import {
  type ImportJob,
  type ImportPreview,
  type ImportSummary,
  type Property,
  readImportRun,
  readJobOf,
  readPreview,
  readPreviewJob,
  readProperties,
  readSummary,
  readUpload,
} from "./import-shapes";
import { ImportView } from "./import-view";
import {
  type Approval,
  type FileLink,
  type Job,
  readApproval,
  readCancelled,
  readFileLinks,
  readText,
} from "./shapes";

// The most of the file one upload_csv call carries (the server takes up to 1 MiB).
const CHUNK_BYTES = 1024 * 1024;
// Pages of list_contact_properties read for the target lists (100 a page).
const MAX_PROPERTY_PAGES = 10;

type Phase =
  | "waiting"
  | "picking"
  | "uploading"
  | "reading"
  | "review"
  | "checking"
  | "deciding"
  | "running"
  | "done";

const app = screenApp("contacts-mcp-import-review");
const view = new ImportView(new Formats());

let phase: Phase = "waiting";
// The model's arguments to preview_import, when the host sends them.
let input: Record<string, unknown> | null = null;
// The CSV text of an inline source: the preview's import_arguments hold a placeholder.
let csvText: string | null = null;
let preview: ImportPreview | null = null;
// The approval of the latest check, and the mapping it approves.
let approval: Approval | null = null;
let approved = "";
let expired = false;
let expiry: ReturnType<typeof setTimeout> | undefined;
let properties: Property[] | null = null;
// The names of the files the person sent, by upload id (the server names an upload by id).
const uploadNames = new Map<string, string>();
let closed = false;
// The import being followed, for Cancel the run.
let current: Job | null = null;

class Refused extends Error {}

// Handlers are set before connectToHost() at the end: the host may send the result right
// after the handshake.

app.ontoolinput = (params) => {
  input = params.arguments ?? {};
  if (typeof input.csv_text === "string") csvText = input.csv_text;
};

app.ontoolresult = (result) => {
  if (phase !== "waiting") return; // this screen reviews one answer; then its own
  if (result.isError) {
    const text = readText(result.content);
    phase = "picking";
    if (input !== null ? !hasSource(input) : /pick a CSV file/.test(text)) {
      view.showPicker(
        "Import contacts from a CSV file",
        "Choose the file to import. You will see how its columns map to contact fields, " +
          "and the rows with problems, before anything is imported.",
      );
    } else {
      view.showPicker("The file could not be read", "Choose a CSV file from this device instead.");
      view.showError(text || "The preview was refused.");
    }
    return;
  }
  phase = "reading";
  void landed(result, "Reading the file").then((found) => {
    if (found === null) {
      phase = "picking";
      view.showPicker("The file could not be read", "Choose a CSV file from this device instead.");
      view.showError(lastProblem);
      return;
    }
    void review(found.preview, found.approval, false);
  });
};

app.ontoolcancelled = () => {
  if (phase !== "waiting") return;
  phase = "done";
  view.showProblem(
    "No preview",
    "The preview was cancelled before it finished: nothing was imported.",
  );
};

app.onteardown = () => {
  closed = true;
  clearTimeout(expiry);
  return {};
};

view.onedit = () => refresh();
view.choose.addEventListener("click", () => view.file.click());
view.other.addEventListener("click", () => view.file.click());
view.again.addEventListener("click", () => view.file.click());
view.file.addEventListener("change", () => {
  const file = view.file.files?.[0];
  view.file.value = ""; // the same file may be chosen again
  if (file) void upload(file);
});
view.check.addEventListener("click", () => void checkMapping());
view.importButton.addEventListener("click", () => void decide(true));
view.cancel.addEventListener("click", () => void decide(false));
view.stop.button.addEventListener("click", () => void stopRun());

function hasSource(args: Record<string, unknown>): boolean {
  return ["path", "csv_text", "upload"].some((key) => typeof args[key] === "string");
}

// -- a preview ----------------------------------------------------------------------

// Why the last preview did not land, for the picker to show.
let lastProblem = "";

/** A preview_import answer, once its job has ended (followed with get_job meanwhile). */
async function landed(
  result: ToolResult,
  reading: string,
  onProgress: (job: Job) => void = (job) =>
    view.showBusy(reading, job.message, job.done, job.total ?? undefined),
): Promise<{ preview: ImportPreview; approval: Approval | null } | null> {
  const nonce = readApproval(result._meta);
  const answer = readPreviewJob(result.structuredContent);
  if (answer === null) {
    lastProblem = readText(result.content) || "This answer holds no preview.";
    return null;
  }
  if (answer.job.status === "working") onProgress(answer.job);
  const ended = await poll(answer, result.content, readPreview, onProgress, () => !closed);
  if (ended === null) {
    lastProblem = `Lost touch with the preview (job ${answer.job.id}).`;
    return null;
  }
  if (ended.job.status !== "completed" || ended.result === null) {
    lastProblem = shown(ended.job.error ?? `The preview ${ended.job.status}.`, 1000);
    return null;
  }
  return { preview: ended.result, approval: nonce };
}

/** Show a preview to review: its mapping becomes the checked one. */
async function review(
  next: ImportPreview,
  nextApproval: Approval | null,
  focus: boolean,
): Promise<void> {
  const listed = await loadProperties();
  const upload = next.importArguments.upload;
  const name = typeof upload === "string" ? uploadNames.get(upload) : undefined;
  if (name !== undefined) next = { ...next, file: name };
  preview = next;
  approval = nextApproval;
  const mapping = mappingOf(next);
  approved = signature(mapping);
  expired = false;
  phase = "review";
  view.showPreview(next, mapping, knownProperties(next, listed), approval !== null);
  armExpiry();
  refresh();
  if (focus) document.getElementById("title")?.focus();
}

function armExpiry(): void {
  clearTimeout(expiry);
  if (approval === null) return;
  const left = Date.parse(approval.expiresAt) - Date.now();
  if (Number.isNaN(left)) return;
  expiry = setTimeout(
    () => {
      expired = true;
      refresh();
    },
    Math.max(0, left),
  );
}

/** Import is offered only for the mapping the latest check approved, unexpired. */
function refresh(): void {
  if (phase !== "review" || preview === null) return;
  if (!view.valid()) view.mappingState("invalid");
  else if (signature(view.current()) !== approved) view.mappingState("edited");
  else if (approval === null) view.mappingState("none");
  else if (expired) view.mappingState("expired");
  else if (preview.importableRows === 0) view.mappingState("empty");
  else view.mappingState("checked");
}

async function loadProperties(): Promise<Property[]> {
  if (properties !== null) return properties;
  const found: Property[] = [];
  let after: string | null = null;
  try {
    for (let page = 0; page < MAX_PROPERTY_PAGES; page += 1) {
      const answer = await app.callServerTool({
        name: "list_contact_properties",
        arguments: after === null ? {} : { after },
      });
      if (answer.isError) break;
      const listed = readProperties(answer.structuredContent);
      found.push(...listed.properties);
      after = listed.next;
      if (after === null) break;
    }
  } catch {
    // The preview's own columns still name the properties it maps to.
  }
  properties = found;
  return found;
}

/** The preview's source, for checking another mapping of the same file. */
function sourceOf(shownPreview: ImportPreview): Record<string, unknown> | null {
  const given = shownPreview.importArguments;
  const source: Record<string, unknown> = {};
  if (typeof given.path === "string") source.path = given.path;
  else if (typeof given.upload === "string") source.upload = given.upload;
  else if ("csv_text" in given && csvText !== null) source.csv_text = csvText;
  else return null;
  for (const key of ["encoding", "delimiter", "has_header"]) {
    if (given[key] !== undefined) source[key] = given[key];
  }
  return source;
}

async function checkMapping(): Promise<void> {
  if (phase !== "review" || preview === null || !view.valid()) return;
  const source = sourceOf(preview);
  if (source === null) {
    view.showError(
      "The host did not give this screen the CSV text, so it cannot check another mapping: " +
        "ask the assistant to preview the file again with it.",
    );
    return;
  }
  const { columns, newProperties } = mappingArguments(view.current());
  const args: Record<string, unknown> = { ...source, columns };
  if (Object.keys(newProperties).length > 0) args.new_properties = newProperties;
  phase = "checking";
  view.clearError();
  view.mappingState("checking");
  let result: ToolResult;
  try {
    result = await app.callServerTool({ name: "preview_import", arguments: args });
  } catch (error) {
    phase = "review";
    refresh();
    view.showError(`The server did not answer (${String(error)}). Try again.`);
    return;
  }
  if (result.isError) {
    phase = "review";
    refresh();
    view.showError(readText(result.content) || "The server did not accept this mapping.");
    return;
  }
  const found = await landed(result, "", () => undefined);
  if (found === null) {
    phase = "review";
    refresh();
    view.showError(lastProblem);
    return;
  }
  await review(found.preview, found.approval, false);
  const f = view.formats;
  const checked = preview ?? found.preview;
  view.checkedNote(checked);
  view.importButton.focus();
  tellModel(
    app,
    `The person edited the column mapping of ${shown(checked.file, 120)} in the import ` +
      `screen and checked it: ${f.count(checked.importableRows)} of ` +
      `${f.counted(checked.rows, "row")} importable. Nothing is imported until they ` +
      "press Import.",
  );
}

// -- the decision -------------------------------------------------------------------

/** Import (the checked mapping, with the person's on-conflict choice) or Cancel. */
async function decide(approve: boolean): Promise<void> {
  if (phase !== "review" || approval === null || preview === null) return;
  if (approve && (signature(view.current()) !== approved || expired)) return;
  const nonce = approval.nonce;
  const shownPreview = preview;
  const onConflict = view.conflict();
  phase = "deciding";
  clearTimeout(expiry);
  view.deciding(approve);
  const what = `the import of ${shown(shownPreview.file, 120)}`;
  let result: ToolResult;
  try {
    result = await app.callServerTool({
      name: "approve_import",
      arguments: approve ? { nonce, approve, on_conflict: onConflict } : { nonce, approve },
    });
  } catch (error) {
    phase = "done";
    view.showProblem(
      "No answer",
      `The server did not answer (${String(error)}). ` +
        (approve
          ? "The import may have started: ask the assistant to check its jobs (get_job)."
          : "Nothing is imported without an approval."),
    );
    return;
  } finally {
    approval = null; // spent by its first use, whatever the answer
  }
  if (result.isError) {
    phase = "done";
    view.showProblem(approve ? "Not imported" : "Cancelled", readText(result.content));
    return;
  }
  if (!approve || readCancelled(result.structuredContent)) {
    phase = "done";
    view.showDeclined(readText(result.content) || "Cancelled: nothing was imported.");
    tellModel(app, `The person cancelled ${what} in the import screen: nothing was imported.`);
    return;
  }
  const run = readImportRun(result.structuredContent);
  if (run === null) {
    phase = "done";
    view.showProblem("Approved", readText(result.content));
    return;
  }
  tellModel(
    app,
    `The person approved ${what} in the import screen, existing contacts ` +
      `${onConflict === "upsert" ? "updated" : "left as they are"}: job ${run.job.id}.`,
  );
  await follow(run, result.content);
}

/** Show the import's progress until it ends, then its summary. */
async function follow(run: ImportJob<ImportSummary>, content: unknown): Promise<void> {
  phase = "running";
  current = run.job;
  view.showRun(run.job);
  const ended = await poll(
    run,
    content,
    readSummary,
    (job) => {
      current = job;
      view.progress(job);
    },
    () => phase === "running",
  );
  if (ended !== null && phase === "running") finish(ended.job, ended.result, ended.content);
}

/** Follow a job with get_job until it ends; null when touch was lost (said) or no longer
 * wanted. */
async function poll<R>(
  start: ImportJob<R>,
  content: unknown,
  read: (result: unknown) => R | null,
  onProgress: (job: Job) => void,
  wanted: () => boolean,
): Promise<{ job: Job; result: R | null; content: unknown } | null> {
  let { job, result } = start;
  while (job.status === "working" && !closed && wanted()) {
    let answer: ToolResult | null;
    try {
      answer = await nextJobAnswer(app, job.id, () => !closed && wanted());
    } catch (error) {
      view.showError(
        `Lost touch with job ${job.id} (${String(error)}). ` +
          "It goes on: ask the assistant about it.",
      );
      return null;
    }
    if (answer === null) break; // closed, or no longer wanted
    const next = answer.isError ? null : readJobOf(answer.structuredContent, read);
    if (next === null) {
      view.showError(
        readText(answer.content) || `No news of job ${job.id}: ask the assistant about it.`,
      );
      return null;
    }
    if (!wanted()) return null;
    ({ job, result } = next);
    content = answer.content;
    onProgress(job);
  }
  return closed || !wanted() ? null : { job, result, content };
}

async function stopRun(): Promise<void> {
  if (phase !== "running" || current === null) return;
  const id = current.id;
  view.stop.stopping();
  try {
    const answer = await cancelJob(app, id);
    const stopped = answer.isError ? null : readJobOf(answer.structuredContent, readSummary);
    if (stopped === null) {
      view.stopFailed(readText(answer.content) || "The import could not be cancelled.");
    } else if (stopped.job.status !== "working" && phase === "running") {
      finish(stopped.job, stopped.result, answer.content);
    }
  } catch (error) {
    view.stopFailed(`The import could not be cancelled (${String(error)}).`);
  }
}

function finish(job: Job, summary: ImportSummary | null, content: unknown): void {
  if (phase === "done") return;
  phase = "done";
  view.showSummary(job, summary, readFileLinks(content), download);
  tellModel(
    app,
    job.status === "completed" && summary !== null
      ? `The approved import finished (job ${job.id}): ${summary.created} created, ` +
          `${summary.updated} updated, ${summary.skipped} skipped, ${summary.failed} failed, ` +
          `${summary.duplicates} duplicates.`
      : `The approved import (job ${job.id}) ended: ${job.status}.`,
  );
}

// -- a file from the person's machine ---------------------------------------------------

/** Send `file` in chunks through upload_csv, then preview it. */
async function upload(file: File): Promise<void> {
  if (phase !== "picking" && phase !== "review" && phase !== "done") return;
  phase = "uploading";
  clearTimeout(expiry);
  approval = null; // the file shown before is left: its approval expires unused
  const f = view.formats;
  const name = (file.name || "upload.csv").slice(0, 200);
  const sending = `Sending ${shown(name, 120)}`;
  view.showBusy(sending, `0 of ${f.counted(file.size, "byte")}`, 0, file.size);
  let id: string | null = null;
  try {
    let offset = 0;
    for (;;) {
      const end = Math.min(file.size, offset + CHUNK_BYTES);
      const bytes = new Uint8Array(await file.slice(offset, end).arrayBuffer());
      const last = end >= file.size;
      const args: Record<string, unknown> = { data: base64(bytes), offset, name, done: last };
      if (id !== null) args.upload_id = id;
      const answer = await app.callServerTool({ name: "upload_csv", arguments: args });
      if (answer.isError) throw new Refused(readText(answer.content) || "The server refused it.");
      const held = readUpload(answer.structuredContent);
      if (held === null) throw new Refused("The server's answer was not understood.");
      if (held.size <= offset && !held.done) throw new Refused("The server took none of it.");
      id = held.uploadId;
      offset = held.size;
      view.showBusy(
        sending,
        `${f.count(Math.min(offset, file.size))} of ${f.counted(file.size, "byte")} sent`,
        offset,
        file.size,
      );
      if (held.done) break;
      if (last) throw new Refused("The server did not take the whole file.");
    }
  } catch (error) {
    phase = "picking";
    view.showPicker("Choose a CSV file", "Choose the file again, or another one.");
    const why = error instanceof Refused ? error.message : `no answer (${String(error)})`;
    view.showError(`${name} was not sent: ${why}`);
    return;
  }
  if (id !== null) uploadNames.set(id, name);
  phase = "reading";
  csvText = null;
  const reading = `Reading ${shown(name, 120)}`;
  view.showBusy(reading, "Checking its format, columns and rows…");
  let result: ToolResult;
  try {
    result = await app.callServerTool({ name: "preview_import", arguments: { upload: id } });
  } catch (error) {
    result = { content: [{ type: "text", text: `No answer (${String(error)}).` }], isError: true };
  }
  const found = result.isError ? null : await landed(result, reading);
  if (found === null) {
    phase = "picking";
    view.showPicker("The file could not be read", "Choose another CSV file.");
    view.showError(result.isError ? readText(result.content) : lastProblem);
    return;
  }
  await review(found.preview, found.approval, true);
  tellModel(
    app,
    `The person chose ${shown(name, 120)} in the import screen (upload ${id}): ` +
      `${f.count(found.preview.importableRows)} of ${f.counted(found.preview.rows, "row")} ` +
      "importable. Nothing is imported until they press Import.",
  );
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

// -- the host -------------------------------------------------------------------------

/** The hook for files the server offers as resources (contacts-mcp://files/…). */
function download(link: FileLink): void {
  hostDownload(app, link, view);
}

connectToHost(app, view);
