// The job view's DOM: a job's progress and its result, the recent jobs, a Resend import.
// Everything shown from the server goes through textContent (see dom.ts), cleaned and
// capped by `shown` where it is data.

import { byId, el, facts, fill, lines, show } from "./dom";
import { fileName, type Formats, shown, stepLine } from "./format";
import {
  type ApiImport,
  counts,
  exportRows,
  issueCount,
  type JobInfo,
  pairs,
  text,
  texts,
} from "./job-shapes";
import { downloadButton, showCount, stopButton } from "./progress";
import { ScreenView } from "./screen";
import { type FileLink, type Outcome, readOutcome } from "./shapes";
import { type LastReport, whatWasDone } from "./stopped";
import {
  forgetFacts,
  leftAlone,
  MERGE_SNAPSHOT,
  mergeFacts,
  merged,
  mergedText,
  mergeUndo,
  outcomeFacts,
  people,
  RECEIPT_SHOWN,
  receiptCaption,
  receiptCell,
  undoFacts,
} from "./view";

/** How each kind of job is named. */
const KINDS: Record<string, string> = {
  import: "Import",
  preview: "Import preview",
  export: "Export",
  update: "Bulk update",
  delete: "Bulk delete",
  undo: "Undo of a bulk change",
  merge: "Merge of duplicates",
  sync: "Sync of the search mirror",
  forget: "Forget people",
};
const STATUS = {
  working: "Running",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
} as const;
/** The files a result names, by field, as a person knows them. */
const FILES: Record<string, string> = {
  file: "The export",
  snapshot_file: "Snapshot (import it to bring the contacts back)",
  failures_file: "Not done, with the reasons",
  summary_file: "Summary",
};
/** Where a kind's file is better named otherwise: field → name. */
const KIND_FILES: Record<string, Record<string, string>> = {
  merge: { snapshot_file: MERGE_SNAPSHOT, failures_file: "Not deleted, with the reasons" },
  // Of the contacts it deleted again (an import's, a restore's): an undo of it restores them.
  undo: { snapshot_file: MERGE_SNAPSHOT },
};
/** Rows of an export shown inline. */
const ROWS_SHOWN = 5;

export function kindName(kind: string): string {
  return KINDS[kind] ?? (kind ? shown(kind, 40) : "Job");
}

export class JobScreen extends ScreenView {
  readonly stop = stopButton(byId<HTMLButtonElement>("stop"), "Cancel the job");
  readonly back = byId<HTMLButtonElement>("back");
  readonly refresh = byId<HTMLButtonElement>("refresh");
  private readonly heading = byId("job-title");

  constructor(
    public formats: Formats,
    /** Open a job of the recent list. */
    private readonly open: (id: string) => void,
    /** Download a file the server offers as a resource. */
    private readonly download: (link: FileLink) => void,
  ) {
    super();
  }

  private only(section: "recent" | "job" | "api-import" | null): void {
    for (const id of ["recent", "job", "api-import"] as const) show(byId(id), id === section);
    this.clearError();
  }

  /** The model asked about a job: shown as soon as its first news comes. */
  waiting(id: string): void {
    this.only(null);
    this.title.textContent = "A job";
    this.lead.textContent = `Looking up job ${shown(id, 100)}…`;
  }

  // -- the recent jobs ----------------------------------------------------------------

  showRecent(jobs: JobInfo[], focus: boolean): void {
    const f = this.formats;
    this.only("recent");
    this.title.textContent = "Recent jobs";
    this.lead.textContent = jobs.length
      ? "The long work of imports, exports, bulk changes, erasures and syncs. Open one to " +
        "follow it or see its result."
      : "";
    byId("recent-caption").textContent = jobs.length
      ? `The latest ${f.counted(jobs.length, "job")}, newest first.`
      : "";
    show(byId("recent-wrap"), jobs.length > 0);
    show(byId("recent-empty"), jobs.length === 0);
    fill(
      byId("recent-body"),
      ...jobs.map((job) => {
        const name = kindName(job.kind);
        const open = el(
          "button",
          { attrs: { type: "button", "aria-label": `Open ${name} job ${shown(job.id, 100)}` } },
          name,
          el("span", { className: "sub", text: shown(job.id, 100) }),
        );
        open.addEventListener("click", () => this.open(job.id));
        const counted =
          job.status === "working" && job.total !== null
            ? `${f.count(job.done)} of ${f.count(job.total)}`
            : "";
        return el(
          "tr",
          {},
          el("td", {}, open),
          el(
            "td",
            {},
            badge(job.status, job.paused),
            ...(counted ? [el("span", { className: "sub", text: counted })] : []),
          ),
          el("td", { text: f.when(job.createdAt) }),
        );
      }),
    );
    this.refresh.disabled = false;
    this.refresh.textContent = "Refresh";
    if (focus) this.title.focus();
  }

  refreshing(): void {
    this.refresh.disabled = true;
    this.refresh.textContent = "Refreshing…";
  }

  // -- one job ------------------------------------------------------------------------

  /** The job's frame: its name, status, and when. `fromList` offers the way back. */
  private frame(job: JobInfo, fromList: boolean): void {
    const f = this.formats;
    this.only("job");
    this.title.textContent = kindName(job.kind);
    this.lead.textContent = "";
    const status = byId("job-status");
    status.replaceWith(badge(job.status, job.paused, "job-status"));
    const meta: [string, string][] = [["Job", shown(job.id, 100)]];
    if (job.createdAt) meta.push(["Started", f.when(job.createdAt)]);
    if (job.updatedAt && job.status !== "working") meta.push(["Ended", f.when(job.updatedAt)]);
    fill(
      byId("job-meta"),
      ...meta.flatMap(([label, value]) => [el("dt", { text: label }), el("dd", { text: value })]),
    );
    show(byId("back-bar"), fromList);
  }

  /** A working job: its progress, the time left, and Cancel. */
  showWorking(job: JobInfo, fromList: boolean, focus: boolean): void {
    this.frame(job, fromList);
    show(byId("live"));
    show(byId("ended"), false);
    this.heading.textContent = job.paused ? "Paused" : "Running…";
    show(this.stop.button, !job.paused);
    this.stop.ready();
    this.progress(job);
    if (focus) this.heading.focus();
  }

  progress(job: JobInfo): void {
    const f = this.formats;
    showCount(byId<HTMLProgressElement>("bar"), job.done, job.total);
    byId("progress").textContent = stepLine(job.message, job.done, job.total, f);
    byId("eta").textContent = job.paused
      ? "Nothing runs it now: the server running it stopped, and this one may not take it " +
        "up. Ask the assistant to resume it on a server that may write."
      : job.etaSeconds !== null
        ? `${f.duration(job.etaSeconds).replace(/^a/, "A")} left.`
        : "Working out the time left…";
  }

  stopFailed(message: string): void {
    this.stop.ready();
    this.showError(message);
  }

  /** A job that ended: its result (completed), or what it did before it stopped. */
  showEnded(
    job: JobInfo,
    links: FileLink[],
    fromList: boolean,
    last: LastReport,
    focus: boolean,
  ): void {
    this.frame(job, fromList);
    show(byId("live"), false);
    show(byId("ended"));
    const endedText = byId("ended-text");
    endedText.className = "";
    endedText.textContent = "";
    show(byId("stopped"), false);
    show(byId("rows"), false);
    const receipt = document.getElementById("receipt");
    if (receipt !== null) show(receipt, false);
    lines(byId("result-notes"), []);
    facts(byId("result-facts"), []);
    if (job.status === "completed" && job.result !== null) {
      this.showResult(job.kind, job.result, job.id);
    } else if (job.status === "completed") {
      this.heading.textContent = "Completed";
    } else {
      this.heading.textContent =
        job.status === "cancelled" ? "The job was cancelled" : "The job failed";
      if (job.status === "failed")
        endedText.textContent = shown(job.error ?? job.message ?? "It failed.", 1000);
      this.showStopped(last, job.status === "cancelled" ? "cancelled" : "failed");
    }
    this.showFiles(job, links);
    if (focus) this.heading.focus();
  }

  /** get_job refused a failed job with its reason: what is known of it besides. */
  showFailed(
    id: string,
    reason: string,
    last: LastReport,
    fromList: boolean,
    focus: boolean,
  ): void {
    const job: JobInfo = {
      id,
      kind: last.kind,
      status: "failed",
      message: "",
      done: last.done,
      total: last.total,
      etaSeconds: null,
      createdAt: "",
      updatedAt: "",
      error: reason,
      paused: false,
      result: null,
      fileUris: {},
    };
    this.showEnded(job, [], fromList, last, focus);
  }

  private showStopped(last: LastReport, how: "cancelled" | "failed"): void {
    const told = whatWasDone(last, how, this.formats);
    byId("stopped-done").textContent = told.done;
    byId("stopped-rest").textContent = told.rest;
    show(byId("stopped"));
    facts(byId("result-facts"), told.facts);
  }

  private showResult(kind: string, result: Record<string, unknown>, id: string): void {
    const f = this.formats;
    const endedText = byId("ended-text");
    let rows: [string, string][] = [];
    let notes = texts(result, "notes");
    if (kind === "delete" || kind === "update") {
      const isDelete = kind === "delete";
      const outcome = readOutcome(result);
      if (outcome === null) return;
      this.heading.textContent =
        `${isDelete ? "Deleted" : "Updated"} ${f.count(outcome.done)} of ` +
        f.counted(outcome.selected, "contact");
      endedText.textContent = outcome.failed
        ? `${f.counted(outcome.failed, "contact")} failed: the file below says why.`
        : "Finished, with no failures.";
      endedText.className = outcome.failed ? "" : "ok";
      rows = outcomeFacts(outcome, isDelete, f);
      if (outcome.noLongerMatching)
        notes = [
          ...notes,
          "Left untouched, no longer matching the search when it ran: " +
            outcome.noLongerMatchingSample.map((e) => shown(e)).join(", "),
        ];
    } else if (kind === "undo") {
      // A job read later does not say whether it undid an update or a delete: the facts
      // are an update's undo's (a delete's undo has none already as before, kept
      // unsubscribed or deleted since).
      const outcome = readOutcome(result);
      if (outcome === null) return;
      this.heading.textContent =
        `Put back ${f.count(outcome.done)} of ` + f.counted(outcome.selected, "contact");
      endedText.textContent = outcome.failed
        ? `${f.counted(outcome.failed, "contact")} failed: the file below says why.`
        : "Finished, with no failures.";
      endedText.className = outcome.failed ? "" : "ok";
      rows = undoFacts(outcome, false, f);
      notes = [...notes, ...leftAlone(outcome, f)];
    } else if (kind === "merge") {
      const outcome = readOutcome(result);
      if (outcome === null) return;
      this.heading.textContent = merged(outcome, f);
      endedText.textContent = mergedText(outcome, f);
      endedText.className = outcome.failed ? "" : "ok";
      rows = mergeFacts(outcome, f);
      notes = [...notes, mergeUndo(id)];
    } else if (kind === "forget") {
      const outcome = readOutcome(result);
      if (outcome === null) return;
      this.heading.textContent = `Forgot ${f.count(outcome.done)} of ${people(f, outcome.selected)}`;
      endedText.textContent = outcome.failed
        ? `${people(f, outcome.failed)} not forgotten completely: each line below says ` +
          "why. Run forget_contacts again for them once what held them is free; what was " +
          "removed stays removed."
        : "Finished: everyone named is forgotten here.";
      endedText.className = outcome.failed ? "" : "ok";
      rows = forgetFacts(outcome, f);
      notes = [...outcome.notes, ...(outcome.notCovered ? [outcome.notCovered] : [])];
      this.showReceipt(outcome);
    } else if (kind === "export") {
      const c = counts(result, "rows", "requests", "seconds");
      const columns = texts(result, "columns");
      this.heading.textContent = `Exported ${f.counted(c.rows, "contact")}`;
      endedText.textContent = text(result, "file")
        ? "The file is below, to download."
        : "The rows came inline (no file was asked for).";
      endedText.className = "ok";
      rows = [
        ["Rows", f.count(c.rows)],
        ["Columns", f.count(columns.length)],
        ["API requests", f.count(c.requests)],
        ["Took", f.took(c.seconds)],
      ];
      notes = [
        ...(result.refreshed === true ? ["The search mirror was synced first."] : []),
        ...pairs(result, "freshness").map(([cols, when]) => `${shown(cols)}: ${shown(when)}.`),
      ];
      this.showRows(columns, exportRows(result, ROWS_SHOWN), c.rows);
    } else if (kind === "import") {
      const c = counts(
        result,
        "rows",
        "created",
        "updated",
        "skipped",
        "failed",
        "duplicates",
        "resumed_rows",
        "requests",
        "seconds",
      );
      const dry = result.dry_run === true;
      this.heading.textContent = dry
        ? `Dry run of ${f.counted(c.rows, "row")}: nothing was imported`
        : `Imported ${f.counted(c.created + c.updated, "contact")} from ${f.counted(c.rows, "row")}`;
      endedText.textContent = c.failed
        ? `${f.counted(c.failed, "row")} failed: the file below says why.`
        : "Finished, with no failures.";
      endedText.className = c.failed ? "" : "ok";
      rows = [
        ["Rows", f.count(c.rows)],
        ["Created", f.count(c.created)],
        ["Updated", f.count(c.updated)],
        ["Skipped", f.count(c.skipped)],
        ["Failed", f.count(c.failed)],
        ["Duplicates", f.count(c.duplicates)],
      ];
      if (c.resumed_rows) rows.push(["Done by an earlier run", f.count(c.resumed_rows)]);
      rows.push(["API requests", f.count(c.requests)], ["Took", f.took(c.seconds)]);
      const ids = texts(result, "import_ids");
      if (ids.length)
        notes = [...notes, `Resend import ${ids.map((id) => shown(id, 60)).join(", ")}.`];
    } else if (kind === "preview") {
      const c = counts(result, "rows", "importable_rows", "size_bytes");
      const file = text(result, "file");
      this.heading.textContent = `${f.count(c.importable_rows)} of ${f.counted(c.rows, "row")} importable`;
      endedText.textContent = file
        ? `The preview of ${shown(file, 200)}: nothing was imported. Ask the assistant to import it.`
        : "Nothing was imported. Ask the assistant to import it.";
      const columns = Array.isArray(result.columns) ? result.columns.length : 0;
      rows = [
        ["Rows", f.count(c.rows)],
        ["Importable", f.count(c.importable_rows)],
        ["Invalid emails", f.count(issueCount(result, "invalid_emails"))],
        ["Duplicates", f.count(issueCount(result, "duplicate_emails"))],
        ["Values that do not fit", f.count(issueCount(result, "type_problems"))],
        ["Malformed rows", f.count(issueCount(result, "malformed_rows"))],
        ["Columns", f.count(columns)],
        ["New properties", f.count(pairs(result, "new_properties").length)],
      ];
    } else if (kind === "sync") {
      const c = counts(
        result,
        "contacts",
        "new_contacts",
        "segments",
        "properties_read",
        "requests",
        "seconds",
      );
      const mode = text(result, "mode");
      this.heading.textContent = `Synced: ${f.counted(c.contacts, "contact")} in the mirror`;
      endedText.textContent = mode
        ? `A ${shown(mode, 40)} sync of the search mirror.`
        : "The search mirror is synced.";
      endedText.className = "ok";
      rows = [
        ["Contacts", f.count(c.contacts)],
        ["New", f.count(c.new_contacts)],
        ["Segments", f.count(c.segments)],
        ["Properties read", f.count(c.properties_read)],
        ["API requests", f.count(c.requests)],
        ["Took", f.took(c.seconds)],
      ];
    } else {
      this.heading.textContent = "Completed";
      rows = Object.entries(result).flatMap(([key, value]) =>
        typeof value === "number" ? [[shown(key, 40), f.count(value)] as [string, string]] : [],
      );
    }
    facts(byId("result-facts"), rows);
    lines(
      byId("result-notes"),
      notes.map((note) => shown(note, 1000)),
    );
  }

  /** A forget's receipt: per person, by reference (the job keeps no address), what was
   * done at Resend and here. */
  private showReceipt(outcome: Outcome): void {
    const f = this.formats;
    const receipts = outcome.people;
    const table = this.receiptTable();
    show(table.section, receipts.length > 0);
    table.caption.textContent = receiptCaption(f, outcome.finishedAt, receipts.length);
    // Said once, not on each row: a job read later has each person by reference only.
    const byReference = receipts.every((r) => r.email === null);
    table.note.textContent = byReference
      ? "This job keeps people by reference only (a keyed hash of the address): their " +
        "addresses were shown only to the call that ran it."
      : "";
    show(table.note, byReference);
    table.who.textContent = byReference ? "Reference" : "Person";
    fill(
      table.body,
      ...receipts
        .slice(0, RECEIPT_SHOWN)
        .map((r) =>
          el(
            "tr",
            {},
            el(
              "td",
              {},
              r.email !== null ? shown(r.email) : shown(r.person, 80),
              ...(r.email !== null
                ? [el("span", { className: "sub", text: `Reference ${shown(r.person, 80)}` })]
                : []),
              ...(r.forgotten ? [] : [el("span", { className: "tag", text: "not forgotten" })]),
            ),
            receiptCell(r, f),
          ),
        ),
    );
  }

  /** The receipt's section, before the notes (made once: the page has no place for it). */
  private receiptTable(): {
    section: HTMLElement;
    note: HTMLElement;
    who: HTMLElement;
    caption: HTMLElement;
    body: HTMLElement;
  } {
    if (document.getElementById("receipt") === null) {
      const person = el("th", { attrs: { id: "receipt-who", scope: "col" } });
      person.style.width = "40%"; // a reference is short; what was done, long
      const section = el(
        "section",
        { attrs: { id: "receipt", "aria-labelledby": "receipt-title" } },
        el("h2", { text: "Receipt", attrs: { id: "receipt-title" } }),
        el("p", { className: "muted", attrs: { id: "receipt-note" } }),
        el(
          "div",
          {
            className: "table-wrap",
            attrs: { role: "region", "aria-labelledby": "receipt-title", tabindex: "0" },
          },
          el(
            "table",
            { attrs: { id: "receipt-table" } },
            el("caption", { attrs: { id: "receipt-caption" } }),
            el(
              "thead",
              {},
              el("tr", {}, person, el("th", { text: "What was done", attrs: { scope: "col" } })),
            ),
            el("tbody", { attrs: { id: "receipt-body" } }),
          ),
        ),
      );
      section.hidden = true;
      byId("result-notes").before(section);
    }
    return {
      section: byId("receipt"),
      note: byId("receipt-note"),
      who: byId("receipt-who"),
      caption: byId("receipt-caption"),
      body: byId("receipt-body"),
    };
  }

  private showRows(columns: string[], rows: Record<string, string>[], total: number): void {
    if (rows.length === 0) return;
    const f = this.formats;
    const name = columns.includes("first_name") || columns.includes("last_name");
    const extra = columns.find((c) => !["email", "first_name", "last_name"].includes(c));
    const heads = ["Email", ...(name ? ["Name"] : extra ? [shown(extra, 40)] : [])];
    fill(byId("rows-head"), ...heads.map((t) => el("th", { text: t, attrs: { scope: "col" } })));
    fill(
      byId("rows-body"),
      ...rows.map((row) => {
        const second = name
          ? [row.first_name, row.last_name].filter(Boolean).join(" ")
          : extra
            ? (row[extra] ?? "")
            : null;
        return el(
          "tr",
          {},
          el("td", { text: shown(row.email ?? "") }),
          ...(second === null ? [] : [el("td", { text: shown(second) })]),
        );
      }),
    );
    byId("rows-caption").textContent =
      rows.length < total
        ? `The first ${f.count(rows.length)} of ${f.counted(total, "row")}.`
        : `All ${f.counted(rows.length, "row")}.`;
    show(byId("rows"));
  }

  /** The files the result names: a Download button for each the server offers as a
   * resource; the name alone (it is on the server's disk) for the others. */
  private showFiles(job: JobInfo, links: FileLink[]): void {
    const items: HTMLLIElement[] = [];
    const offered = new Set<string>();
    const result = job.result ?? {};
    const names = { ...FILES, ...KIND_FILES[job.kind] };
    for (const [field, label] of Object.entries(names)) {
      const path = text(result, field);
      const uri = job.fileUris[field];
      if (path === null && uri === undefined) continue;
      const found = uri === undefined ? undefined : links.find((l) => l.uri === uri);
      const name = found?.name ?? (path !== null ? fileName(path) : shown(field));
      const link: FileLink | null =
        uri === undefined ? null : (found ?? { uri, name, mimeType: "text/csv" });
      if (link !== null) offered.add(link.uri);
      items.push(
        el(
          "li",
          {},
          `${label}: `,
          el("span", { text: shown(name), attrs: path ? { title: shown(path, 1000) } : {} }),
          ...(link ? [downloadButton(link, this.download)] : []),
        ),
      );
    }
    for (const link of links) {
      if (!offered.has(link.uri))
        items.push(
          el("li", {}, el("span", { text: shown(link.name) }), downloadButton(link, this.download)),
        );
    }
    fill(byId("file-list"), ...items);
    show(byId("files"), items.length > 0);
  }

  // -- a Resend import ----------------------------------------------------------------

  showApiImport(found: ApiImport, focus: boolean): void {
    const f = this.formats;
    this.only("api-import");
    this.title.textContent = "Resend import";
    this.lead.textContent = `Import ${shown(found.id, 60)}, run by Resend's Contact Imports API.`;
    const status = found.status.replace(/_/g, " ");
    byId("api-import-status").textContent = shown(status, 40);
    byId("api-import-status").className =
      `status ${found.status === "completed" ? "completed" : found.status === "failed" ? "failed" : ""}`;
    facts(byId("api-import-facts"), [
      ["Rows", f.count(found.total)],
      ["Created", f.count(found.created)],
      ["Updated", f.count(found.updated)],
      ["Skipped", f.count(found.skipped)],
      ["Failed", f.count(found.failed)],
    ]);
    byId("api-import-text").textContent =
      found.status === "completed" || found.status === "failed"
        ? ""
        : "Resend is still working on it: ask the assistant again in a while.";
    const meta: [string, string][] = [["Started", f.when(found.createdAt)]];
    if (found.completedAt) meta.push(["Ended", f.when(found.completedAt)]);
    fill(
      byId("api-import-meta"),
      ...meta.flatMap(([label, value]) => [el("dt", { text: label }), el("dd", { text: value })]),
    );
    if (focus) byId("api-import-title").focus();
  }

  // -- problems -----------------------------------------------------------------------

  showProblem(title: string, message: string): void {
    this.only(null);
    this.title.textContent = title;
    this.lead.textContent = "";
    this.showError(message);
  }
}

function badge(status: keyof typeof STATUS, paused: boolean, id?: string): HTMLSpanElement {
  return el("span", {
    className: `status ${status}`,
    text: paused ? "Paused" : STATUS[status],
    attrs: id ? { id } : {},
  });
}
