// Text for the screen: numbers, durations, times, and contact data made safe to show.
// Contact fields are hostile input: they are only ever set as textContent, and first
// stripped of control and bidi-override characters (which could make one address look
// like another) and capped, as the server's own text renderings are.

const MAX_FIELD = 200;
// C0/C1 controls, and the bidi marks, embeddings, overrides and isolates.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A value from contact data, safe to put in textContent. */
export function shown(value: string, max = MAX_FIELD): string {
  const clean = value.replace(UNSAFE, "");
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** A before/after value: strings as they are, null as "(none)", the rest as JSON. */
export function shownValue(value: unknown): string {
  if (value === null || value === undefined || value === "") return "(none)";
  if (typeof value === "string") return shown(value);
  if (Array.isArray(value)) {
    return value.length === 0
      ? "(none)"
      : shown(value.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(", "));
  }
  return shown(JSON.stringify(value));
}

/** The last part of a server path: the name a person knows a file by. */
export function fileName(path: string): string {
  return shown(path.split(/[\\/]/).pop() ?? path);
}

export class Formats {
  private readonly numbers: Intl.NumberFormat;
  private readonly times: Intl.DateTimeFormat;
  private readonly dates: Intl.DateTimeFormat;

  constructor(locale?: string, timeZone?: string) {
    this.numbers = make(
      () => new Intl.NumberFormat(locale),
      () => new Intl.NumberFormat("en"),
    );
    this.times = make(
      () => new Intl.DateTimeFormat(locale, { hour: "numeric", minute: "2-digit", timeZone }),
      () => new Intl.DateTimeFormat("en", { hour: "numeric", minute: "2-digit" }),
    );
    const day = { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" } as const;
    this.dates = make(
      () => new Intl.DateTimeFormat(locale, { ...day, timeZone }),
      () => new Intl.DateTimeFormat("en", day),
    );
  }

  count(n: number): string {
    return this.numbers.format(n);
  }

  /** "1 contact", "1,200 contacts". */
  counted(n: number, noun: string, plural = `${noun}s`): string {
    return `${this.count(n)} ${n === 1 ? noun : plural}`;
  }

  /** "about 4 s", "about 2 min 5 s", "about 1 h 3 min". */
  duration(seconds: number): string {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `about ${s} s`;
    const minutes = Math.floor(s / 60);
    if (minutes < 60) return `about ${minutes} min${s % 60 ? ` ${s % 60} s` : ""}`;
    const hours = Math.floor(minutes / 60);
    return `about ${hours} h${minutes % 60 ? ` ${minutes % 60} min` : ""}`;
  }

  /** Seconds a finished run took: "0.4 s", "12 s", "2 min 5 s". */
  took(seconds: number): string {
    if (seconds < 10) return `${seconds.toFixed(1)} s`;
    return this.duration(seconds).replace(/^about /, "");
  }

  /** The local day and time of an ISO timestamp ("Dec 3, 5:02 AM"), or "" if it is none. */
  when(iso: string): string {
    const when = Date.parse(iso);
    return Number.isNaN(when) ? "" : this.dates.format(new Date(when));
  }

  /** The local time of an ISO timestamp, or "" if it is none. */
  time(iso: string): string {
    const when = Date.parse(iso);
    return Number.isNaN(when) ? "" : this.times.format(new Date(when));
  }
}

function make<T>(build: () => T, fallback: () => T): T {
  try {
    return build(); // an unknown locale or time zone from the host throws
  } catch {
    return fallback();
  }
}

/** A job's step with its count, once: "Re-checking contacts: 20 of 60", or the step and
 * "20 of 60 done" where the step does not say it. */
export function stepLine(message: string, done: number, total: number | null, f: Formats): string {
  const step = shown(message, 300);
  const said = total !== null && step.includes(`${done} of ${total}`);
  const counted = total !== null && !said ? `${f.count(done)} of ${f.count(total)} done` : "";
  const first = step ? step[0].toUpperCase() + step.slice(1) : "";
  return [first, counted].filter(Boolean).join(" · ");
}
