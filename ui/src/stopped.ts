// What a job got done before it was cancelled or failed. Such a job has no result: what
// is known is its last progress report (a count, and the step it counted) and its kind.
// Jobs report every few items, so a count in the acting step is a floor: a few more may
// have been done in the moments before the stop. Everything here is worded from that.

import { type Formats, shown } from "./format";
import { record } from "./shapes";

/** Where a job stood when it stopped: its last step, and that step's count. */
export interface LastReport {
  kind: string;
  /** The step's message ("deleted: 20 of 60"), or null when it is not known. */
  step: string | null;
  done: number;
  total: number | null;
}

export interface WhatWasDone {
  /** One sentence: what got done (or that nothing did). */
  done: string;
  /** What was not, and what stays, or how to go on. */
  rest: string;
  facts: [string, string][];
}

/** The step a get_job answer says a job stood at when `cancel` stopped it. */
export function readStoppedAt(structured: unknown): string | null {
  const step = record(structured)?.stopped_at;
  return typeof step === "string" && step !== "" ? step : null;
}

// The acting steps of each kind of job, as the server words them.
const ACTING = /^(deleted|updated): ([\d,]+) of ([\d,]+)/;
// A merge's reading of its group, before it changes anything.
const READING = /^reading the contacts to merge: ([\d,]+) of ([\d,]+)/;
// An undo's: an update's put back contact by contact; a delete's restored as an import.
const PUT_BACK = /^put back: ([\d,]+) of ([\d,]+)/;
const ROWS = /^([\d,]+)\/([\d,]+) rows$/;
// An erasure's: each person at Resend in turn, then every local copy at once.
const FORGOT = /^forgot ([\d,]+) of ([\d,]+) at Resend$/;
const REMOVING = "removing local copies";
// A job's own message before any report, and the one it has once cancelled.
const NO_STEP = /^(starting|cancelled\b.*|done)$/;

const NOUNS: Record<string, string> = {
  delete: "contact",
  update: "contact",
  export: "contact",
  import: "row",
  preview: "row",
  sync: "contact",
};

export function whatWasDone(
  last: LastReport,
  how: "cancelled" | "failed",
  f: Formats,
): WhatWasDone {
  const before = how === "cancelled" ? "before the cancel" : "before it failed";
  const step = last.step !== null && !NO_STEP.test(last.step) ? last.step : null;
  const counted = (n: number, noun: string): string => f.counted(n, noun);
  const ofTotal = last.total !== null ? ` of ${f.count(last.total)}` : "";
  const reported: [string, string][] =
    last.done > 0 || last.total !== null ? [["Last count", `${f.count(last.done)}${ofTotal}`]] : [];

  if (last.kind === "delete" || last.kind === "update") {
    const isDelete = last.kind === "delete";
    const verb = isDelete ? "deleted" : "changed";
    const keep = isDelete
      ? "Those deleted stay deleted: the snapshot written before the first deletion holds " +
        "every selected contact (in the server's snapshots folder), to import them back."
      : "Those changed keep the change; run the change again to finish it.";
    const acting = step === null ? null : ACTING.exec(step);
    if (acting !== null) {
      const n = Number(acting[2].replace(/,/g, ""));
      const of = Number(acting[3].replace(/,/g, ""));
      return {
        done:
          `At least ${f.count(n)} of the ${counted(of, "contact")} ` +
          `${n === 1 ? "was" : "were"} ${verb} ${before}.`,
        rest:
          `The other ${f.count(Math.max(0, of - n))} were left as they were, except perhaps a ` +
          `few ${verb} in its last moments, after its last count. ${keep}`,
        facts: [
          [`${isDelete ? "Deleted" : "Changed"} (at least)`, f.count(n)],
          ["Selected", f.count(of)],
        ],
      };
    }
    if (last.step === "starting") {
      // The job's own word before its first report: a run reports its checks before it
      // changes anything.
      return {
        done: `Nothing was ${verb}: it stopped before it had checked the contacts.`,
        rest: "A run checks every contact before it changes any, so all were left as they were.",
        facts: [],
      };
    }
    if (step !== null && (last.total === null || last.done < last.total)) {
      // Still reading: a bulk run reads every contact before it changes any.
      return {
        done: `Nothing was ${verb}: it stopped while still checking the contacts (${shown(step, 120)}).`,
        rest: "A run checks every contact before it changes any, so all were left as they were.",
        facts: reported,
      };
    }
    return {
      done:
        step === null
          ? `It had counted ${f.count(last.done)}${ofTotal} ${before}: the count does not say ` +
            `how many were ${verb}.`
          : `It stopped as its checks ended (${shown(step, 120)}): few if any contacts were ` +
            `${verb}, too few to have been counted.`,
      rest: keep,
      facts: reported,
    };
  }

  if (last.kind === "forget") return forgetDone(last, step, before, f);

  if (last.kind === "undo") return undoDone(last, step, before, f);

  if (last.kind === "merge") return mergeDone(last, step, before, f);

  if (last.kind === "import") {
    const rows = step === null ? null : ROWS.exec(step);
    const n = rows ? Number(rows[1].replace(/,/g, "")) : last.done;
    const of = rows ? Number(rows[2].replace(/,/g, "")) : last.total;
    return {
      done:
        n > 0
          ? `${f.count(n)}${of !== null ? ` of ${f.count(of)}` : ""} rows were done ${before}.`
          : `No rows had been counted as done ${before}.`,
      rest:
        "Rows it imported stay imported. Run the same import again to go on: it keeps a " +
        "journal of every row and does not import one twice.",
      facts: reported,
    };
  }

  const rests: Record<string, string> = {
    export: "No file was written: an export that stops part way leaves none. Run it again.",
    sync: "The mirror keeps what it read; the next sync goes on from there.",
    preview: "A preview only reads: nothing was changed. Preview the file again.",
  };
  const noun = NOUNS[last.kind] ?? "item";
  return {
    done:
      step !== null
        ? `Its last step ${before}: ${shown(step, 120)}.`
        : last.done > 0
          ? `It had counted ${counted(last.done, noun)}${ofTotal} ${before}.`
          : `It had reported no progress ${before}.`,
    rest: rests[last.kind] ?? "What it finished is kept.",
    facts: reported,
  };
}

/** What an undo did before it stopped. An update's undo reads every contact afresh
 * before it puts any back, then reports "put back: N of M"; a delete's undo re-creates
 * its contacts as an import, reporting rows. What it did stays done, and the same undo
 * asked for again goes on: what is already as before is left as it is, and an address
 * restored already exists again, so it is left alone. */
function undoDone(last: LastReport, step: string | null, before: string, f: Formats): WhatWasDone {
  const again =
    "What it put back stays put back. Ask for the same undo again to finish it: a contact " +
    "already as before, or one that exists again, is left as it is.";
  const putBack = step === null ? null : PUT_BACK.exec(step);
  if (putBack !== null) {
    const n = Number(putBack[1].replace(/,/g, ""));
    const of = Number(putBack[2].replace(/,/g, ""));
    return {
      done:
        `At least ${f.count(n)} of the ${f.counted(of, "contact")} to put back ` +
        `${n === 1 ? "was" : "were"} put back ${before}.`,
      rest:
        `The other ${f.count(Math.max(0, of - n))} were left as they were, except perhaps a ` +
        `few put back in its last moments, after its last count. ${again}`,
      facts: [
        ["Put back (at least)", f.count(n)],
        ["To put back", f.count(of)],
      ],
    };
  }
  const rows = step === null ? null : ROWS.exec(step);
  if (rows !== null) {
    return {
      done: `${rows[1]} of the ${rows[2]} contacts to restore were handled ${before}.`,
      rest: again,
      facts: [["Handled", `${rows[1]} of ${rows[2]}`]],
    };
  }
  const ofTotal = last.total !== null ? ` of ${f.count(last.total)}` : "";
  return {
    done:
      last.step === "starting"
        ? "Nothing was put back: it stopped before it had checked the contacts."
        : step !== null
          ? `Its last step ${before}: ${shown(step, 120)}.`
          : `It had reported no progress ${before}.`,
    rest: again,
    facts:
      last.done > 0 || last.total !== null
        ? [["Last count", `${f.count(last.done)}${ofTotal}`]]
        : [],
  };
}

/** What a merge did before it stopped. It reads every contact of the group afresh
 * ("reading the contacts to merge: 3 of 3"), then gives the kept one what the others hold
 * and snapshots them (no count of its own), and only then deletes them ("deleted: 1 of
 * 2"). What it did stays done; an undo of its job puts back what it did, whatever part. */
function mergeDone(last: LastReport, step: string | null, before: string, f: Formats): WhatWasDone {
  const undo =
    "Undo its job to put back what it did (the kept contact as it was, the deleted ones " +
    "from the snapshot), or search the duplicates again and merge what is there now.";
  const reading = step === null ? null : READING.exec(step);
  if (last.step === "starting" || (reading !== null && reading[1] !== reading[2])) {
    return {
      done: `Nothing was merged: it stopped ${
        reading !== null ? "while still reading" : "before it had read"
      } the contacts.`,
      rest: "A merge reads every contact before it changes any, so all were left as they were.",
      facts: reading !== null ? [["Read", `${reading[1]} of ${reading[2]}`]] : [],
    };
  }
  const acting = step === null ? null : ACTING.exec(step);
  if (acting !== null && acting[1] === "deleted") {
    const n = Number(acting[2].replace(/,/g, ""));
    const of = Number(acting[3].replace(/,/g, ""));
    return {
      done:
        `The kept contact had taken what the others hold, and at least ${f.count(n)} of the ` +
        `${f.counted(of, "other")} ${n === 1 ? "was" : "were"} deleted ${before}.`,
      rest: `Those deleted stay deleted, and the others are still there. ${undo}`,
      facts: [
        ["Deleted (at least)", f.count(n)],
        ["To delete", f.count(of)],
      ],
    };
  }
  const read = reading !== null;
  return {
    done: read
      ? `It had read the contacts ${before}: the kept contact may have taken some of what ` +
        "the others hold, and few if any of them were deleted."
      : (step !== null
          ? `Its last step ${before}: ${shown(step, 120)}.`
          : `It had reported no progress ${before}.`) +
        " The kept contact may have taken some of what the others hold, and some of them " +
        "may have been deleted.",
    rest: undo,
    facts: [],
  };
}

/** What an erasure did before it stopped. It handles each person at Resend in turn (their
 * contact deleted, their address suppressed if asked), reporting each, and only then
 * removes every local copy of them all: its count (out of the people and one more, for
 * that last step) says how far it got. Its people are kept by reference only, so going
 * on is a new forget_contacts for the same people. */
function forgetDone(
  last: LastReport,
  step: string | null,
  before: string,
  f: Formats,
): WhatWasDone {
  const people = (n: number): string => f.counted(n, "person", "people");
  const again =
    "Run forget_contacts again for the same people to finish it: whoever it deleted at " +
    "Resend stays deleted there, and the new run does the rest, at Resend and here. This " +
    "job keeps them by reference only: name them again.";
  const acting = step === null ? null : FORGOT.exec(step);
  // How far at Resend: from its step, else from its count (a last step of its own).
  const n = acting ? Number(acting[1].replace(/,/g, "")) : last.done;
  const of = acting
    ? Number(acting[2].replace(/,/g, ""))
    : last.total !== null && last.total > 1
      ? last.total - 1
      : null;
  const counted = of !== null && (acting !== null || step === null);
  if (step === REMOVING || (counted && n >= of)) {
    const all = of ?? n;
    return {
      done:
        `${all === 1 ? "The person" : `All ${people(all)}`} had been handled at Resend ` +
        `${before}, and ` +
        (step === REMOVING
          ? "it was removing their copies here: some of those may be left."
          : "it may have been removing their copies here: some of those may be left."),
      rest: again,
      facts: [
        ["Handled at Resend", f.count(all)],
        ["People", f.count(all)],
      ],
    };
  }
  if (counted) {
    return {
      done:
        n === 0
          ? `None of the ${people(of)} had been counted as handled at Resend ${before}, ` +
            "and no copy of them here had been removed."
          : `At least ${f.count(n)} of the ${people(of)} ${n === 1 ? "was" : "were"} ` +
            `handled at Resend ${before} (their contacts deleted there); no copy of them ` +
            "here had been removed yet.",
      rest: `The others were left as they were, except perhaps one in its last moments. ${again}`,
      facts: [
        ["Handled at Resend (at least)", f.count(n)],
        ["People", f.count(of)],
      ],
    };
  }
  return {
    done:
      last.step === "starting"
        ? "It stopped before its first count: few if any were handled at Resend, and no " +
          "copy of them here was removed."
        : step !== null
          ? `Its last step ${before}: ${shown(step, 120)}.`
          : `It had reported no progress ${before}.`,
    rest: again,
    facts: [],
  };
}
