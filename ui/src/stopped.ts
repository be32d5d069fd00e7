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
const ROWS = /^([\d,]+)\/([\d,]+) rows$/;
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
