// The import review screen's DOM: the file picker, the preview (facts, the editable
// mapping, problems by row, sample rows), the run's progress, and its summary.
// Everything shown from the server goes through textContent (see dom.ts).

import { byId, el, facts, fill, lines, show } from "./dom";
import { Formats, shown, shownValue } from "./format";
import { BUILT_INS, keyProblem, NEW, PROPERTY, type MappedColumn } from "./import-mapping";
import type { ImportPreview, ImportSummary, IssueSummary, Property } from "./import-shapes";
import { fileItems, showCount, stopButton } from "./progress";
import { ScreenView } from "./screen";
import type { FileLink, Job } from "./shapes";

export type MappingState =
  "checked" | "edited" | "invalid" | "checking" | "expired" | "empty" | "none";

/** Examples of each kind of problem shown (the server sends up to 10). */
const EXAMPLES = 5;

export class ImportView extends ScreenView {
  readonly choose = byId<HTMLButtonElement>("choose");
  readonly other = byId<HTMLButtonElement>("other");
  readonly again = byId<HTMLButtonElement>("again");
  readonly file = byId<HTMLInputElement>("file");
  readonly check = byId<HTMLButtonElement>("check");
  readonly importButton = byId<HTMLButtonElement>("import");
  readonly cancel = byId<HTMLButtonElement>("cancel");
  readonly stop = stopButton(byId<HTMLButtonElement>("stop"), "Cancel the run");
  /** Called when the person edits the mapping. */
  onedit: () => void = () => undefined;
  private mapping: MappedColumn[] = [];
  private checked = new Map<string, string>();

  constructor(public formats: Formats) {
    super();
  }

  // -- picking a file -----------------------------------------------------------------

  /** The file picker, as the screen's main content (no file given) or offered beside a
   * problem. */
  showPicker(title: string, lead: string): void {
    this.hideAll();
    this.title.textContent = title;
    this.lead.textContent = shown(lead, 1000);
    this.choose.disabled = false;
    show(byId("pick"));
  }

  /** Work under way before there is a preview: sending the file, reading it. */
  showBusy(title: string, status: string, done?: number, total?: number): void {
    show(byId("pick"), false);
    show(byId("review"), false);
    const section = byId("busy");
    const heading = byId("busy-title");
    const first = section.hidden || heading.textContent !== title;
    heading.textContent = title;
    show(section);
    showCount(byId<HTMLProgressElement>("busy-bar"), done, total);
    byId("busy-status").textContent = shown(status, 300);
    if (first) heading.focus();
  }

  // -- the preview --------------------------------------------------------------------

  showPreview(
    preview: ImportPreview,
    mapping: MappedColumn[],
    properties: Property[],
    canDecide: boolean,
  ): void {
    const f = this.formats;
    this.hideAll();
    this.title.textContent = `Import ${shown(preview.file, 120) || "a CSV file"}`;
    this.lead.textContent =
      `${f.counted(preview.importableRows, "row")} of ${f.count(preview.rows)} can be imported. ` +
      "Check the mapping and the problems below; nothing is imported until you press Import.";
    const delimiter = DELIMITERS[preview.delimiter] ?? `“${shown(preview.delimiter, 4)}”`;
    facts(byId("facts"), [
      ["File", shown(preview.file, 120)],
      ["Rows", f.count(preview.rows)],
      ["Importable", f.count(preview.importableRows)],
      ["Size", size(preview.sizeBytes, f)],
      [
        "Format",
        `${shown(preview.encoding, 30)}, ${delimiter}, ${preview.hasHeader ? "header" : "no header"}`,
      ],
    ]);
    lines(
      byId("notes"),
      preview.notes.map((note) => shown(note, 500)),
    );
    this.renderMapping(mapping, properties);
    this.renderProblems(preview);
    this.renderRows(preview);
    show(byId("decide"), canDecide);
    show(byId("no-approval"), !canDecide);
    this.importButton.textContent = `Import ${f.counted(preview.importableRows, "row")}`;
    show(byId("review"));
  }

  /** The mapping table: one row per column, its target editable. */
  renderMapping(mapping: MappedColumn[], properties: Property[]): void {
    this.mapping = mapping;
    this.checked = new Map(mapping.map((c) => [c.column, targetOf(c)]));
    const rows = mapping.map((column, index) => this.mappingRow(column, index, properties));
    fill(byId("mapping-body"), ...rows);
  }

  /** The current mapping, as edited. */
  current(): MappedColumn[] {
    return this.mapping;
  }

  /** Whether every edit can be sent (new property keys well formed). */
  valid(): boolean {
    return this.mapping.every((c) => keyProblem(c, this.mapping) === null);
  }

  private mappingRow(column: MappedColumn, index: number, properties: Property[]): HTMLElement {
    const id = `target-${index}`;
    const select = el("select", {
      attrs: { id, "aria-label": `Import ${shown(column.column, 80)} as` },
    });
    const builtIns = el(
      "optgroup",
      { attrs: { label: "Contact fields" } },
      ...BUILT_INS.map(([value, label]) => option(value, label)),
    );
    const existing = el(
      "optgroup",
      { attrs: { label: "Existing properties" } },
      ...properties.map((p) => option(PROPERTY + p.key, `${shown(p.key, 50)} (${p.type})`)),
    );
    const created = el(
      "optgroup",
      { attrs: { label: "New property" } },
      option(NEW, "New property…"),
    );
    select.append(builtIns, ...(properties.length ? [existing] : []), created);
    select.value = column.target;
    if (select.value !== column.target) {
      // A target the lists do not name (a property the listing missed): offered as it is.
      select.prepend(option(column.target, shown(column.target.replace(PROPERTY, ""), 50)));
      select.value = column.target;
    }

    const key = el("input", {
      attrs: {
        id: `key-${index}`,
        type: "text",
        value: column.newKey,
        maxlength: "50",
        autocomplete: "off",
        spellcheck: "false",
        "aria-describedby": `key-error-${index}`,
        "aria-label": `Key of the new property for ${shown(column.column, 80)}`,
      },
    });
    key.value = column.newKey;
    const type = el(
      "select",
      {
        attrs: {
          id: `type-${index}`,
          "aria-label": `Type of the new property for ${shown(column.column, 80)}`,
        },
      },
      option("string", "Text"),
      option("number", "Number"),
    );
    type.value = column.newType;
    const problem = el("p", { className: "field-error", attrs: { id: `key-error-${index}` } });
    const newProperty = el(
      "div",
      { className: "newprop" },
      el("div", {}, el("label", { text: "Key", attrs: { for: `key-${index}` } }), key),
      el("div", {}, el("label", { text: "Type", attrs: { for: `type-${index}` } }), type),
    );
    const why = el("td", {
      className: "why",
      text: shown(column.reason, 300),
      attrs: { "data-label": "Why" },
    });
    const row = el(
      "tr",
      {},
      el("td", { className: "col", text: shown(column.column, 120) }),
      el(
        "td",
        { attrs: { "data-label": "Samples" } },
        el(
          "span",
          { className: "samples" },
          ...(column.samples.length
            ? column.samples.map((s) => el("span", { className: "chip", text: shown(s, 60) }))
            : [el("span", { className: "muted", text: "(empty)" })]),
        ),
      ),
      el("td", { attrs: { "data-label": "Import as" } }, select, newProperty, problem),
      why,
    );

    const update = (): void => {
      column.target = select.value;
      column.newKey = key.value.trim();
      column.newType = type.value === "number" ? "number" : "string";
      const isNew = column.target === NEW;
      show(newProperty, isNew);
      this.refreshProblems();
      const changed = targetOf(column) !== this.checked.get(column.column);
      row.classList.toggle("changed", changed);
      // The server's reason was for the checked target.
      why.textContent = changed
        ? "Edited: Check mapping reads the file with it."
        : shown(column.reason, 300);
    };
    select.addEventListener("change", () => {
      update();
      this.onedit();
    });
    key.addEventListener("input", () => {
      update();
      this.onedit();
    });
    type.addEventListener("change", () => {
      update();
      this.onedit();
    });
    show(newProperty, column.target === NEW);
    return row;
  }

  /** Each new property's key problem, next to its input. */
  private refreshProblems(): void {
    this.mapping.forEach((column, index) => {
      const problem = keyProblem(column, this.mapping);
      const input = document.getElementById(`key-${index}`);
      const message = document.getElementById(`key-error-${index}`);
      if (input) input.setAttribute("aria-invalid", problem ? "true" : "false");
      if (message) message.textContent = problem ?? "";
    });
  }

  private renderProblems(preview: ImportPreview): void {
    const f = this.formats;
    const kinds: [IssueSummary, string, string][] = [
      [
        preview.invalidEmails,
        "row without a valid email address",
        "rows without a valid email address",
      ],
      [preview.duplicateEmails, "duplicate email address", "duplicate email addresses"],
      [preview.typeProblems, "value of the wrong type", "values of the wrong type"],
      [preview.malformedRows, "malformed row", "malformed rows"],
    ];
    const blocks = kinds
      .filter(([summary]) => summary.count > 0)
      .flatMap(([summary, one, many]) => {
        const more = summary.count - Math.min(summary.count, EXAMPLES);
        return [
          el("h3", { text: f.counted(summary.count, one, many) }),
          el(
            "ul",
            { className: "problems" },
            ...summary.examples
              .slice(0, EXAMPLES)
              .map((issue) =>
                el(
                  "li",
                  {},
                  el("span", { className: "row", text: `Row ${f.count(issue.row)}` }),
                  issue.column ? ` · ${shown(issue.column, 60)}` : "",
                  `: “${shown(issue.value, 80)}” — ${shown(issue.problem, 200)}`,
                ),
              ),
            ...(more > 0
              ? [el("li", { className: "muted", text: `and ${f.count(more)} more` })]
              : []),
          ),
        ];
      });
    fill(byId("problems"), ...blocks);
    show(byId("problems-none"), blocks.length === 0);
  }

  private renderRows(preview: ImportPreview): void {
    const f = this.formats;
    const keys: string[] = [];
    for (const row of preview.sample)
      for (const key of Object.keys(row)) if (!keys.includes(key)) keys.push(key);
    show(byId("rows-section"), preview.sample.length > 0);
    byId("rows-caption").textContent =
      `The first ${f.counted(preview.sample.length, "importable row")}, as they would be sent.`;
    fill(
      byId("rows-head"),
      ...keys.map((key) => el("th", { text: shown(key, 60), attrs: { scope: "col" } })),
    );
    fill(
      byId("rows-body"),
      ...preview.sample.map((row) =>
        el("tr", {}, ...keys.map((key) => el("td", { text: shownValue(row[key]) }))),
      ),
    );
  }

  /** Where the mapping stands: checked (Import may run it) or edited since. */
  mappingState(state: MappingState): void {
    const f = this.formats;
    const edits = this.mapping.filter((c) => targetOf(c) !== this.checked.get(c.column)).length;
    this.check.disabled = state === "checking" || state === "invalid" || state === "checked";
    this.check.textContent = state === "checking" ? "Checking…" : "Check mapping";
    this.importButton.disabled = state !== "checked";
    this.cancel.disabled = state === "checking";
    this.other.disabled = state === "checking";
    const texts: Record<MappingState, [string, string]> = {
      checked: ["Checked: Import uses this mapping.", ""],
      edited: [
        `${f.counted(edits, "column")} edited since the last check.`,
        "Check the edited mapping before importing.",
      ],
      invalid: [
        "Fix the new property keys marked above.",
        "Check the edited mapping before importing.",
      ],
      checking: ["Reading the file again with this mapping…", ""],
      expired: ["", "This check has expired: check the mapping again to import."],
      empty: ["Checked.", "No row can be imported with this mapping."],
      none: ["", ""],
    };
    const [checkText, hintText] = texts[state];
    byId("check-status").textContent = checkText;
    byId("import-hint").textContent = hintText;
  }

  /** After a check: what the checked mapping makes of the file. */
  checkedNote(preview: ImportPreview): void {
    const f = this.formats;
    byId("check-status").textContent =
      `Checked: ${f.count(preview.importableRows)} of ${f.counted(preview.rows, "row")} ` +
      "can be imported with this mapping.";
  }

  /** Import or Cancel was pressed: both wait for the server's answer. */
  deciding(approve: boolean): void {
    this.importButton.disabled =
      this.cancel.disabled =
      this.check.disabled =
      this.other.disabled =
        true;
    (approve ? this.importButton : this.cancel).textContent = approve ? "Starting…" : "Cancelling…";
    this.clearError();
  }

  conflict(): "upsert" | "skip" {
    const chosen = document.querySelector<HTMLInputElement>('input[name="conflict"]:checked');
    return chosen?.value === "upsert" ? "upsert" : "skip";
  }

  // -- the run ------------------------------------------------------------------------

  showRun(job: Job): void {
    this.hideAll();
    show(byId("run"));
    this.lead.textContent = "";
    byId("run-title").textContent = "Approved. Importing…";
    this.stop.ready();
    this.progress(job);
    byId("run-title").focus();
  }

  progress(job: Job): void {
    const f = this.formats;
    showCount(byId<HTMLProgressElement>("bar"), job.done, job.total);
    const counted = job.total !== null ? `${f.count(job.done)} of ${f.count(job.total)} rows` : "";
    const eta = job.etaSeconds !== null ? `${f.duration(job.etaSeconds)} left` : "";
    byId("progress").textContent = [shown(job.message, 300), counted, eta]
      .filter(Boolean)
      .join(" · ");
  }

  stopFailed(message: string): void {
    this.stop.ready();
    this.showError(message);
  }

  // -- the end ------------------------------------------------------------------------

  showSummary(
    job: Job,
    summary: ImportSummary | null,
    links: FileLink[],
    download: (link: FileLink) => void,
  ): void {
    const f = this.formats;
    this.hideAll();
    show(byId("outcome"));
    this.lead.textContent = "";
    const heading = byId("outcome-title");
    const text = byId("outcome-text");
    text.className = "";
    if (job.status === "completed" && summary !== null) {
      heading.textContent = `Imported ${f.counted(summary.created + summary.updated, "contact")}`;
      text.textContent = summary.failed
        ? `${f.counted(summary.failed, "row")} could not be imported: the failure report says why, row by row.`
        : "Finished: every importable row was imported.";
      text.className = summary.failed ? "" : "ok";
    } else if (job.status === "cancelled") {
      heading.textContent = "The import was cancelled";
      text.textContent =
        "Contacts it had already imported stay. Running the same import again resumes where it stopped.";
    } else {
      heading.textContent = "The import failed";
      text.textContent = shown(job.error ?? job.message, 1000);
    }
    facts(byId("outcome-facts"), summary ? summaryFacts(summary, f) : []);
    lines(
      byId("outcome-notes"),
      (summary?.notes ?? []).map((note) => shown(note, 1000)),
    );
    this.showFiles(summary, links, download);
    heading.focus();
  }

  /** The person cancelled before anything ran. */
  showDeclined(message: string): void {
    this.hideAll();
    show(byId("outcome"));
    this.lead.textContent = "";
    byId("outcome-title").textContent = "Nothing was imported";
    byId("outcome-text").textContent = shown(message, 1000);
    byId("outcome-text").className = "";
    facts(byId("outcome-facts"), []);
    fill(byId("outcome-notes"));
    show(byId("files"), false);
    byId("outcome-title").focus();
  }

  private showFiles(
    summary: ImportSummary | null,
    links: FileLink[],
    download: (link: FileLink) => void,
  ): void {
    const items = fileItems(
      [["Rows not imported, with reasons", summary?.failuresFile || null]],
      links,
      download,
    );
    fill(byId("file-list"), ...items);
    show(byId("files"), items.length > 0);
  }

  // -- problems -----------------------------------------------------------------------

  /** Nothing to review: the tool refused, or the answer was not a preview. */
  showProblem(title: string, message: string): void {
    this.hideAll();
    this.title.textContent = title;
    this.lead.textContent = "";
    this.showError(message);
  }

  private hideAll(): void {
    for (const id of ["pick", "busy", "review", "run", "outcome"]) show(byId(id), false);
    this.clearError();
  }
}

/** "812 bytes", "4.2 KB", "3.1 MB". */
function size(bytes: number, f: Formats): string {
  if (bytes < 1024) return f.counted(bytes, "byte");
  const [value, unit] = bytes < 1024 * 1024 ? [bytes / 1024, "KB"] : [bytes / 1024 / 1024, "MB"];
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${unit}`;
}

const DELIMITERS: Record<string, string> = {
  ",": "comma",
  ";": "semicolon",
  "\t": "tab",
  "|": "pipe",
};

/** A column's target as the import names it (for telling edited columns apart). */
function targetOf(column: MappedColumn): string {
  return column.target === NEW ? `new:${column.newKey}:${column.newType}` : column.target;
}

function option(value: string, label: string): HTMLOptionElement {
  const node = el("option", { text: label });
  node.value = value;
  return node;
}

function summaryFacts(summary: ImportSummary, f: Formats): [string, string][] {
  const rows: [string, string][] = [
    ["Created", f.count(summary.created)],
    ["Updated", f.count(summary.updated)],
    ["Skipped", f.count(summary.skipped)],
    ["Failed", f.count(summary.failed)],
    ["Duplicates", f.count(summary.duplicates)],
  ];
  if (summary.resumedRows) rows.push(["Done earlier", f.count(summary.resumedRows)]);
  rows.push(["API requests", f.count(summary.requests)], ["Took", f.took(summary.seconds)]);
  return rows;
}
