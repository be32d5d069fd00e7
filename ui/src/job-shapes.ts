// What the job view reads from get_job's answers (JobsOut in
// src/contacts_mcp/server/tools/jobs.py): one job with its result, the recent jobs, or a
// Resend Contact Imports API import. Like shapes.ts, whatever arrives is read with
// defaults, so another server version shows fewer facts, never a broken screen.

import { maybeNum, maybeStr, num, record, str, strings } from "./shapes";

export type Status = "working" | "completed" | "failed" | "cancelled";

/** A job as listed (JobView), and as shown (JobOut: with its result and files). */
export interface JobInfo {
  id: string;
  kind: string;
  status: Status;
  message: string;
  done: number;
  total: number | null;
  etaSeconds: number | null;
  createdAt: string;
  updatedAt: string;
  error: string | null;
  /** Working, but nothing runs it here (left by a stopped server; this one read-only). */
  paused: boolean;
  /** The result as the server sent it (its shape depends on the kind). */
  result: Record<string, unknown> | null;
  /** The result's files as resources: field → URI. */
  fileUris: Record<string, string>;
}

/** A Resend Contact Imports API import (ContactImport). */
export interface ApiImport {
  id: string;
  status: string;
  createdAt: string;
  completedAt: string | null;
  total: number;
  created: number;
  updated: number;
  skipped: number;
  failed: number;
}

export interface JobsAnswer {
  job: JobInfo | null;
  recent: JobInfo[];
  apiImport: ApiImport | null;
  /** The job's last step when this answer's cancel stopped it. */
  stoppedAt: string | null;
}

const STATUSES: readonly Status[] = ["working", "completed", "failed", "cancelled"];

export function readJobInfo(value: unknown): JobInfo | null {
  const job = record(value);
  if (job === null || typeof job.job_id !== "string" || job.job_id === "") return null;
  const status = STATUSES.find((s) => s === job.status) ?? "failed";
  const uris: Record<string, string> = {};
  for (const [field, uri] of Object.entries(record(job.file_uris) ?? {})) {
    if (typeof uri === "string") uris[field] = uri;
  }
  return {
    id: job.job_id,
    kind: str(job.kind),
    status,
    message: str(job.message),
    done: num(job.done),
    total: maybeNum(job.total),
    etaSeconds: maybeNum(job.eta_seconds),
    createdAt: str(job.created_at),
    updatedAt: str(job.updated_at),
    error: maybeStr(job.error),
    paused: status === "working" && "next_call" in job && record(job.next_call) === null,
    result: record(job.result),
    fileUris: uris,
  };
}

function readApiImport(value: unknown): ApiImport | null {
  const found = record(value);
  if (found === null || typeof found.id !== "string") return null;
  const counts = record(found.counts) ?? {};
  return {
    id: found.id,
    status: str(found.status),
    createdAt: str(found.created_at),
    completedAt: maybeStr(found.completed_at),
    total: num(counts.total),
    created: num(counts.created),
    updated: num(counts.updated),
    skipped: num(counts.skipped),
    failed: num(counts.failed),
  };
}

/** A get_job answer; null for anything else. */
export function readJobsAnswer(structured: unknown): JobsAnswer | null {
  const answer = record(structured);
  if (answer === null) return null;
  const job = readJobInfo(answer.job);
  const apiImport = readApiImport(answer.api_import);
  const listed = Array.isArray(answer.recent) ? answer.recent : null;
  if (job === null && apiImport === null && listed === null) return null;
  return {
    job,
    recent: (listed ?? []).flatMap((v) => readJobInfo(v) ?? []),
    apiImport,
    stoppedAt: maybeStr(answer.stopped_at),
  };
}

// -- results, by kind -------------------------------------------------------------------

/** Count fields of a result, read as numbers (0 when missing). */
export function counts<K extends string>(
  result: Record<string, unknown>,
  ...keys: K[]
): Record<K, number> {
  return Object.fromEntries(keys.map((key) => [key, num(result[key])])) as Record<K, number>;
}

export function texts(result: Record<string, unknown>, key: string): string[] {
  return strings(result[key]);
}

export function text(result: Record<string, unknown>, key: string): string | null {
  return maybeStr(result[key]);
}

/** An export's inline rows (column → cell), at most the first `limit`. */
export function exportRows(
  result: Record<string, unknown>,
  limit: number,
): Record<string, string>[] {
  const rows = Array.isArray(result.contacts) ? result.contacts : [];
  return rows.slice(0, limit).flatMap((row) => {
    const r = record(row);
    if (r === null) return [];
    const cells: Record<string, string> = {};
    for (const [key, value] of Object.entries(r))
      cells[key] = typeof value === "string" ? value : "";
    return [cells];
  });
}

/** The `count` of one of a preview's issue summaries (invalid_emails, …). */
export function issueCount(result: Record<string, unknown>, key: string): number {
  return num(record(result[key])?.count);
}

/** Entries of a record-valued field (freshness, new_properties). */
export function pairs(result: Record<string, unknown>, key: string): [string, string][] {
  return Object.entries(record(result[key]) ?? {}).flatMap(([k, v]) =>
    typeof v === "string" ? [[k, v] as [string, string]] : [],
  );
}
