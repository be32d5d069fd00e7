// The bulk review screen's DOM: the preview, the run's progress, and its outcome, for a
// delete, an update, a forget (a person's erasure: no snapshot, a receipt instead), an
// undo (of an update: now → put back; of a delete: its contacts restored; of an import:
// what it changed put back, what it created deleted again), or a merge of duplicates (the
// kept contact before → after, the others deleted).
// Everything shown from the server goes through textContent (see dom.ts).

import { byId, el, facts, fill, lines, show } from "./dom";
import { fileName, Formats, shown, shownValue, stepLine } from "./format";
import { fileItems, showCount, stopButton } from "./progress";
import { ScreenView } from "./screen";
import type {
  FileLink,
  ForgetPerson,
  Job,
  Outcome,
  PersonReceipt,
  Preview,
  SampleChange,
} from "./shapes";
import { type LastReport, whatWasDone } from "./stopped";

/** Rows of the sample shown at once; the sample (at most 10) pages client-side. */
export const PAGE_SIZE = 5;
/** People a forget's receipt lists one by one (the server's text stops there too). */
export const RECEIPT_SHOWN = 100;
/** The notes' heading of a delete or update, as the page has it. */
const RECHECKS_TITLE = "Checked again when it runs";

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
    const isForget = preview.kind === "forget";
    const undo = preview.undo;
    const merge = preview.merge;
    if (isForget) {
      this.title.textContent = `Forget ${people(f, preview.count)}`;
      this.lead.textContent =
        "Their contacts are deleted at Resend" +
        (preview.suppress ? ", their addresses suppressed there," : "") +
        " and every copy of them this server keeps is removed.";
    } else if (undo !== null) {
      const counted = f.counted(preview.count, "contact");
      this.title.textContent = `Undo job ${shown(undo.job, 100)}`;
      this.lead.textContent = undo.restore
        ? `It deleted ${counted}: they are created again from the snapshot it took first.`
        : undo.merge
          ? `It merged ${counted}: those it deleted are created again from the snapshot it ` +
            "took first, and the one it kept is put back as it was before."
          : `It changed ${counted} (${shown(undo.did, 500)}): each still as it left them is ` +
            (undo.deletes
              ? "put back as it was before, or deleted again if it created them."
              : "put back as it was before.");
    } else if (merge !== null) {
      const keep = shown(merge.keep);
      const others = Math.max(0, preview.count - 1);
      this.title.textContent = `Merge ${f.counted(preview.count, "contact")} into ${keep}`;
      this.lead.textContent =
        (merge.gives
          ? `${keep} is kept, and takes what the others hold: ${shown(merge.gives, 500)}. `
          : `${keep} is kept: it holds everything the others do already. `) +
        (others === 1
          ? "Then the other one is deleted."
          : `Then the other ${f.count(others)} are deleted.`);
    } else {
      const counted = f.counted(preview.count, "contact");
      this.title.textContent = `${isDelete ? "Delete" : "Update"} ${counted}`;
      this.lead.textContent = isDelete
        ? "They will be deleted from Resend. " +
          "A snapshot of them is written first, to import them back."
        : `Change: ${shown(preview.change, 500)}`;
    }
    const warning = this.warning();
    warning.textContent = isForget
      ? "This cannot be undone, and no copy of them is kept: no snapshot, nothing to " +
        "import them back from."
      : "";
    show(warning, isForget);

    const rows = previewFacts(preview, f);
    // An undo's missing are the contacts deleted since the job (the first few only).
    if (preview.missing.length && !isForget && undo === null)
      rows.push(["Not found", f.count(preview.missing.length)]);
    facts(byId("facts"), rows);

    // A forget's people without a contact at Resend are not left out (their local copies
    // go all the same): its table says who they are.
    show(byId("missing"), preview.missing.length > 0 && !isForget);
    byId("missing-title").textContent = undo !== null ? "Deleted since" : "Not found";
    byId("missing-text").textContent =
      undo !== null
        ? "Deleted from Resend since the job: nothing to put back for them."
        : preview.missing.length === 1
          ? "1 named contact does not exist, and is left out:"
          : `${f.count(preview.missing.length)} named contacts do not exist, and are left out:`;
    lines(
      byId("missing-list"),
      preview.missing.slice(0, 10).map((m) => shown(m)),
    );

    show(byId("holds"), preview.refused > 0);
    const more = preview.refused - preview.refusedSample.length;
    const first = more > 0 ? ` The first ${f.count(preview.refusedSample.length)}:` : "";
    byId("holds-title").textContent =
      undo !== null ? "Kept unsubscribed" : "Held back by the consent guard";
    byId("holds-text").textContent =
      undo !== null
        ? `${f.counted(preview.refused, "contact")} kept unsubscribed — an undo never opts ` +
          "anyone back in: the job unsubscribed them (or opted them out of a topic), and " +
          "nothing Resend shows tells whether they did so themselves since. Whatever else " +
          "the job changed on them is put back." +
          first
        : (preview.refused === 1
            ? "1 contact is left as it is: "
            : `${f.count(preview.refused)} contacts are left as they are: `) +
          "they opted out, and this change would opt them back in. Only a person's own " +
          "request to resubscribe does that." +
          first;
    lines(
      byId("holds-list"),
      preview.refusedSample.map((email) => shown(email)),
    );

    // An undo leaves alone each contact changed again after the job (for a delete's
    // undo: an address created again since), and says which.
    const since = undo !== null ? preview.changedSince : 0;
    show(byId("since"), since > 0);
    const sinceMore = since - preview.changedSinceSample.length;
    byId("since-title").textContent = undo?.restore ? "Created again since" : "Changed again since";
    byId("since-text").textContent =
      (undo?.restore
        ? `${f.counted(since, "address", "addresses")} created again at Resend since the ` +
          "delete — left alone, never overwritten."
        : `${f.counted(since, "contact")} changed again since the job — left alone, never ` +
          "overwritten.") +
      (sinceMore > 0 ? ` The first ${f.count(preview.changedSinceSample.length)}:` : "");
    lines(
      byId("since-list"),
      preview.changedSinceSample.map((line) => shown(line, 300)),
    );

    // A merge's notes are its conflicts, that opt-outs win, its snapshot and its undo.
    byId("rechecks-title").textContent =
      isForget || merge !== null ? "Before you approve" : RECHECKS_TITLE;
    show(byId("rechecks"), preview.notes.length > 0);
    lines(
      byId("notes"),
      preview.notes.map((note) => shown(note, 1000)),
    );

    this.renderSample();
    this.showDeleting(merge?.deleted ?? null);

    show(byId("decide"), canDecide);
    show(byId("no-approval"), !canDecide);
    // A merge deletes contacts too, and so does an undo of what created them.
    const deletes = isDelete || isForget || merge !== null || undo?.deletes === true;
    this.approve.className = deletes ? "danger" : "primary";
    this.approve.disabled = this.cancel.disabled = false;
    this.approve.textContent = "Approve";
    this.cancel.textContent = "Cancel";
    const until = f.time(expiresAt);
    byId("expiry").textContent = until
      ? `Approve or cancel by ${until}; after that, ask for a new preview.`
      : "";
    show(byId("review"));
  }

  /** The forget's warning, first in the review (made once: the page has no place for it). */
  private warning(): HTMLElement {
    const found = document.getElementById("warning");
    if (found !== null) return found;
    const made = el("p", { className: "notice", attrs: { id: "warning", role: "note" } });
    made.hidden = true;
    byId("review").prepend(made);
    return made;
  }

  /** A merge's contacts to delete, each with what it holds, after the kept contact's
   * table (made once: the page has no place for it); hidden for any other preview. */
  private showDeleting(deleted: SampleChange[] | null): void {
    let section = document.getElementById("deleting");
    if (section === null) {
      section = el(
        "section",
        { attrs: { id: "deleting", "aria-labelledby": "deleting-title" } },
        el("h2", { text: "To delete", attrs: { id: "deleting-title" } }),
        el("p", { className: "muted", attrs: { id: "deleting-text" } }),
        el("ul", { className: "emails", attrs: { id: "deleting-list" } }),
      );
      byId("sample-section").after(section);
    }
    show(section, deleted !== null);
    if (deleted === null) return;
    byId("deleting-text").textContent =
      (deleted.length === 1 ? "It is" : "Each is") +
      " deleted once the kept contact has taken what it holds, and a snapshot of " +
      (deleted.length === 1 ? "it" : "them") +
      " is written first.";
    fill(
      byId("deleting-list"),
      ...deleted.map((c) =>
        el("li", {}, ...email(c.email), el("span", { className: "sub", text: holding(c.before) })),
      ),
    );
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
    const isForget = preview.kind === "forget";
    const isMerge = preview.merge !== null;
    const total = isForget
      ? preview.people.length
      : isDelete
        ? preview.deleteSample.length
        : preview.changeSample.length;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    const from = this.page * PAGE_SIZE;
    const to = Math.min(total, from + PAGE_SIZE);

    const undo = preview.undo;
    // An undo's sample is of the contacts it puts back (or restores, or deletes again),
    // not of the job's: a delete's undo restores each, an update's puts each back, a
    // merge's does both, an import's puts back what it changed and deletes what it
    // created.
    const toDo = preview.toChange ?? 0;
    const restores = preview.changeSample.filter((c) => c.restored).length;
    const deletions = preview.changeSample.filter((c) => c.deletedAgain).length;
    const putBacks = total - restores - deletions;
    const onlyRestores = undo !== null && (undo.restore || restores === total) && total > 0;
    const onlyDeletions = undo !== null && deletions === total && total > 0;
    const mixed = undo !== null && restores + deletions > 0 && !onlyRestores && !onlyDeletions;
    // What a mixed sample's rows come to, in words: "put back, or restored", "put back,
    // restored or deleted".
    const ends = either([
      ...(putBacks > 0 ? ["put back"] : []),
      ...(restores > 0 ? ["restored"] : []),
      ...(deletions > 0 ? ["deleted"] : []),
    ]);
    const doing = onlyRestores
      ? "to restore"
      : onlyDeletions
        ? "to delete"
        : mixed && deletions > 0
          ? "to undo"
          : "to put back";
    byId("sample-title").textContent = isForget
      ? "People to forget"
      : isDelete || onlyDeletions
        ? "Contacts to delete"
        : isMerge
          ? "Kept: before → after"
          : onlyRestores
            ? "Contacts to restore"
            : mixed
              ? `Now → ${ends}`
              : undo !== null
                ? "Now → put back"
                : "Before → after";
    byId("sample-caption").textContent = isMerge
      ? "The contact kept, and what it takes from the others."
      : isForget
        ? total < preview.count
          ? `The first ${f.count(total)} of the ${people(f, preview.count)}.`
          : total === 1
            ? "1 person."
            : `All ${people(f, total)}.`
        : undo !== null
          ? total < toDo
            ? `A sample: ${f.count(total)} of the ${f.count(toDo)} ${doing}.`
            : `All ${f.count(total)} ${doing}.`
          : total < preview.count
            ? `A sample: ${f.count(total)} of the ${f.counted(preview.count, "contact")}.`
            : `All ${f.counted(total, "contact")}.`;
    const headings = isForget
      ? ["Person", "Held"]
      : isDelete
        ? ["Contact", "Subscription"]
        : onlyRestores
          ? ["Contact", "Restored with"]
          : onlyDeletions
            ? ["Contact", "Now → deleted"]
            : mixed
              ? ["Contact", deletions > 0 ? `Now → ${ends}` : `Now → ${ends} with`]
              : undo !== null
                ? ["Contact", "Now → put back"]
                : ["Contact", "Before → after"];
    fill(
      byId("sample-head"),
      ...headings.map((text) => el("th", { text, attrs: { scope: "col" } })),
    );
    byId("sample").className = isDelete ? "deletes" : "changes";

    const refused = new Set(preview.refusedSample);
    const heldBack = undo !== null ? "kept unsubscribed" : "held back";
    const body = isForget
      ? preview.people.slice(from, to).map((p) => personRow(p, f))
      : isDelete
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
        : preview.changeSample.slice(from, to).map((c) =>
            el(
              "tr",
              {},
              el(
                "td",
                {},
                ...email(c.email),
                ...(refused.has(c.email) ? [el("span", { className: "tag", text: heldBack })] : []),
                ...(mixed && c.restored
                  ? [el("span", { className: "tag", text: "restored" })]
                  : []),
                ...(mixed && c.deletedAgain
                  ? [el("span", { className: "tag", text: "deleted" })]
                  : []),
                ...(isMerge ? [el("span", { className: "tag", text: "kept" })] : []),
              ),
              c.restored
                ? el("td", {}, ...restored(c))
                : c.deletedAgain
                  ? el("td", {}, ...deletedAgain(c))
                  : isMerge && c.after.length === 0
                    ? el(
                        "td",
                        {},
                        el("span", {
                          className: "sub-i",
                          text: "Nothing: it holds it all already",
                        }),
                      )
                    : el("td", {}, ...changes(c.before, c.after)),
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
    const kind = this.preview?.kind ?? job.kind;
    if (this.preview === null) this.title.textContent = titleOf(job.kind);
    this.lead.textContent = "";
    const doing =
      kind === "forget"
        ? "Forgetting"
        : kind === "delete"
          ? "Deleting"
          : kind === "undo"
            ? this.preview?.undo?.restore
              ? "Restoring"
              : "Putting back"
            : kind === "merge"
              ? "Merging"
              : "Updating";
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
    const kind = outcome?.action || job.kind || this.preview?.kind;
    if (kind === "forget") {
      this.showReceipt(job, last);
      return;
    }
    const isDelete = kind === "delete";
    const isUndo = kind === "undo";
    const isMerge = kind === "merge";
    // Known from the preview only: a run read later does not say what it undid.
    const restore = isUndo && this.preview?.undo?.restore === true;
    const verb = isDelete ? "Deleted" : isUndo ? (restore ? "Restored" : "Put back") : "Updated";
    const factsOf = (o: Outcome): [string, string][] =>
      isMerge ? mergeFacts(o, f) : isUndo ? undoFacts(o, restore, f) : outcomeFacts(o, isDelete, f);
    const heading = byId("outcome-title");
    const text = byId("outcome-text");
    text.className = "";
    if (this.preview === null)
      this.title.textContent = titleOf(
        isDelete ? "delete" : isUndo ? "undo" : isMerge ? "merge" : "update",
      );
    this.lead.textContent = "";
    const stopped: string[] = [];
    if (job.status === "completed" && outcome !== null && isMerge) {
      heading.textContent = merged(outcome, f);
      text.textContent = mergedText(outcome, f);
      text.className = outcome.failed ? "" : "ok";
      facts(byId("outcome-facts"), factsOf(outcome));
    } else if (job.status === "completed" && outcome !== null) {
      const selected = f.counted(outcome.selected, "contact");
      heading.textContent = `${verb} ${f.count(outcome.done)} of ${selected}`;
      text.textContent = outcome.failed
        ? `${f.counted(outcome.failed, "contact")} failed: the file below says why.`
        : "Finished, with no failures.";
      text.className = outcome.failed ? "" : "ok";
      facts(byId("outcome-facts"), factsOf(outcome));
    } else if (job.status === "cancelled") {
      heading.textContent = "The run was cancelled";
      // What it did is told from its last progress report: its step says what it counts.
      const told = whatWasDone(last, "cancelled", f);
      text.textContent = told.done;
      stopped.push(told.rest);
      facts(byId("outcome-facts"), outcome ? factsOf(outcome) : told.facts);
    } else {
      heading.textContent = "The run failed";
      text.textContent = shown(job.error ?? job.message, 1000);
      const told = whatWasDone(last, "failed", f);
      stopped.push(told.done, told.rest);
      facts(byId("outcome-facts"), outcome ? factsOf(outcome) : told.facts);
    }
    const notes = outcome ? [...outcome.notes] : stopped;
    if (outcome?.noLongerMatching) {
      notes.push(
        "Left untouched, no longer matching the search when it ran: " +
          outcome.noLongerMatchingSample.map((email) => shown(email)).join(", "),
      );
    }
    if (isUndo && outcome !== null) notes.push(...leftAlone(outcome, f));
    if (isMerge) notes.push(mergeUndo(job.id));
    lines(
      byId("outcome-notes"),
      notes.map((note) => shown(note, 1000)),
    );
    this.showFiles(
      outcome,
      isDelete ? "delete" : isUndo ? (restore ? "restore" : "undo") : isMerge ? "merge" : "update",
      links,
      download,
    );
    heading.focus();
  }

  /** A forget's end: per person, what was done at Resend and here (its receipt). */
  private showReceipt(job: Job, last: LastReport): void {
    const f = this.formats;
    const outcome = job.outcome;
    const heading = byId("outcome-title");
    const text = byId("outcome-text");
    text.className = "";
    if (this.preview === null) this.title.textContent = titleOf("forget");
    this.lead.textContent = "";
    // What a stopped erasure leaves, whatever its last count said.
    const rest =
      "Whoever it handled at Resend stays deleted there, and what it removed here stays " +
      "removed. Run forget_contacts again for the same people to finish.";
    let notes: string[];
    if (job.status === "completed" && outcome !== null) {
      heading.textContent = `Forgot ${f.count(outcome.done)} of ${people(f, outcome.selected)}`;
      text.textContent = outcome.failed
        ? `${people(f, outcome.failed)} not forgotten completely: each line below says ` +
          "why. Run forget_contacts again for them once what held them is free; what was " +
          "removed stays removed."
        : "Finished: everyone named is forgotten here.";
      text.className = outcome.failed ? "" : "ok";
      facts(byId("outcome-facts"), forgetFacts(outcome, f));
      notes = [...outcome.notes, ...(outcome.notCovered ? [outcome.notCovered] : [])];
    } else {
      const how = job.status === "cancelled" ? "cancelled" : "failed";
      const told = whatWasDone(last, how, f);
      if (how === "cancelled") {
        heading.textContent = "The run was cancelled";
        text.textContent = told.done;
        notes = [rest];
      } else {
        heading.textContent = "The run failed";
        text.textContent = shown(job.error ?? job.message, 1000);
        notes = [told.done, rest];
      }
      facts(byId("outcome-facts"), outcome ? forgetFacts(outcome, f) : told.facts);
    }
    const receipts = outcome?.people ?? [];
    const table = this.receiptTable();
    show(table.section, receipts.length > 0);
    table.caption.textContent = receiptCaption(f, outcome?.finishedAt ?? "", receipts.length);
    fill(
      table.body,
      ...receipts
        .slice(0, RECEIPT_SHOWN)
        .map((receipt, i) => receiptRow(receipt, this.emailOf(receipt, i, receipts.length), f)),
    );
    lines(
      byId("outcome-notes"),
      notes.map((note) => shown(note, 1000)),
    );
    fill(byId("file-list"));
    show(byId("files"), false);
    heading.focus();
  }

  /** A receipt's email: in the answer to the call that asked; or, read later from its
   * job, the one this screen previewed in the same place (the run forgets the previewed
   * people in their order); else none (the reference alone is shown). */
  private emailOf(receipt: PersonReceipt, index: number, count: number): string | null {
    if (receipt.email !== null) return receipt.email;
    const preview = this.preview;
    if (preview?.kind !== "forget" || preview.people.length !== count) return null;
    if (preview.count !== count) return null;
    return preview.people[index]?.email || null;
  }

  /** The receipt's table, under the outcome's facts (made once: the page has no place). */
  private receiptTable(): { section: HTMLElement; caption: HTMLElement; body: HTMLElement } {
    const found = document.getElementById("receipt");
    if (found === null) {
      const wrap = el(
        "div",
        {
          className: "table-wrap",
          attrs: { role: "region", "aria-labelledby": "receipt-title", tabindex: "0" },
        },
        el(
          "table",
          { className: "changes" },
          el("caption", { attrs: { id: "receipt-caption" } }),
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              ...["Person", "What was done"].map((text) =>
                el("th", { text, attrs: { scope: "col" } }),
              ),
            ),
          ),
          el("tbody", { attrs: { id: "receipt-body" } }),
        ),
      );
      const section = el(
        "section",
        { attrs: { id: "receipt", "aria-labelledby": "receipt-title" } },
        el("h2", { text: "Receipt", attrs: { id: "receipt-title" } }),
        wrap,
      );
      byId("outcome-notes").before(section);
    }
    return {
      section: byId("receipt"),
      caption: byId("receipt-caption"),
      body: byId("receipt-body"),
    };
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
    kind: "delete" | "update" | "undo" | "restore" | "merge",
    links: FileLink[],
    download: (link: FileLink) => void,
  ): void {
    const notDone = {
      delete: "Not deleted, with reasons",
      update: "Not changed, with reasons",
      undo: "Not put back, with reasons",
      restore: "Not restored, with reasons",
      merge: "Not deleted, with reasons",
    }[kind];
    // An undo's snapshot is of the contacts it deleted again (an import's, a restore's):
    // as a merge's, an undo of it restores them.
    const snapshot =
      kind === "delete"
        ? "Snapshot (import it to bring them back)"
        : kind === "merge" || kind === "undo"
          ? MERGE_SNAPSHOT
          : "Snapshot";
    const items = fileItems(
      [
        [snapshot, outcome?.snapshotFile ?? null],
        [notDone, outcome?.failuresFile ?? null],
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

/** A screen's title before its preview is known (a run confirmed in the conversation). */
function titleOf(kind: string): string {
  if (kind === "forget") return "Forget people";
  if (kind === "undo") return "Undo a bulk change";
  if (kind === "merge") return "Merge duplicates";
  return kind === "delete" ? "Delete contacts" : "Update contacts";
}

/** "1 person", "2 people". */
/** A receipt table's caption: when the erasure finished, and how many people it lists. */
export function receiptCaption(f: Formats, finishedAt: string, count: number): string {
  const finished = finishedAt ? f.when(finishedAt) : "";
  return [
    finished ? `Finished ${finished}.` : "",
    count > RECEIPT_SHOWN
      ? `The first ${f.count(RECEIPT_SHOWN)} of the ${people(f, count)}.`
      : count === 1
        ? "1 person."
        : `All ${people(f, count)}.`,
  ]
    .filter(Boolean)
    .join(" ");
}

export function people(f: Formats, n: number): string {
  return f.counted(n, "person", "people");
}

/** A `key: value` line of a table cell. */
function line(key: string, ...value: (string | HTMLElement)[]): HTMLElement {
  return el(
    "span",
    { className: "kv" },
    el("span", { className: "key", text: `${key}: ` }),
    ...value,
  );
}

/** Local copies by kind, with their records: "mirror 1, snapshot 2". */
function copies(local: [string, number][], f: Formats): string {
  return local.map(([kind, n]) => `${shown(kind, 60)} ${f.count(n)}`).join(", ");
}

/** A forget preview's row: the person, and what holds them. */
function personRow(p: ForgetPerson, f: Formats): HTMLTableRowElement {
  return el(
    "tr",
    {},
    el(
      "td",
      {},
      ...email(p.email),
      ...(p.blocked !== null ? [el("span", { className: "tag", text: "blocked" })] : []),
    ),
    el(
      "td",
      {},
      line("Resend", p.atResend ? "a contact" : "no contact"),
      line("Here", copies(p.local, f) || "no local copy"),
      ...(p.blocked !== null ? [line("Blocked", shown(p.blocked, 300))] : []),
      ...(p.otherAccounts.length
        ? [line("Other accounts", p.otherAccounts.map((a) => shown(a, 80)).join(", "))]
        : []),
    ),
  );
}

/** A forget receipt's row: who, and what was done for them at Resend and here. */
function receiptRow(r: PersonReceipt, address: string | null, f: Formats): HTMLTableRowElement {
  const who = address !== null ? email(address) : [shown(r.person, 80)];
  return el(
    "tr",
    {},
    el(
      "td",
      {},
      ...who,
      el("span", {
        className: "sub",
        text:
          address !== null
            ? `Reference ${shown(r.person, 80)}`
            : "Reference only: the address is not kept",
      }),
      ...(r.forgotten ? [] : [el("span", { className: "tag", text: "not forgotten" })]),
    ),
    receiptCell(r, f),
  );
}

/** A forget receipt's cell of what was done for one person: at Resend (with its
 * detail), each place removed here with its records, the suppression, what was kept and
 * who else still holds them, and whether they are forgotten. (The job view's too.) */
export function receiptCell(r: PersonReceipt, f: Formats): HTMLTableCellElement {
  const detail = (text: string | null): string => (text ? ` (${shown(text, 300)})` : "");
  const suppressed =
    r.suppressed === null
      ? "not asked"
      : (r.suppressed ? "yes" : "no") + detail(r.suppressionDetail);
  return el(
    "td",
    {},
    line("Resend", shown(r.resend, 40) + detail(r.resendDetail)),
    r.local.length
      ? line("Removed here", ...r.local.map((place) => removed(place, f)))
      : line("Removed here", "nothing held"),
    line("Suppressed", suppressed),
    ...r.kept.map((why) => line("Kept", shown(why, 300))),
    ...(r.otherAccounts.length
      ? [
          line(
            "Still held by",
            `${r.otherAccounts.map((a) => shown(a, 80)).join(", ")} (forget them there too)`,
          ),
        ]
      : []),
    line(
      "Forgotten",
      el("span", { className: r.forgotten ? "ok" : "", text: r.forgotten ? "yes" : "no" }),
    ),
  );
}

/** One place removed: "snapshot: 2 records (delete-….csv)", with its account where its
 * file's name does not already say it. */
function removed(place: PersonReceipt["local"][number], f: Formats): HTMLElement {
  const file = fileName(place.where);
  const account =
    place.account && !file.includes(place.account) ? `, account ${shown(place.account, 80)}` : "";
  return el(
    "span",
    { className: "sub", attrs: { title: shown(place.where, 1000) } },
    `${shown(place.kind, 60)}: ${f.counted(place.records, "record")}`,
    el("span", { className: "sub-i", text: ` (${file}${account})` }),
  );
}

/** An email that wraps, where it must, before its "@" and after its dots. */
function email(address: string): (string | HTMLElement)[] {
  return shown(address)
    .split(/(?=@)|(?<=\.)/)
    .flatMap((part, i) => (i === 0 ? [part] : [document.createElement("wbr"), part]));
}

/** What a merge's contact to delete holds, as its preview row says (its subscription and
 * segments; any other fact as `key: value`): "Unsubscribed · in Beta, VIP". */
function holding(before: [string, unknown][]): string {
  const parts = before.map(([key, value]) => {
    if (key === "unsubscribed" && typeof value === "boolean")
      return value ? "Unsubscribed" : "Subscribed";
    if (key === "segments" && Array.isArray(value))
      return value.length ? `in ${shownValue(value)}` : "in no segment";
    return `${shown(key, 60)}: ${shownValue(value)}`;
  });
  return parts.join(" · ");
}

/** A restored contact's fields, one `key: value` line each, as its snapshot holds them. */
function restored(c: SampleChange): HTMLElement[] {
  if (c.after.length === 0) return [el("span", { className: "sub-i", text: "its address alone" })];
  return c.after.map(([key, value]) => line(shown(key, 60), shownValue(value)));
}

/** A contact deleted again: its fields now, one `key: value` line each (what the job
 * that created it gave it), then that it is deleted. */
function deletedAgain(c: SampleChange): HTMLElement[] {
  if (c.before.length === 0) return [el("span", { className: "kv", text: "deleted" })];
  return [
    ...c.before.map(([key, value]) => line(shown(key, 60), shownValue(value))),
    el("span", { className: "kv", text: "→ deleted" }),
  ];
}

/** Words as a choice, the last set apart: "put back", "put back, or restored", "put back,
 * restored or deleted". */
function either(words: string[]): string {
  if (words.length < 3) return words.join(", or ");
  return `${words.slice(0, -1).join(", ")} or ${words[words.length - 1]}`;
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
  const rows: [string, string][] =
    preview.kind === "forget"
      ? [
          ["People", f.count(preview.count)],
          ["At Resend", f.count(preview.atResend ?? 0)],
          ["Local records", f.count(preview.localRecords)],
          ...(preview.suppress ? [["Suppressed too", "Yes"] as [string, string]] : []),
        ]
      : isDelete
        ? [["To delete", f.count(preview.count)]]
        : preview.merge !== null
          ? [
              ["Contacts", f.count(preview.count)],
              ["To delete", f.count(Math.max(0, preview.count - 1))],
              ["Changes to the kept one", f.count(preview.changeSample[0]?.after.length ?? 0)],
            ]
          : preview.undo?.restore
            ? [
                ["Deleted by the job", f.count(preview.count)],
                ["To restore", f.count(preview.toChange ?? 0)],
                ["Created again since", f.count(preview.changedSince)],
              ]
            : preview.undo
              ? [
                  ["Changed by the job", f.count(preview.count)],
                  [
                    preview.undo.deletes ? "To put back or delete" : "To put back",
                    f.count(preview.toChange ?? 0),
                  ],
                  ["Already as before", f.count(preview.already ?? 0)],
                  ["Changed again since", f.count(preview.changedSince)],
                  ["Kept unsubscribed", f.count(preview.refused)],
                ]
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

/** A forget's facts: people forgotten, not (completely), requests and time. */
export function forgetFacts(outcome: Outcome, f: Formats): [string, string][] {
  return [
    ["Forgotten", f.count(outcome.done)],
    ["Not completely", f.count(outcome.failed)],
    ["Local records", f.count(outcome.people.reduce((n, r) => n + records(r), 0))],
    ["API requests", f.count(outcome.requests)],
    ["Took", f.took(outcome.seconds)],
  ];
}

function records(receipt: PersonReceipt): number {
  return receipt.local.reduce((n, place) => n + place.records, 0);
}

/** An undo's facts: put back (or restored), already as before, left alone as changed again
 * since, kept unsubscribed, deleted since, failed. A delete's undo (`restore`, when known)
 * has only what it restored and the addresses created again since. (The job view's too.) */
export function undoFacts(outcome: Outcome, restore: boolean, f: Formats): [string, string][] {
  const rows: [string, string][] = restore
    ? [
        ["Restored", f.count(outcome.done)],
        ["Created again since", f.count(outcome.changedSince)],
      ]
    : [
        ["Put back", f.count(outcome.done)],
        ["Already as before", f.count(outcome.unchanged)],
        ["Changed again since", f.count(outcome.changedSince)],
        ["Kept unsubscribed", f.count(outcome.refused)],
        ["Deleted since", f.count(outcome.gone)],
      ];
  rows.push(
    ["Failed", f.count(outcome.failed)],
    ["API requests", f.count(outcome.requests)],
    ["Took", f.took(outcome.seconds)],
  );
  return rows;
}

/** An undo's contacts left alone, changed again after the job: a note naming the first,
 * each with what changed. None where it left none alone (or named none). */
export function leftAlone(outcome: Outcome, f: Formats): string[] {
  if (outcome.changedSinceSample.length === 0) return [];
  const more = outcome.changedSince - outcome.changedSinceSample.length;
  return [
    "Left alone, changed again since the job: " +
      outcome.changedSinceSample.map((line) => shown(line, 300)).join("; ") +
      (more > 0 ? `; and ${f.count(more)} more (in the file below).` : "."),
  ];
}

/** A merge's snapshot, as its files list names it; an undo's too, of the contacts it
 * deleted again. (The job view's too.) */
export const MERGE_SNAPSHOT = "Snapshot of the deleted contacts (an undo restores them)";

/** A merge's end in a heading: "Merged 3 contacts into one". (The job view's too.) */
export function merged(outcome: Outcome, f: Formats): string {
  return `Merged ${f.counted(outcome.selected, "contact")} into one`;
}

/** A merge's end in a sentence: the contacts deleted once the kept one took what they
 * held, and those that could not be. (The job view's too.) */
export function mergedText(outcome: Outcome, f: Formats): string {
  const deleted =
    `${f.count(outcome.done)} deleted after the kept one took what ` +
    (outcome.done === 1 ? "it held" : "they held");
  return outcome.failed
    ? `${deleted}; ${f.counted(outcome.failed, "contact")} could not be deleted: the file ` +
        "below says why."
    : `${deleted}.`;
}

/** A merge's facts: the contacts merged, those deleted and those that could not be,
 * requests and time. (The job view's too.) */
export function mergeFacts(outcome: Outcome, f: Formats): [string, string][] {
  return [
    ["Contacts", f.count(outcome.selected)],
    ["Deleted", f.count(outcome.done)],
    ["Failed", f.count(outcome.failed)],
    ["API requests", f.count(outcome.requests)],
    ["Took", f.took(outcome.seconds)],
  ];
}

/** How a merge is undone, for its outcome's notes. (The job view's too.) */
export function mergeUndo(jobId: string): string {
  return (
    `To undo it, ask the assistant to undo job ${shown(jobId, 100)}: the deleted contacts ` +
    "are restored from the snapshot, and the kept one is put back as it was, but for " +
    "opt-outs (an undo never opts anyone back in)."
  );
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
