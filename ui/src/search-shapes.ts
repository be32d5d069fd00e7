// What the search results screen reads from the server's answers: search_contacts
// (SearchOut in src/contacts_mcp/services/sets.py), list_segments (SegmentList) and
// export_contacts / get_job (JobOut[ExportOutcome]). Like shapes.ts, the readers take
// whatever arrives and default what is missing: an older or newer server shows fewer
// facts, never a broken screen.

import { type Json, maybeNum, maybeStr, num, record, str, strings } from "./shapes";

export type Sort = "newest" | "oldest" | "email" | "name";
export const SORTS: readonly Sort[] = ["newest", "oldest", "email", "name"];

export interface Found {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  unsubscribed: boolean;
  createdAt: string;
}

export interface SegmentCount {
  id: string;
  name: string;
  count: number;
}

export interface Mirror {
  syncedAt: string | null;
  ageSeconds: number | null;
  contacts: number;
  note: string;
}

/** One contact of a group of likely duplicates. */
export interface DuplicateContact {
  id: string;
  email: string;
  createdAt: string;
  unsubscribed: boolean;
  domainTypo: boolean;
}

/** Contacts that are likely one person (DuplicateGroup in services/duplicates.py). */
export interface DuplicateGroup {
  confidence: string;
  reasons: string[];
  /** The id of the contact to keep; null when every address is on a misspelt domain. */
  keep: string | null;
  /** Oldest first. */
  contacts: DuplicateContact[];
}

export interface Search {
  count: number;
  selection: string;
  sort: Sort;
  contacts: Found[];
  nextAfter: string | null;
  /** null: the mirror has not read segment memberships yet. */
  segments: SegmentCount[] | null;
  mirror: Mirror;
  /** A refresh still running: these results predate it. */
  refreshing: boolean;
  /** The refresh this answer ran, in words ("12 new"), if it ran one. */
  synced: { mode: string; newContacts: number; contacts: number } | null;
  /** `duplicates: true`: the groups shown (null: an ordinary search). */
  duplicates: DuplicateGroup[] | null;
  /** All the groups found, shown or not. */
  duplicateGroups: number;
}

export interface Condition {
  field: string;
  op: string;
  value: unknown;
}

export interface SegmentChoice {
  id: string;
  name: string;
}

/** An export job (JobOut[ExportOutcome]): its result once completed. */
export interface ExportJob {
  id: string;
  status: "working" | "completed" | "failed" | "cancelled";
  message: string;
  done: number;
  total: number | null;
  error: string | null;
  rows: number | null;
  file: string | null;
}

function list(value: unknown): Json[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((v): Json[] => {
    const r = record(v);
    return r === null ? [] : [r];
  });
}

export function isSort(value: unknown): value is Sort {
  return SORTS.includes(value as Sort);
}

export function readSearch(structured: unknown): Search | null {
  const s = record(structured);
  if (s === null || typeof s.count !== "number" || typeof s.selection !== "string") return null;
  const mirror = record(s.mirror) ?? {};
  const synced = record(s.synced);
  return {
    count: num(s.count),
    selection: s.selection,
    sort: isSort(s.sort) ? s.sort : "newest",
    contacts: list(s.contacts).map((c) => ({
      id: str(c.id),
      email: str(c.email),
      firstName: str(c.first_name),
      lastName: str(c.last_name),
      unsubscribed: c.unsubscribed === true,
      createdAt: str(c.created_at),
    })),
    nextAfter: maybeStr(s.next_after),
    segments: Array.isArray(s.segments)
      ? list(s.segments).map((g) => ({ id: str(g.id), name: str(g.name), count: num(g.count) }))
      : null,
    mirror: {
      syncedAt: maybeStr(mirror.synced_at),
      ageSeconds: maybeNum(mirror.age_seconds),
      contacts: num(mirror.contacts),
      note: str(mirror.note),
    },
    refreshing: record(s.refresh_job) !== null,
    synced:
      synced === null
        ? null
        : {
            mode: str(synced.mode),
            newContacts: num(synced.new_contacts),
            contacts: num(synced.contacts),
          },
    duplicates: Array.isArray(s.duplicates) ? list(s.duplicates).map(readGroup) : null,
    duplicateGroups: num(s.duplicate_groups),
  };
}

function readGroup(g: Json): DuplicateGroup {
  return {
    confidence: str(g.confidence),
    reasons: strings(g.reasons),
    keep: maybeStr(g.keep),
    contacts: list(g.contacts).map((c) => ({
      id: str(c.id),
      email: str(c.email),
      createdAt: str(c.created_at),
      unsubscribed: c.unsubscribed === true,
      domainTypo: c.domain_typo === true,
    })),
  };
}

/** The search's conditions, from the tool's arguments. */
export function readConditions(args: unknown): Condition[] {
  return list(record(args)?.where).map((c) => ({
    field: str(c.field),
    op: str(c.op),
    value: c.value,
  }));
}

export function readSegments(structured: unknown): {
  segments: SegmentChoice[];
  nextAfter: string | null;
} {
  const s = record(structured);
  return {
    segments: list(s?.segments).flatMap((g) =>
      typeof g.id === "string" ? [{ id: g.id, name: str(g.name) || g.id }] : [],
    ),
    nextAfter: maybeStr(s?.next_after),
  };
}

const STATUSES = ["working", "completed", "failed", "cancelled"] as const;

/** export_contacts answers with the job itself; get_job with `{"job": …}`. */
export function readExportJob(structured: unknown): ExportJob | null {
  const outer = record(structured);
  const job = record(outer?.job) ?? outer;
  if (job === null || typeof job.job_id !== "string") return null;
  const result = record(job.result);
  return {
    id: job.job_id,
    status: STATUSES.find((s) => s === job.status) ?? "failed",
    message: str(job.message),
    done: num(job.done),
    total: maybeNum(job.total),
    error: maybeStr(job.error),
    rows: result === null ? null : num(result.rows),
    file: result === null ? null : maybeStr(result.file),
  };
}
