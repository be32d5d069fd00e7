// The search results screen (MCP Apps View) for search_contacts.
//
// The host hands it the tool's input and result. From there the screen calls the server
// itself: search_contacts for the next or previous page (keyset cursors, a stack of them
// for Previous), another sort order (header buttons, first page) and Refresh (`refresh:
// "new"`); export_contacts with the answer's `selection`, then the written file as a
// download; and a bulk change (delete, unsubscribe, add to a segment) as a preview of
// delete_contacts / update_contacts, approved or cancelled through approve_run with the
// nonce of that preview's `_meta`, then followed with get_job to its outcome.
//
// An answer with `duplicates: true` holds groups of likely duplicates instead of a page:
// the screen shows those groups, with Refresh alone (the same call, refreshed), and each
// group's Merge…, which asks the assistant to merge it (`ui/message`, a user message
// naming the group's emails and the one to keep): the merge is update_contacts with
// `merge`, previewed and approved there.

import { cancelJob, nextJobAnswer } from "./follow";
import { Formats, shown } from "./format";
import { connectToHost, download as hostDownload, screenApp, tellModel } from "./host";
import {
  type Condition,
  type DuplicateGroup,
  isSort,
  readConditions,
  readExportJob,
  readSearch,
  readSegments,
  type Search,
  type SegmentChoice,
  type Sort,
} from "./search-shapes";
import { type MergeAsking, mergeAsked, SearchView, Times } from "./search-view";
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

// update_contacts changes up to this many contacts at once, without a preview: the
// screen asks the person itself first.
const AT_ONCE = 10;
// list_segments pages read for the Add to segment choice (100 segments each).
const MAX_SEGMENT_PAGES = 10;
const DEFAULT_LIMIT = 50;

type TaskPhase = "idle" | "busy" | "confirm" | "review" | "deciding" | "running";

/** A bulk change the person asked for from this screen. */
interface Change {
  tool: "delete_contacts" | "update_contacts";
  arguments: Record<string, unknown>;
  /** In words, for the model: "delete", "unsubscribe", "add to VIP". */
  words: string;
}

const app = screenApp("contacts-mcp-search-results");
const view = new SearchView(new Formats(), new Times());

let started = false;
let conditions: Condition[] = [];
let limit = DEFAULT_LIMIT;
let sort: Sort = "newest";
let current: Search | null = null;
// The `after` of each page up to the one shown: cursors[i] led to page i.
let cursors: (string | null)[] = [null];
let offsetKnown = true;
let searching = false;
let task: TaskPhase = "idle";
let pendingChange: Change | null = null;
let preview: Preview | null = null;
let approval: Approval | null = null;
let expiry: ReturnType<typeof setTimeout> | undefined;
let running: Job | null = null;
let closed = false;
let segmentChoices: SegmentChoice[] | null = null;
// The call asked for groups of likely duplicates (`duplicates: true`), not a page.
let duplicates = false;
// The groups the person asked the assistant to merge, by their contacts' ids: asked once,
// their Merge… stays done across a refresh.
const askedMerges = new Set<string>();

// Handlers are set before connectToHost() at the end: the host may send the input and
// result right after the handshake.

app.ontoolinput = ({ arguments: args }) => {
  if (started) return;
  conditions = readConditions(args);
  const given = args ?? {};
  if (typeof given.limit === "number" && given.limit >= 1 && given.limit <= 100)
    limit = Math.floor(given.limit);
  if (isSort(given.sort)) sort = given.sort;
  if (given.duplicates === true) duplicates = true;
  if (typeof given.after === "string" && given.after !== "") {
    // The assistant's page is somewhere after the first: Previous goes to the first.
    cursors = [null, given.after];
    offsetKnown = false;
  }
  view.showConditions(conditions);
};

app.ontoolresult = (result) => {
  if (started) return; // later answers are the screen's own calls
  started = true;
  if (result.isError) {
    view.showProblem("No results", readText(result.content) || "The search was refused.");
    return;
  }
  const found = readSearch(result.structuredContent);
  if (found === null) {
    view.showProblem("No results", readText(result.content) || "This answer holds no search.");
    return;
  }
  sort = found.sort;
  if (found.duplicates !== null) {
    duplicates = true;
    current = found;
    render(found);
    return;
  }
  if (found.count > 0 && found.contacts.length === 0) {
    // A count only: the screen fetches the first page itself.
    cursors = [null];
    offsetKnown = true;
    current = found;
    render(found);
    void search({ after: null }).then((ok) => ok || rerender());
    return;
  }
  current = found;
  render(found);
};

app.ontoolcancelled = () => {
  if (started) return;
  started = true;
  view.showProblem("No results", "The search was cancelled before it finished.");
};

app.onteardown = () => {
  closed = true;
  clearTimeout(expiry);
  return {};
};

// -- searching ------------------------------------------------------------------------

function render(found: Search): void {
  if (found.duplicates !== null) {
    view.showDuplicates(found, found.duplicates, merging());
    view.actionsEnabled(false);
    return;
  }
  const page = cursors.length - 1;
  const offset = offsetKnown ? page * limit : null;
  view.showSearch(found, offset, page > 0);
  view.actionsEnabled(task === "idle" && found.count > 0);
}

/** Search again: the page after `after` in the current order, optionally refreshed. */
async function search(options: { after: string | null; refresh?: boolean }): Promise<boolean> {
  if (searching) return false;
  searching = true;
  view.searching(true);
  if (options.refresh) view.refreshing(true);
  view.clearError();
  const args: Record<string, unknown> = duplicates
    ? { where: [], duplicates: true }
    : { where: conditions, limit, sort };
  if (options.after !== null && !duplicates) args.after = options.after;
  if (options.refresh) args.refresh = "new";
  let ok = false;
  try {
    const result = await app.callServerTool({ name: "search_contacts", arguments: args });
    const found = result.isError ? null : readSearch(result.structuredContent);
    if (found === null) {
      view.showError(readText(result.content) || "The search gave no results.");
    } else {
      current = found;
      ok = true;
    }
  } catch (error) {
    view.showError(`The search did not answer (${String(error)}).`);
  } finally {
    searching = false;
    view.searching(false);
    if (options.refresh) view.refreshing(false);
  }
  if (ok && current !== null) render(current);
  return ok;
}

/** After a search, put back the focus a disabled button lost (on the same button, or
 * the one beside it when it is now disabled). */
function refocus(button: HTMLButtonElement, instead?: HTMLButtonElement): void {
  const target = button.disabled && instead !== undefined ? instead : button;
  if (!target.disabled) target.focus();
}

function rerender(): void {
  if (current !== null) render(current);
}

async function turnPage(delta: 1 | -1): Promise<void> {
  if (current === null || searching) return;
  if (delta === 1) {
    const after = current.nextAfter;
    if (after === null) return;
    cursors.push(after);
    if (!(await search({ after }))) {
      cursors.pop();
      rerender();
    }
    refocus(view.next, view.prev);
  } else {
    if (cursors.length < 2) return;
    const dropped = cursors.pop()!;
    const known = offsetKnown;
    if (cursors.length === 1) offsetKnown = true; // back at the first page
    if (!(await search({ after: cursors[cursors.length - 1] ?? null }))) {
      cursors.push(dropped);
      offsetKnown = known;
      rerender();
    }
    refocus(view.prev, view.next);
  }
}

async function sortBy(column: "email" | "name" | "created"): Promise<void> {
  if (current === null || searching) return;
  const before = sort;
  sort = column === "created" ? (sort === "newest" ? "oldest" : "newest") : column;
  const saved = { cursors, offsetKnown };
  cursors = [null];
  offsetKnown = true;
  if (!(await search({ after: null }))) {
    sort = before;
    ({ cursors, offsetKnown } = saved);
    rerender();
  }
  refocus(view.sortButtons[column]);
}

async function refresh(): Promise<void> {
  if (current === null || searching) return;
  const saved = { cursors, offsetKnown };
  cursors = [null];
  offsetKnown = true;
  if (await search({ after: null, refresh: true })) {
    const found = current;
    const now =
      found.duplicates !== null
        ? `${view.formats.counted(Math.max(found.duplicateGroups, found.duplicates.length), "group")} ` +
          `of likely duplicates among ${view.formats.counted(found.count, "contact")} now`
        : `${view.formats.counted(found.count, "contact")} match now`;
    tellModel(
      app,
      `The person refreshed the search results (new contacts read from Resend): ${now}` +
        (found.refreshing ? "; the refresh goes on in the background." : "."),
    );
  } else {
    ({ cursors, offsetKnown } = saved);
    rerender();
  }
  refocus(view.refresh);
}

// -- tasks: export ----------------------------------------------------------------------

function setTask(phase: TaskPhase): void {
  task = phase;
  view.actionsEnabled(phase === "idle" && (current?.count ?? 0) > 0);
}

/** A new file name: the server writes it into its import folder, never over a file. */
function exportName(): string {
  const now = new Date();
  const pad = (n: number): string => String(n).padStart(2, "0");
  const stamp =
    `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-` +
    `${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  const suffix = Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, "0");
  return `contacts-${stamp}-${suffix}.csv`;
}

async function exportAll(): Promise<void> {
  if (current === null || task !== "idle") return;
  const found = current;
  setTask("busy");
  view.working(
    `Exporting ${view.formats.counted(found.count, "contact")}…`,
    "Writing a CSV file on the server.",
  );
  try {
    let result = await app.callServerTool({
      name: "export_contacts",
      arguments: { search: found.selection, path: exportName() },
    });
    let job = result.isError ? null : readExportJob(result.structuredContent);
    while (job !== null && job.status === "working" && !closed) {
      view.progress(job.message, job.done, job.total, null);
      // After MAX_POLL_FAILURES failed calls, its error ends the export (caught below).
      const answer = await nextJobAnswer(app, job.id, () => !closed);
      if (answer === null) break; // closed
      result = answer;
      job = result.isError ? null : readExportJob(result.structuredContent);
    }
    if (job === null || job.status !== "completed") {
      view.taskFailed(
        "Not exported",
        job?.error || readText(result.content) || "The export did not finish.",
      );
      return;
    }
    const links = readFileLinks(result.content);
    view.showExported(job.rows ?? found.count, job.file, links, download);
    tellModel(
      app,
      `The person exported the ${view.formats.counted(job.rows ?? found.count, "contact")} ` +
        `of this search from the search results screen` +
        (job.file ? ` to ${job.file}.` : "."),
    );
  } catch (error) {
    view.taskFailed("Not exported", `The server did not answer (${String(error)}).`);
  } finally {
    setTask("idle");
  }
}

/** The hook for files the server offers as resources (contacts-mcp://files/…). */
function download(link: FileLink): void {
  hostDownload(app, link, view);
}

// -- tasks: a bulk change -------------------------------------------------------------

function startChange(change: Change): void {
  if (current === null || task !== "idle") return;
  const found = current;
  view.showSegmentPick(false);
  if (change.tool === "update_contacts" && found.count <= AT_ONCE) {
    // The server changes so few at once, as update_contact would: the screen asks first.
    pendingChange = change;
    setTask("confirm");
    const label = change.words.charAt(0).toUpperCase() + change.words.slice(1);
    view.confirmSmall(
      `${label}: ${view.formats.counted(found.count, "contact")}?`,
      "A change this small runs at once, without a preview from the server.",
      `${label} ${view.formats.count(found.count)}`,
      false,
    );
    return;
  }
  void askForPreview(change);
}

async function askForPreview(change: Change): Promise<void> {
  setTask("busy");
  pendingChange = change;
  view.working("Preparing the preview…", "Nothing is written until you approve.");
  let result;
  try {
    result = await app.callServerTool({ name: change.tool, arguments: change.arguments });
  } catch (error) {
    view.taskFailed("No preview", `The server did not answer (${String(error)}).`);
    setTask("idle");
    return;
  }
  if (result.isError) {
    view.taskFailed("No preview", readText(result.content) || "The change was refused.");
    setTask("idle");
    return;
  }
  const found = readPreview(result.structuredContent);
  if (found !== null) {
    preview = found;
    approval = readApproval(result._meta);
    setTask(approval === null ? "idle" : "review");
    const expiresAt = approval?.expiresAt || found.expiresAt;
    view.showPreview(found, approval !== null, expiresAt);
    const left = Date.parse(expiresAt) - Date.now();
    if (approval !== null && !Number.isNaN(left)) {
      clearTimeout(expiry);
      expiry = setTimeout(
        () => {
          if (task === "review") {
            approval = null;
            view.expired();
            setTask("idle");
          }
        },
        Math.max(0, left),
      );
    }
    return;
  }
  const run = readRun(result.structuredContent);
  if (run !== null) {
    tellModel(
      app,
      `The person asked the search results screen to ${change.words} the ` +
        `${view.formats.counted(current?.count ?? 0, "matching contact")}: job ${run.id}.`,
    );
    await follow(run, result.content);
    return;
  }
  view.taskFailed("No preview", readText(result.content) || "This answer holds no preview.");
  setTask("idle");
}

/** Approve or Cancel: of the server's preview (approve_run), or of a small change the
 * screen asked about itself. */
async function decide(approve: boolean): Promise<void> {
  if (task === "confirm" && pendingChange !== null) {
    if (approve) {
      await askForPreview(pendingChange);
    } else {
      setTask("idle");
      view.showDeclined("Cancelled: nothing was changed.");
    }
    return;
  }
  if (task !== "review" || approval === null || preview === null) return;
  setTask("deciding");
  clearTimeout(expiry);
  view.deciding(approve);
  const what =
    `the previewed ${pendingChange?.words ?? preview.kind} of ` +
    view.formats.counted(preview.count, "contact");
  let result;
  try {
    result = await app.callServerTool({
      name: "approve_run",
      arguments: { nonce: approval.nonce, approve },
    });
  } catch (error) {
    view.taskFailed(
      "No answer",
      `The server did not answer (${String(error)}). ` +
        (approve
          ? "The change may have started: ask the assistant to check its jobs (get_job)."
          : "Nothing runs without an approval."),
    );
    setTask("idle");
    return;
  } finally {
    approval = null; // spent by its first use, whatever the answer
  }
  if (result.isError) {
    view.taskFailed(approve ? "Not approved" : "Cancelled", readText(result.content));
    setTask("idle");
    return;
  }
  if (!approve || readCancelled(result.structuredContent)) {
    view.showDeclined(readText(result.content) || "Cancelled: nothing was changed.");
    setTask("idle");
    tellModel(
      app,
      `The person cancelled ${what} in the search results screen: nothing was changed.`,
    );
    return;
  }
  const run = readRun(result.structuredContent);
  if (run === null) {
    view.taskFailed("Approved", readText(result.content));
    setTask("idle");
    return;
  }
  tellModel(app, `The person approved ${what} in the search results screen: job ${run.id}.`);
  await follow(run, result.content);
}

/** Show a job's progress until it ends, then its outcome, then the search again. */
async function follow(job: Job, content: unknown): Promise<void> {
  setTask("running");
  running = job;
  view.showRun(job);
  while (job.status === "working" && !closed) {
    let answer;
    try {
      answer = await nextJobAnswer(app, job.id, () => !closed);
    } catch (error) {
      view.taskFailed(
        "Lost touch with the run",
        `${String(error)}. It goes on: ask the assistant about job ${job.id}.`,
      );
      setTask("idle");
      return;
    }
    if (answer === null) break; // closed
    const next = answer.isError ? null : readJobAnswer(answer.structuredContent);
    if (next === null) {
      view.taskFailed(
        "No news of the run",
        readText(answer.content) || `Ask the assistant about job ${job.id}.`,
      );
      setTask("idle");
      return;
    }
    if (task !== "running") return; // Cancel the run already showed its end
    job = running = next;
    content = answer.content;
    view.progress(job.message, job.done, job.total, job.etaSeconds);
  }
  if (!closed) await finish(job, content);
}

async function stopRun(): Promise<void> {
  if (task !== "running" || running === null) return;
  const id = running.id;
  view.stop.stopping();
  try {
    const answer = await cancelJob(app, id);
    const job = answer.isError ? null : readJobAnswer(answer.structuredContent);
    if (job === null) {
      view.stopFailed(readText(answer.content) || "The run could not be cancelled.");
    } else if (job.status !== "working" && task === "running") {
      await finish(job, answer.content);
    }
  } catch (error) {
    view.stopFailed(`The run could not be cancelled (${String(error)}).`);
  }
}

async function finish(job: Job, content: unknown): Promise<void> {
  if (task !== "running") return;
  setTask("busy");
  running = null;
  view.showOutcome(job, readFileLinks(content), download);
  const outcome = job.outcome;
  tellModel(
    app,
    job.status === "completed" && outcome !== null
      ? `The ${outcome.action} approved in the search results screen finished (job ${job.id}): ` +
          `${outcome.done} of ${outcome.selected} done, ${outcome.failed} failed.`
      : `The run approved in the search results screen (job ${job.id}) ended: ${job.status}.`,
  );
  // The results as they are now: the first page again, in the same order.
  cursors = [null];
  offsetKnown = true;
  if (!(await search({ after: null }))) rerender();
  setTask("idle");
}

// -- Add to segment: the account's segments ---------------------------------------------

async function openSegmentPick(): Promise<void> {
  if (task !== "idle") return;
  const open = byIdHidden("segment-pick");
  view.showSegmentPick(open);
  if (!open) return;
  if (segmentChoices !== null) {
    view.segmentOptions(segmentChoices);
    view.segmentChoice.focus();
    return;
  }
  view.segmentOptions([], true);
  const found: SegmentChoice[] = [];
  let after: string | null = null;
  try {
    for (let page = 0; page < MAX_SEGMENT_PAGES; page += 1) {
      const args: Record<string, unknown> = after === null ? {} : { after };
      const result = await app.callServerTool({ name: "list_segments", arguments: args });
      if (result.isError) {
        view.showError(readText(result.content) || "The segments could not be listed.");
        break;
      }
      const listed = readSegments(result.structuredContent);
      found.push(...listed.segments);
      after = listed.nextAfter;
      if (after === null) break;
    }
  } catch (error) {
    view.showError(`The segments could not be listed (${String(error)}).`);
  }
  segmentChoices = found;
  view.segmentOptions(found);
  view.segmentChoice.focus();
}

function byIdHidden(id: string): boolean {
  return document.getElementById(id)?.hidden === true;
}

function addToSegment(): void {
  if (current === null) return;
  const id = view.segmentChoice.value;
  const segment = segmentChoices?.find((s) => s.id === id);
  if (!segment) return;
  startChange({
    tool: "update_contacts",
    arguments: { search: current.selection, add_segments: [segment.id] },
    words: `add to ${segment.name}`,
  });
}

// -- merging a group of duplicates ------------------------------------------------------

function groupKey(group: DuplicateGroup): string {
  return group.contacts
    .map((c) => c.id)
    .sort()
    .join(" ");
}

/** What the person asks the assistant, as their own message: "Merge these duplicates,
 * keeping ada@gmail.com: ada@gmail.com, a.da+news@googlemail.com". */
function mergeMessage(group: DuplicateGroup): string {
  const emails = group.contacts.map((c) => shown(c.email, 320));
  const kept = group.contacts.find((c) => c.id === group.keep);
  return kept
    ? `Merge these duplicates, keeping ${shown(kept.email, 320)}: ${emails.join(", ")}`
    : `Merge these duplicates (choose the one to keep): ${emails.join(", ")}`;
}

function merging(): MergeAsking {
  return {
    canAsk: app.getHostCapabilities()?.message !== undefined,
    asked: (group) => askedMerges.has(groupKey(group)),
    ask: (group, button) => void askToMerge(group, button),
  };
}

/** Merge…: the group goes to the assistant as the person's message; the screen merges
 * nothing itself. */
async function askToMerge(group: DuplicateGroup, button: HTMLButtonElement): Promise<void> {
  const key = groupKey(group);
  if (askedMerges.has(key)) return;
  askedMerges.add(key);
  mergeAsked(button, true);
  view.clearError();
  const text = mergeMessage(group);
  let refused: string | null = null;
  try {
    const answer = await app.sendMessage({ role: "user", content: [{ type: "text", text }] });
    if (answer.isError) refused = "the host did not take it";
  } catch (error) {
    refused = String(error);
  }
  if (refused === null) return;
  askedMerges.delete(key);
  if (button.isConnected) {
    mergeAsked(button, false);
    button.focus();
  }
  view.showError(
    `The message to the assistant was not sent (${refused}): ask it yourself. ${text}`,
  );
}

// -- wiring -----------------------------------------------------------------------------

view.prev.addEventListener("click", () => void turnPage(-1));
view.next.addEventListener("click", () => void turnPage(1));
view.sortButtons.email.addEventListener("click", () => void sortBy("email"));
view.sortButtons.name.addEventListener("click", () => void sortBy("name"));
view.sortButtons.created.addEventListener("click", () => void sortBy("created"));
view.refresh.addEventListener("click", () => void refresh());
view.exportButton.addEventListener("click", () => void exportAll());
view.deleteButton.addEventListener("click", () => {
  if (current !== null)
    startChange({
      tool: "delete_contacts",
      arguments: { search: current.selection },
      words: "delete",
    });
});
view.unsubscribe.addEventListener("click", () => {
  if (current !== null)
    startChange({
      tool: "update_contacts",
      arguments: { search: current.selection, unsubscribed: true },
      words: "unsubscribe",
    });
});
view.addSegment.addEventListener("click", () => void openSegmentPick());
view.segmentGo.addEventListener("click", () => addToSegment());
view.approve.addEventListener("click", () => void decide(true));
view.cancel.addEventListener("click", () => void decide(false));
view.stop.button.addEventListener("click", () => void stopRun());

connectToHost(app, view, (locale, timeZone) => {
  view.formats = new Formats(locale, timeZone);
  view.times = new Times(locale, timeZone);
  if (current !== null) render(current);
});
