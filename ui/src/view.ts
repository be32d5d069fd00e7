// The bulk review screen's DOM: the preview, the run's progress, and its outcome.
// Everything shown from the server goes through textContent (see dom.ts).

import { byId, el, facts, fill, lines, show } from "./dom";
import { Formats, shown, shownValue, stepLine } from "./format";
import { fileItems, showCount, stopButton } from "./progress";
import { ScreenView } from "./screen";
import type { FileLink, Job, Outcome, Preview } from "./shapes";
import { type LastReport, whatWasDone } from "./stopped";

/** Rows of the sample shown at once; the sample (at most 10) pages client-side. */
export const PAGE_SIZE = 5;

export class View extends ScreenView {
  readonly approve = byId<HTMLButtonElement>("approve");
  readonly cancel = byId<HTMLButtonElement>("cancel");
  readonly stop = stopButton(byId<HTMLButtonElement>("stop"), "Cancel the run");
  readonly prev = byId<HTMLButtonElement>("prev");
  readonly next = byId<HTMLButtonElement>("next");
  private preview: Preview | null = null;
  private page = 0;

  constructor(public formats: Formats) {
    super();
  }

  // -- the preview --------------------------------------------------------------------

  showPreview(preview: Preview, canDecide: boolean, expiresAt: string): void {
    const f = this.formats;
    this.preview = preview;
    this.page = 0;
    const isDelete = preview.kind === "delete";
    const counted = f.counted(preview.count, "contact");
    this.title.textContent = `${isDelete ? "Delete" : "Update"} ${counted}`;
    this.lead.textContent = isDelete
      ? "They will be deleted from Resend. " +
        "A snapshot of them is written first, to import them back."
      : `Change: ${shown(preview.change, 500)}`;

    const rows = previewFacts(preview, f);
    if (preview.missing.length) rows.push(["Not found", f.count(preview.missing.length)]);
    facts(byId("facts"), rows);

    show(byId("missing"), preview.missing.length > 0);
    byId("missing-text").textContent =
      preview.missing.length === 1
        ? "1 named contact does not exist, and is left out:"
        : `${f.count(preview.missing.length)} named contacts do not exist, and are left out:`;
    lines(
      byId("missing-list"),
      preview.missing.slice(0, 10).map((m) => shown(m)),
    );

    show(byId("holds"), preview.refused > 0);
    const more = preview.refused - preview.refusedSample.length;
    byId("holds-text").textContent =
      (preview.refused === 1
        ? "1 contact is left as it is: "
        : `${f.count(preview.refused)} contacts are left as they are: `) +
      "they opted out, and this change would opt them back in. Only a person's own request to " +
      "resubscribe does that." +
      (more > 0 ? ` The first ${f.count(preview.refusedSample.length)}:` : "");
    lines(
      byId("holds-list"),
      preview.refusedSample.map((email) => shown(email)),
    );

    show(byId("rechecks"), preview.notes.length > 0);
    lines(
      byId("notes"),
      preview.notes.map((note) => shown(note, 1000)),
    );

    this.renderSample();

    show(byId("decide"), canDecide);
    show(byId("no-approval"), !canDecide);
    this.approve.className = isDelete ? "danger" : "primary";
    this.approve.disabled = this.cancel.disabled = false;
    this.approve.textContent = "Approve";
    this.cancel.textContent = "Cancel";
    const until = f.time(expiresAt);
    byId("expiry").textContent = until
      ? `Approve or cancel by ${until}; after that, ask for a new preview.`
      : "";
    show(byId("review"));
  }

  turnPage(delta: number): void {
    this.page += delta;
    this.renderSample();
  }

  private renderSample(): void {
    const preview = this.preview;
    if (preview === null) return;
    const f = this.formats;
    const isDelete = preview.kind === "delete";
    const total = isDelete ? preview.deleteSample.length : preview.changeSample.length;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    const from = this.page * PAGE_SIZE;
    const to = Math.min(total, from + PAGE_SIZE);

    byId("sample-title").textContent = isDelete ? "Contacts to delete" : "Before → after";
    byId("sample-caption").textContent =
      total < preview.count
        ? `A sample: ${f.count(total)} of the ${f.counted(preview.count, "contact")}.`
        : `All ${f.counted(total, "contact")}.`;
    const headings = isDelete ? ["Contact", "Subscription"] : ["Contact", "Before → after"];
    fill(
      byId("sample-head"),
      ...headings.map((text) => el("th", { text, attrs: { scope: "col" } })),
    );
    byId("sample").className = isDelete ? "deletes" : "changes";

    const refused = new Set(preview.refusedSample);
    const body = isDelete
      ? preview.deleteSample.slice(from, to).map((c) => {
          const name = [c.firstName, c.lastName].filter(Boolean).join(" ");
          return el(
            "tr",
            {},
            el(
              "td",
              {},
              ...email(c.email),
              ...(name ? [el("span", { className: "sub", text: shown(name) })] : []),
            ),
            el("td", { text: c.unsubscribed ? "Unsubscribed" : "Subscribed" }),
          );
        })
      : preview.changeSample
          .slice(from, to)
          .map((c) =>
            el(
              "tr",
              {},
              el(
                "td",
                {},
                ...email(c.email),
                ...(refused.has(c.email)
                  ? [el("span", { className: "tag", text: "held back" })]
                  : []),
              ),
              el("td", {}, ...changes(c.before, c.after)),
            ),
          );
    fill(byId("sample-body"), ...body);

    show(byId("pager"), pages > 1);
    byId("page").textContent = total
      ? `${f.count(from + 1)}–${f.count(to)} of ${f.count(total)}`
      : "";
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
  }

  /** Approve or Cancel was pressed: both wait for the server's answer. */
  deciding(approve: boolean): void {
    this.approve.disabled = this.cancel.disabled = true;
    (approve ? this.approve : this.cancel).textContent = approve ? "Starting…" : "Cancelling…";
    this.clearError();
  }

  expired(): void {
    show(byId("decide"), false);
    this.showError(
      "This preview has expired: nothing was changed. Ask the assistant for a new one.",
    );
  }

  // -- the run ------------------------------------------------------------------------

  showRun(job: Job): void {
    show(byId("review"), false);
    show(byId("run"));
    if (this.preview === null)
      this.title.textContent = job.kind === "delete" ? "Delete contacts" : "Update contacts";
    this.lead.textContent = "";
    const doing = (this.preview?.kind ?? job.kind) === "delete" ? "Deleting" : "Updating";
    byId("run-title").textContent = this.preview ? `Approved. ${doing}…` : `${doing}…`;
    this.stop.ready();
    this.progress(job);
    byId("run-title").focus();
  }

  progress(job: Job): void {
    const f = this.formats;
    showCount(byId<HTMLProgressElement>("bar"), job.done, job.total);
    const eta = job.etaSeconds !== null ? `${f.duration(job.etaSeconds)} left` : "";
    byId("progress").textContent = [stepLine(job.message, job.done, job.total, f), eta]
      .filter(Boolean)
      .join(" · ");
  }

  stopFailed(message: string): void {
    this.stop.ready();
    this.showError(message);
  }

  // -- the end ------------------------------------------------------------------------

  showOutcome(
    job: Job,
    links: FileLink[],
    download: (link: FileLink) => void,
    last: LastReport,
  ): void {
    const f = this.formats;
    show(byId("review"), false);
    show(byId("run"), false);
    show(byId("outcome"));
    const outcome = job.outcome;
    const isDelete = (outcome?.action || job.kind || this.preview?.kind) === "delete";
    const verb = isDelete ? "Deleted" : "Updated";
    const heading = byId("outcome-title");
    const text = byId("outcome-text");
    text.className = "";
    if (this.preview === null)
      this.title.textContent = isDelete ? "Delete contacts" : "Update contacts";
    this.lead.textContent = "";
    const stopped: string[] = [];
    if (job.status === "completed" && outcome !== null) {
      const selected = f.counted(outcome.selected, "contact");
      heading.textContent = `${verb} ${f.count(outcome.done)} of ${selected}`;
      text.textContent = outcome.failed
        ? `${f.counted(outcome.failed, "contact")} failed: the file below says why.`
        : "Finished, with no failures.";
      text.className = outcome.failed ? "" : "ok";
      facts(byId("outcome-facts"), outcomeFacts(outcome, isDelete, f));
    } else if (job.status === "cancelled") {
      heading.textContent = "The run was cancelled";
      // What it did is told from its last progress report: its step says what it counts.
      const told = whatWasDone(last, "cancelled", f);
      text.textContent = told.done;
      stopped.push(told.rest);
      facts(byId("outcome-facts"), outcome ? outcomeFacts(outcome, isDelete, f) : told.facts);
    } else {
      heading.textContent = "The run failed";
      text.textContent = shown(job.error ?? job.message, 1000);
      const told = whatWasDone(last, "failed", f);
      stopped.push(told.done, told.rest);
      facts(byId("outcome-facts"), outcome ? outcomeFacts(outcome, isDelete, f) : told.facts);
    }
    const notes = outcome ? [...outcome.notes] : stopped;
    if (outcome?.noLongerMatching) {
      notes.push(
        "Left untouched, no longer matching the search when it ran: " +
          outcome.noLongerMatchingSample.map((email) => shown(email)).join(", "),
      );
    }
    lines(
      byId("outcome-notes"),
      notes.map((note) => shown(note, 1000)),
    );
    this.showFiles(outcome, isDelete, links, download);
    heading.focus();
  }

  /** The person cancelled before anything ran. */
  showDeclined(message: string): void {
    show(byId("review"), false);
    show(byId("outcome"));
    this.lead.textContent = "";
    byId("outcome-title").textContent = "Nothing was changed";
    byId("outcome-text").textContent = shown(message, 1000);
    facts(byId("outcome-facts"), []);
    byId("outcome-title").focus();
  }

  /** Snapshot and failure files. A file the server links as a resource (a later server)
   * gets a Download button; until then the name says where it is on the server. */
  private showFiles(
    outcome: Outcome | null,
    isDelete: boolean,
    links: FileLink[],
    download: (link: FileLink) => void,
  ): void {
    const items = fileItems(
      [
        [
          isDelete ? "Snapshot (import it to bring them back)" : "Snapshot",
          outcome?.snapshotFile ?? null,
        ],
        [
          isDelete ? "Not deleted, with reasons" : "Not changed, with reasons",
          outcome?.failuresFile ?? null,
        ],
      ],
      links,
      download,
    );
    fill(byId("file-list"), ...items);
    show(byId("files"), items.length > 0);
  }

  // -- problems -----------------------------------------------------------------------

  /** Nothing to review: the tool refused, or the answer was not a preview. */
  showProblem(title: string, message: string): void {
    show(byId("review"), false);
    show(byId("run"), false);
    this.title.textContent = title;
    this.lead.textContent = "";
    this.showError(message);
  }
}

/** An email that wraps, where it must, before its "@" and after its dots. */
function email(address: string): (string | HTMLElement)[] {
  return shown(address)
    .split(/(?=@)|(?<=\.)/)
    .flatMap((part, i) => (i === 0 ? [part] : [document.createElement("wbr"), part]));
}

/** One line per changed field: `key: before → after` ("(not known)" where the mirror
 * holds no value the server vouches for). */
function changes(before: [string, unknown][], after: [string, unknown][]): HTMLElement[] {
  const was = new Map(before);
  return after.map(([key, value]) =>
    el(
      "span",
      { className: "kv" },
      el("span", { className: "key", text: `${shown(key, 60)}: ` }),
      was.has(key)
        ? shownValue(was.get(key))
        : el("span", { className: "sub-i", text: "(not known)" }),
      " → ",
      shownValue(value),
    ),
  );
}

/** A preview's facts: what the run will change, its API requests and time. */
export function previewFacts(preview: Preview, f: Formats): [string, string][] {
  const isDelete = preview.kind === "delete";
  const rows: [string, string][] = isDelete
    ? [["To delete", f.count(preview.count)]]
    : [
        ["Selected", f.count(preview.count)],
        ["To change", f.count(preview.toChange ?? 0)],
        ["Already as asked", f.count(preview.already ?? 0)],
        ["Held back", f.count(preview.refused)],
      ];
  rows.push(
    ["API requests", f.count(preview.requests)],
    ["Time", f.duration(preview.estimatedSeconds)],
  );
  return rows;
}

export function outcomeFacts(outcome: Outcome, isDelete: boolean, f: Formats): [string, string][] {
  const rows: [string, string][] = [
    [isDelete ? "Deleted" : "Updated", f.count(outcome.done)],
    [isDelete ? "Already gone" : "Already as asked", f.count(outcome.unchanged)],
  ];
  if (!isDelete || outcome.refused) rows.push(["Held back", f.count(outcome.refused)]);
  rows.push(["Failed", f.count(outcome.failed)]);
  if (outcome.noLongerMatching)
    rows.push(["No longer matching", f.count(outcome.noLongerMatching)]);
  rows.push(["API requests", f.count(outcome.requests)], ["Took", f.took(outcome.seconds)]);
  return rows;
}
