// The search results screen's DOM: the count, the mirror's freshness, the counts per
// segment, the table with its pager and sortable headers, and the panel of a task (an
// export, or a bulk change's preview, run and outcome). Everything shown from the server
// goes through textContent (see dom.ts), cleaned and capped by `shown`.

import { byId, el, facts, fill, lines, show } from "./dom";
import { Formats, shown } from "./format";
import { fileItems, showCount, stopButton } from "./progress";
import { ScreenView } from "./screen";
import type { Condition, DuplicateGroup, Found, Search, SegmentCount, Sort } from "./search-shapes";
import type { FileLink, Job, Preview } from "./shapes";
import { outcomeFacts, previewFacts } from "./view";

/** A group's Merge… once its message went to the assistant (`asked`), or again ready. */
export function mergeAsked(button: HTMLButtonElement, asked: boolean): void {
  button.disabled = asked;
  button.textContent = asked ? "Asked the assistant" : "Merge…";
}

/** Segments shown before "and N more". */
const SEGMENTS_SHOWN = 12;

/** Why contacts were linked, in words (Reason in services/duplicates.py). */
const REASONS: Record<string, string> = {
  same_address: "the same address",
  case: "same letters, other case",
  googlemail: "googlemail.com is gmail.com",
  plus_tag: "a +tag the provider ignores",
  gmail_dots: "Gmail ignores dots",
  domain_typo: "misspelt domain",
  same_name: "same name at one company",
};
const CONFIDENCES = ["high", "medium", "low"];

/** A group's Merge…: whether the host takes messages for the assistant (`ui/message`),
 * whether this group was asked about already, and the asking. */
export interface MergeAsking {
  canAsk: boolean;
  asked(group: DuplicateGroup): boolean;
  ask(group: DuplicateGroup, button: HTMLButtonElement): void;
}

/** Dates and times in the host's locale and time zone, and "3 min ago". */
export class Times {
  private readonly moment: Intl.DateTimeFormat;
  private readonly day: Intl.DateTimeFormat;
  private readonly full: Intl.DateTimeFormat;
  private readonly relative: Intl.RelativeTimeFormat;

  constructor(locale?: string, timeZone?: string) {
    this.moment = make(
      () => new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }),
      () => new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short" }),
    );
    this.day = make(
      () => new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone }),
      () => new Intl.DateTimeFormat("en", { dateStyle: "medium" }),
    );
    this.full = make(
      () => new Intl.DateTimeFormat(locale, { dateStyle: "full", timeStyle: "long", timeZone }),
      () => new Intl.DateTimeFormat("en", { dateStyle: "full", timeStyle: "long" }),
    );
    this.relative = make(
      () => new Intl.RelativeTimeFormat(locale, { numeric: "auto" }),
      () => new Intl.RelativeTimeFormat("en", { numeric: "auto" }),
    );
  }

  /** "Dec 3, 2026, 5:02 AM"; "" for no time. */
  at(iso: string | null): string {
    const when = parseTime(iso);
    return when === null ? "" : this.moment.format(when);
  }

  /** "Dec 3, 2026"; the text as it came if it is no time. */
  date(iso: string): string {
    const when = parseTime(iso);
    return when === null ? shown(iso, 40) : this.day.format(when);
  }

  /** The whole moment, for a tooltip. */
  long(iso: string): string {
    const when = parseTime(iso);
    return when === null ? "" : this.full.format(when);
  }

  /** "just now", "3 minutes ago", "2 hours ago", "5 days ago". */
  ago(seconds: number): string {
    const s = Math.max(0, Math.round(seconds));
    if (s < 45) return this.relative.format(0, "second");
    if (s < 3600) return this.relative.format(-Math.round(s / 60), "minute");
    if (s < 86400) return this.relative.format(-Math.round(s / 3600), "hour");
    return this.relative.format(-Math.round(s / 86400), "day");
  }
}

/** A time as Resend writes it ("2025-11-30 20:41:40.84216+00") or as ISO 8601. */
export function parseTime(text: string | null): Date | null {
  if (!text) return null;
  const iso = text
    .trim()
    .replace(" ", "T")
    .replace(/(\.\d{3})\d+/, "$1")
    .replace(/([+-]\d{2})$/, "$1:00");
  const when = Date.parse(iso);
  return Number.isNaN(when) ? null : new Date(when);
}

function make<T>(build: () => T, fallback: () => T): T {
  try {
    return build(); // an unknown locale or time zone from the host throws
  } catch {
    return fallback();
  }
}

const OPS: Record<string, string> = {
  eq: "is",
  contains: "contains",
  gt: "after",
  gte: "from",
  lt: "before",
  lte: "up to",
  empty: "is empty",
  not_empty: "is not empty",
  in: "in",
  not_in: "not in",
};
const NUMBER_OPS: Record<string, string> = { gt: ">", gte: "≥", lt: "<", lte: "≤" };
const FIELDS: Record<string, string> = {
  email: "Email",
  domain: "Domain",
  first_name: "First name",
  last_name: "Last name",
  unsubscribed: "Unsubscribed",
  created_at: "Created",
  segment: "Segment",
};

/** A condition in words: "Domain is acme.com", "plan ≥ 3". */
export function conditionText(c: Condition): string {
  const field = FIELDS[c.field] ?? c.field;
  const numeric = typeof c.value === "number" && c.field !== "created_at";
  const op = (numeric ? NUMBER_OPS[c.op] : undefined) ?? OPS[c.op] ?? c.op;
  if (c.op === "empty" || c.op === "not_empty") return shown(`${field} ${op}`, 300);
  const value =
    typeof c.value === "string"
      ? c.value
      : c.value === true
        ? "yes"
        : c.value === false
          ? "no"
          : JSON.stringify(c.value ?? "");
  return shown(`${field} ${op} ${value}`, 300);
}

export class SearchView extends ScreenView {
  readonly refresh = byId<HTMLButtonElement>("refresh");
  readonly prev = byId<HTMLButtonElement>("prev");
  readonly next = byId<HTMLButtonElement>("next");
  readonly sortButtons = {
    email: byId<HTMLButtonElement>("sort-email"),
    name: byId<HTMLButtonElement>("sort-name"),
    created: byId<HTMLButtonElement>("sort-created"),
  };
  readonly exportButton = byId<HTMLButtonElement>("export");
  readonly unsubscribe = byId<HTMLButtonElement>("unsubscribe");
  readonly addSegment = byId<HTMLButtonElement>("add-segment");
  readonly deleteButton = byId<HTMLButtonElement>("delete");
  readonly segmentChoice = byId<HTMLSelectElement>("segment-choice");
  readonly segmentGo = byId<HTMLButtonElement>("segment-go");
  readonly approve = byId<HTMLButtonElement>("task-approve");
  readonly cancel = byId<HTMLButtonElement>("task-cancel");
  readonly stop = stopButton(byId<HTMLButtonElement>("task-stop"), "Cancel the run");
  private readonly taskTitle = byId("task-title");
  private readonly taskText = byId("task-text");

  constructor(
    public formats: Formats,
    public times: Times,
  ) {
    super();
  }

  // -- the search ---------------------------------------------------------------------

  showConditions(conditions: Condition[]): void {
    lines(byId("where"), conditions.map(conditionText));
    show(byId("where"), conditions.length > 0);
    if (conditions.length === 0) this.lead.textContent = "Every contact of the account.";
  }

  /** A page of results. `offset`: the rows before this page (null: not known). */
  showSearch(search: Search, offset: number | null, hasPrevious: boolean): void {
    const f = this.formats;
    this.title.textContent =
      search.count === 0
        ? "No contacts match"
        : `${f.counted(search.count, "contact")} ${search.count === 1 ? "matches" : "match"}`;
    this.showFreshness(search);
    this.showSegments(search.segments, search.count);
    this.showRows(search.contacts);
    this.showSort(search.sort);

    const shownRows = search.contacts.length;
    byId("caption").textContent =
      search.count === 0
        ? "No contacts match these conditions."
        : `Sorted ${sortWords(search.sort)}.`;
    show(byId("pager"), search.count > 0);
    byId("page").textContent =
      shownRows === 0
        ? ""
        : offset === null
          ? `${f.count(shownRows)} of ${f.count(search.count)}`
          : `${f.count(offset + 1)}–${f.count(offset + shownRows)} of ${f.count(search.count)}`;
    this.prev.disabled = !hasPrevious;
    this.next.disabled = search.nextAfter === null;
    show(byId("table-section"), search.count > 0);
    show(byId("duplicates-section"), false);
    byId("actions-title").textContent =
      search.count === 0
        ? "Nothing to act on"
        : `All ${f.counted(search.count, "matching contact")}`;
    show(byId("results"));
  }

  /** `duplicates: true`: groups of likely duplicates, in place of the table and of the
   * actions on a set (the groups are no search to page, sort, export or change). */
  showDuplicates(search: Search, groups: DuplicateGroup[], merging: MergeAsking): void {
    const f = this.formats;
    const total = Math.max(search.duplicateGroups, groups.length);
    const among = f.counted(search.count, "contact");
    this.title.textContent =
      total === 0
        ? `No likely duplicates among ${among}`
        : `${f.counted(total, "group")} of likely duplicates among ${among}`;
    this.lead.textContent =
      "Contacts that are likely one person, found from their addresses and names. " +
      (merging.canAsk
        ? "Nothing is changed here: Merge… asks the assistant, which shows you the merge " +
          "to approve first."
        : "Nothing is changed here.");
    show(byId("where"), false);
    this.showFreshness(search);
    show(byId("segments-section"), false);
    show(byId("table-section"), false);
    show(byId("actions"), false);
    fill(byId("duplicates"), ...groups.map((g, i) => this.group(g, i, merging)));
    const more = total - groups.length;
    const note = byId("duplicates-note");
    note.textContent =
      more > 0
        ? `And ${f.counted(more, "more group")}, not shown here: the most certain come first.`
        : "";
    show(note, more > 0);
    show(byId("duplicates-section"), total > 0);
    show(byId("results"));
  }

  private group(g: DuplicateGroup, index: number, merging: MergeAsking): HTMLElement {
    const level = CONFIDENCES.includes(g.confidence) ? g.confidence : "low";
    const reasons = g.reasons.map((r) => REASONS[r] ?? shown(r, 60));
    const contacts = g.contacts.map((c) => {
      const tags = [
        ...(c.id === g.keep ? [el("span", { className: "tag keep", text: "keep" })] : []),
        ...(c.domainTypo ? [el("span", { className: "tag typo", text: "misspelt domain" })] : []),
        ...(c.unsubscribed ? [el("span", { className: "tag", text: "unsubscribed" })] : []),
      ];
      return el(
        "li",
        { className: c.id === g.keep ? "kept" : "" },
        el("span", { className: "addr" }, ...email(c.email)),
        ...tags,
        el("span", {
          className: "created muted",
          text: `Created ${this.times.date(c.createdAt)}`,
          attrs: { title: this.times.long(c.createdAt) },
        }),
      );
    });
    return el(
      "li",
      { className: "group", attrs: { "data-confidence": level } },
      el(
        "p",
        { className: "group-head" },
        el("span", {
          className: `tag conf conf-${level}`,
          text: `${shown(g.confidence, 20) || level} confidence`,
        }),
        el("span", { className: "why", text: reasons.join(" · ") }),
      ),
      el(
        "ul",
        { className: "group-contacts", attrs: { id: `group-${index}-contacts` } },
        ...contacts,
      ),
      this.mergeAction(g, `group-${index}-contacts`, merging),
    );
  }

  /** A group's Merge…, which asks the assistant to merge it (the merge is previewed and
   * approved there); or, where the host takes no message from the screen, how to ask. */
  private mergeAction(g: DuplicateGroup, contacts: string, merging: MergeAsking): HTMLElement {
    if (!merging.canAsk)
      return el("p", { className: "group-act muted", text: "To merge them, ask the assistant." });
    // Named by its text; described by the group's contacts.
    const button = el("button", {
      className: "merge",
      text: "Merge…",
      attrs: { type: "button", "aria-describedby": contacts },
    });
    if (merging.asked(g)) mergeAsked(button, true);
    button.addEventListener("click", () => merging.ask(g, button));
    // Said when the button turns to "Asked the assistant".
    return el("div", { className: "group-act", attrs: { "aria-live": "polite" } }, button);
  }

  private showFreshness(search: Search): void {
    const f = this.formats;
    const mirror = search.mirror;
    const fresh = byId("fresh");
    byId("fresh-note").textContent = shown(mirror.note, 3000);
    if (mirror.syncedAt === null) {
      fresh.textContent = "Not synced from Resend yet.";
    } else {
      const when = this.times.at(mirror.syncedAt);
      const age = mirror.ageSeconds === null ? "" : ` (${this.times.ago(mirror.ageSeconds)})`;
      fresh.textContent =
        `Synced from Resend ${when}${age} · ${f.counted(mirror.contacts, "contact")} in all.` +
        (search.synced
          ? ` Refreshed: ${f.counted(search.synced.newContacts, "new contact")}.`
          : "");
    }
    const note = byId("refresh-note");
    note.textContent = search.refreshing
      ? "A refresh is still running: these results are from the previous sync. " +
        "Refresh again to see its results once it ends."
      : "";
    show(note, search.refreshing);
  }

  private showSegments(segments: SegmentCount[] | null, total: number): void {
    const f = this.formats;
    const note = byId("segments-note");
    if (segments === null) {
      fill(byId("segments"));
      note.textContent =
        "Not known yet: the mirror has not read the segments' member lists. " +
        "A search on a segment reads them.";
      show(note);
      return;
    }
    const items = segments.slice(0, SEGMENTS_SHOWN).map((s) =>
      el(
        "li",
        { className: s.count === 0 ? "zero" : "" },
        el("span", { className: "name", text: shown(s.name, 100) }),
        el("span", {
          className: "n",
          text: f.count(s.count),
          attrs: { "aria-label": `${f.counted(s.count, "contact")} of ${f.count(total)}` },
        }),
      ),
    );
    fill(byId("segments"), ...items);
    const more = segments.length - items.length;
    note.textContent =
      segments.length === 0
        ? "The account has no segments."
        : more > 0
          ? `And ${f.counted(more, "more segment")}.`
          : "";
    show(note, note.textContent !== "");
  }

  private showRows(contacts: Found[]): void {
    const rows = contacts.map((c) => {
      const name = [c.firstName, c.lastName].filter(Boolean).join(" ");
      return el(
        "tr",
        {},
        el(
          "td",
          { className: "c-email" },
          el("span", { className: "addr" }, ...email(c.email)),
          // At phone width the Subscribed column gives way to this tag.
          ...(c.unsubscribed
            ? [el("span", { className: "tag sub-inline", text: "unsubscribed" })]
            : []),
        ),
        el("td", { className: "c-name", text: shown(name) }),
        el("td", { className: "c-sub", text: c.unsubscribed ? "No" : "Yes" }),
        el("td", {
          className: "c-created num",
          text: this.times.date(c.createdAt),
          attrs: { title: this.times.long(c.createdAt) },
        }),
      );
    });
    fill(byId("rows"), ...rows);
  }

  private showSort(sort: Sort): void {
    const columns: [HTMLButtonElement, string, string][] = [
      [this.sortButtons.email, "email", "ascending"],
      [this.sortButtons.name, "name", "ascending"],
      [this.sortButtons.created, "created", sort === "oldest" ? "ascending" : "descending"],
    ];
    const active = sort === "newest" || sort === "oldest" ? "created" : sort;
    for (const [button, column, direction] of columns) {
      const th = button.parentElement!;
      const arrow = button.querySelector(".arrow")!;
      if (column === active) {
        th.setAttribute("aria-sort", direction);
        arrow.textContent = direction === "ascending" ? "▲" : "▼";
      } else {
        th.removeAttribute("aria-sort");
        arrow.textContent = "";
      }
    }
    const created = this.sortButtons.created;
    created.title =
      sort === "newest"
        ? "Sort oldest first"
        : sort === "oldest"
          ? "Sort newest first"
          : "Sort newest first";
    this.sortButtons.email.title = "Sort by email";
    this.sortButtons.name.title = "Sort by name";
  }

  /** A search is under way: its controls wait for it. */
  searching(busy: boolean): void {
    byId("table").classList.toggle("busy", busy);
    byId("table-wrap").setAttribute("aria-busy", String(busy));
    for (const b of [this.prev, this.next, ...Object.values(this.sortButtons), this.refresh])
      b.disabled = busy;
  }

  /** Disable Previous/Next as the page allows (after `searching(false)`). */
  pagerState(hasPrevious: boolean, hasNext: boolean): void {
    this.prev.disabled = !hasPrevious;
    this.next.disabled = !hasNext;
  }

  refreshing(on: boolean): void {
    this.refresh.disabled = on;
    this.refresh.textContent = on ? "Refreshing…" : "Refresh";
    if (on) byId("fresh").textContent = "Refreshing: reading new contacts from Resend…";
  }

  /** Whether the actions on the whole set may start (one task at a time, and a set). */
  actionsEnabled(on: boolean): void {
    for (const b of [
      this.exportButton,
      this.unsubscribe,
      this.addSegment,
      this.deleteButton,
      this.segmentGo,
    ])
      b.disabled = !on;
    this.segmentChoice.disabled = !on;
  }

  showSegmentPick(open: boolean): void {
    show(byId("segment-pick"), open);
    this.addSegment.setAttribute("aria-expanded", String(open));
  }

  segmentOptions(options: { id: string; name: string }[], loading = false): void {
    fill(
      this.segmentChoice,
      ...(loading
        ? [el("option", { text: "Loading segments…", attrs: { value: "" } })]
        : options.length === 0
          ? [el("option", { text: "The account has no segments", attrs: { value: "" } })]
          : options.map((s) => el("option", { text: shown(s.name, 100), attrs: { value: s.id } }))),
    );
    this.segmentGo.disabled = loading || options.length === 0;
  }

  // -- the task panel -------------------------------------------------------------------

  private openTask(title: string, text = ""): void {
    show(byId("task"));
    this.taskTitle.textContent = title;
    this.taskText.textContent = text;
    this.taskText.className = "";
    facts(byId("task-facts"), []);
    fill(byId("task-sample"));
    show(byId("task-sample-title"), false);
    fill(byId("task-notes"));
    fill(byId("task-files"));
    show(byId("task-bar"), false);
    byId("task-progress").textContent = "";
    show(byId("task-decide"), false);
    show(byId("task-running"), false);
    this.clearError();
  }

  focusTask(): void {
    this.taskTitle.focus();
  }

  working(title: string, text: string): void {
    this.openTask(title, text);
    const bar = byId<HTMLProgressElement>("task-bar");
    bar.removeAttribute("value");
    show(bar);
    this.focusTask();
  }

  /** A change that runs at once when asked (a few contacts): the screen asks first. */
  confirmSmall(title: string, text: string, approveLabel: string, danger: boolean): void {
    this.openTask(title, text);
    this.decideButtons(approveLabel, danger);
    this.focusTask();
  }

  private decideButtons(approveLabel: string, danger: boolean): void {
    show(byId("task-decide"));
    this.approve.className = danger ? "danger" : "primary";
    this.approve.textContent = approveLabel;
    this.cancel.textContent = "Cancel";
    this.approve.disabled = this.cancel.disabled = false;
    show(this.approve);
  }

  showPreview(preview: Preview, canDecide: boolean, expiresAt: string): void {
    const f = this.formats;
    const isDelete = preview.kind === "delete";
    const counted = f.counted(preview.count, "contact");
    this.openTask(
      `${isDelete ? "Delete" : "Update"} ${counted}?`,
      isDelete
        ? "They will be deleted from Resend. A snapshot of them is written first, to import them back."
        : `Change: ${shown(preview.change, 500)}`,
    );
    const rows = previewFacts(preview, f);
    facts(byId("task-facts"), rows);
    const sample = isDelete
      ? preview.deleteSample.map((c) => c.email)
      : preview.changeSample.map((c) => c.email);
    const first = sample.slice(0, 5);
    lines(
      byId("task-sample"),
      first.map((address) => shown(address)),
    );
    const sampleTitle = byId("task-sample-title");
    sampleTitle.textContent =
      first.length < preview.count ? `The first ${f.count(first.length)}:` : "";
    show(sampleTitle, sampleTitle.textContent !== "");
    const notes = [...preview.notes];
    if (preview.refused > 0)
      notes.unshift(
        `${f.counted(preview.refused, "contact")} opted out, and this change would opt them ` +
          "back in: they are left as they are.",
      );
    lines(
      byId("task-notes"),
      notes.map((note) => shown(note, 1000)),
    );
    if (canDecide) {
      this.decideButtons("Approve", isDelete);
      const until = this.formats.time(expiresAt);
      if (until) byId("task-progress").textContent = `Approve or cancel by ${until}.`;
    } else {
      this.taskText.textContent +=
        " This screen cannot approve it: the host gave it no approval. Nothing runs unless " +
        "you agree with the assistant in the conversation.";
    }
    this.focusTask();
  }

  deciding(approve: boolean): void {
    this.approve.disabled = this.cancel.disabled = true;
    (approve ? this.approve : this.cancel).textContent = approve ? "Starting…" : "Cancelling…";
  }

  expired(): void {
    show(byId("task-decide"), false);
    byId("task-progress").textContent = "";
    this.showError("This preview has expired: nothing was changed. Start it again.");
  }

  showRun(job: Job): void {
    const doing = job.kind === "delete" ? "Deleting" : "Updating";
    this.openTask(`${doing}…`);
    show(byId("task-bar"));
    show(byId("task-running"));
    this.stop.ready();
    this.progress(job.message, job.done, job.total, job.etaSeconds);
    this.focusTask();
  }

  progress(message: string, done: number, total: number | null, eta: number | null): void {
    const f = this.formats;
    showCount(byId<HTMLProgressElement>("task-bar"), done, total);
    const counted = total !== null ? `${f.count(done)} of ${f.count(total)} done` : "";
    const left = eta !== null ? `${f.duration(eta)} left` : "";
    byId("task-progress").textContent = [shown(message, 300), counted, left]
      .filter(Boolean)
      .join(" · ");
  }

  stopFailed(message: string): void {
    this.stop.ready();
    this.showError(message);
  }

  showOutcome(job: Job, links: FileLink[], download: (link: FileLink) => void): void {
    const f = this.formats;
    const outcome = job.outcome;
    const isDelete = (outcome?.action || job.kind) === "delete";
    let title: string;
    let text: string;
    let ok = false;
    if (job.status === "completed" && outcome !== null) {
      title = `${isDelete ? "Deleted" : "Updated"} ${f.count(outcome.done)} of ${f.counted(outcome.selected, "contact")}`;
      text = outcome.failed
        ? `${f.counted(outcome.failed, "contact")} failed: the file below says why.`
        : "Finished, with no failures.";
      ok = !outcome.failed;
    } else if (job.status === "cancelled") {
      title = "The run was cancelled";
      text = isDelete
        ? "The contacts it had already deleted stay deleted (its snapshot holds them); the others are untouched."
        : "The contacts it had already changed keep the change; the others are untouched.";
    } else {
      title = "The run failed";
      text = shown(job.error ?? job.message, 1000);
    }
    this.openTask(title, text);
    this.taskText.className = ok ? "ok" : "";
    if (outcome) facts(byId("task-facts"), outcomeFacts(outcome, isDelete, f));
    const notes = outcome ? [...outcome.notes] : [];
    if (outcome?.noLongerMatching)
      notes.push(
        "Left untouched, no longer matching the search when it ran: " +
          outcome.noLongerMatchingSample.map((address) => shown(address)).join(", "),
      );
    lines(
      byId("task-notes"),
      notes.map((note) => shown(note, 1000)),
    );
    const files: [string, string | null][] = [
      [
        isDelete ? "Snapshot (import it to bring them back)" : "Snapshot",
        outcome?.snapshotFile ?? null,
      ],
      [
        isDelete ? "Not deleted, with reasons" : "Not changed, with reasons",
        outcome?.failuresFile ?? null,
      ],
    ];
    this.showFiles(files, links, download);
    this.focusTask();
  }

  showDeclined(message: string): void {
    this.openTask("Nothing was changed", shown(message, 1000));
    this.focusTask();
  }

  showExported(
    rows: number,
    file: string | null,
    links: FileLink[],
    download: (link: FileLink) => void,
  ): void {
    const f = this.formats;
    this.openTask(
      `Exported ${f.counted(rows, "contact")}`,
      "A CSV in UTF-8 that import_contacts reads back unchanged.",
    );
    this.taskText.className = "ok";
    this.showFiles([["CSV", file]], links, download);
    this.focusTask();
  }

  taskFailed(title: string, message: string): void {
    this.openTask(title, shown(message, 2000));
    this.focusTask();
  }

  closeTask(): void {
    show(byId("task"), false);
  }

  private showFiles(
    files: [string, string | null][],
    links: FileLink[],
    download: (link: FileLink) => void,
  ): void {
    fill(byId("task-files"), ...fileItems(files, links, download));
  }

  // -- problems -----------------------------------------------------------------------

  showProblem(title: string, message: string): void {
    this.title.textContent = title;
    this.showError(message);
  }
}

function sortWords(sort: Sort): string {
  return {
    newest: "newest first",
    oldest: "oldest first",
    email: "by email",
    name: "by name",
  }[sort];
}

/** An email that wraps, where it must, before its "@" and after its dots. */
function email(address: string): (string | HTMLElement)[] {
  return shown(address)
    .split(/(?=@)|(?<=\.)/)
    .flatMap((part, i) => (i === 0 ? [part] : [document.createElement("wbr"), part]));
}
