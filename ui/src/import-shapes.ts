// What the import review screen reads from the server's answers: preview_import (a job
// whose result is a PreviewOut), approve_import, upload_csv, list_contact_properties and
// get_job for an import (ImportSummary). The server's pydantic models are the source
// (src/contacts_mcp/imports/models.py, src/contacts_mcp/server/tools/imports.py); these
// readers take whatever arrives and default what is missing, so that an older or newer
// server degrades to fewer facts shown, never to a broken screen.

import { type Job, maybeStr, num, readJob, record, str, strings } from "./shapes";

/** One CSV column and where the preview maps it (ColumnProposal). */
export interface ColumnPlan {
  column: string;
  mapsTo: string;
  propertyType: "string" | "number" | null;
  newProperty: boolean;
  reason: string;
  samples: string[];
}

/** One problem found in a row (RowIssue). */
export interface RowIssue {
  row: number;
  column: string | null;
  value: string;
  problem: string;
}

export interface IssueSummary {
  count: number;
  examples: RowIssue[];
}

/** A preview of a CSV import (PreviewOut). */
export interface ImportPreview {
  file: string;
  sizeBytes: number;
  encoding: string;
  delimiter: string;
  hasHeader: boolean;
  columns: ColumnPlan[];
  rows: number;
  importableRows: number;
  invalidEmails: IssueSummary;
  duplicateEmails: IssueSummary;
  typeProblems: IssueSummary;
  malformedRows: IssueSummary;
  sample: Record<string, unknown>[];
  newProperties: Record<string, string>;
  notes: string[];
  /** The exact import_contacts arguments of this preview (its source among them). */
  importArguments: Record<string, unknown>;
}

/** What an import did (ImportSummary). */
export interface ImportSummary {
  dryRun: boolean;
  rows: number;
  created: number;
  updated: number;
  skipped: number;
  failed: number;
  duplicates: number;
  resumedRows: number;
  requests: number;
  seconds: number;
  failuresFile: string | null;
  notes: string[];
}

/** A job (preview or import) with its result read as what it is. */
export interface ImportJob<R> {
  job: Job;
  result: R | null;
}

/** A custom contact property the account has. */
export interface Property {
  key: string;
  type: "string" | "number";
}

export interface UploadState {
  uploadId: string;
  size: number;
  done: boolean;
}

function propertyType(value: unknown): "string" | "number" | null {
  return value === "string" || value === "number" ? value : null;
}

function issues(value: unknown): IssueSummary {
  const summary = record(value);
  const examples = Array.isArray(summary?.examples) ? summary.examples.map(record) : [];
  return {
    count: num(summary?.count),
    examples: examples.flatMap((e) =>
      e === null
        ? []
        : [
            {
              row: num(e.row),
              column: maybeStr(e.column),
              value: str(e.value),
              problem: str(e.problem),
            },
          ],
    ),
  };
}

export function readPreview(value: unknown): ImportPreview | null {
  const p = record(value);
  if (p === null || !Array.isArray(p.columns)) return null;
  const format = record(p.format);
  const newProperties: Record<string, string> = {};
  for (const [key, type] of Object.entries(record(p.new_properties) ?? {})) {
    if (typeof type === "string") newProperties[key] = type;
  }
  return {
    file: str(p.file),
    sizeBytes: num(p.size_bytes),
    encoding: str(format?.encoding),
    delimiter: str(format?.delimiter),
    hasHeader: format?.has_header !== false,
    columns: p.columns.flatMap((c) => {
      const column = record(c);
      if (column === null || typeof column.column !== "string") return [];
      return [
        {
          column: column.column,
          mapsTo: str(column.maps_to) || "skip",
          propertyType: propertyType(column.property_type),
          newProperty: column.new_property === true,
          reason: str(column.reason),
          samples: strings(column.samples),
        },
      ];
    }),
    rows: num(p.rows),
    importableRows: num(p.importable_rows),
    invalidEmails: issues(p.invalid_emails),
    duplicateEmails: issues(p.duplicate_emails),
    typeProblems: issues(p.type_problems),
    malformedRows: issues(p.malformed_rows),
    sample: Array.isArray(p.sample)
      ? p.sample.flatMap((row) => {
          const r = record(row);
          return r === null ? [] : [r];
        })
      : [],
    newProperties,
    notes: strings(p.notes),
    importArguments: record(p.import_arguments) ?? {},
  };
}

export function readSummary(value: unknown): ImportSummary | null {
  const s = record(value);
  if (s === null) return null;
  return {
    dryRun: s.dry_run === true,
    rows: num(s.rows),
    created: num(s.created),
    updated: num(s.updated),
    skipped: num(s.skipped),
    failed: num(s.failed),
    duplicates: num(s.duplicates),
    resumedRows: num(s.resumed_rows),
    requests: num(s.requests),
    seconds: num(s.seconds),
    failuresFile: maybeStr(s.failures_file),
    notes: strings(s.notes),
  };
}

function jobOf<R>(value: unknown, read: (result: unknown) => R | null): ImportJob<R> | null {
  const job = readJob(value);
  if (job === null) return null;
  return { job, result: read(record(value)?.result) };
}

/** A preview_import answer (a job: its result once completed). */
export function readPreviewJob(structured: unknown): ImportJob<ImportPreview> | null {
  return jobOf(structured, readPreview);
}

/** The import of an approve_import answer (`{"run": JobOut}`). */
export function readImportRun(structured: unknown): ImportJob<ImportSummary> | null {
  return jobOf(record(structured)?.run, readSummary);
}

/** The job of a get_job answer (`{"job": JobOut}`), read with `read`. */
export function readJobOf<R>(
  structured: unknown,
  read: (result: unknown) => R | null,
): ImportJob<R> | null {
  return jobOf(record(structured)?.job, read);
}

export function readProperties(structured: unknown): {
  properties: Property[];
  next: string | null;
} {
  const listed = record(structured);
  const properties = Array.isArray(listed?.properties) ? listed.properties : [];
  return {
    properties: properties.flatMap((p) => {
      const property = record(p);
      const type = propertyType(property?.type);
      return property && typeof property.key === "string" && type
        ? [{ key: property.key, type }]
        : [];
    }),
    next: maybeStr(listed?.next_after),
  };
}

export function readUpload(structured: unknown): UploadState | null {
  const upload = record(structured);
  if (upload === null || typeof upload.upload_id !== "string") return null;
  return { uploadId: upload.upload_id, size: num(upload.size), done: upload.done === true };
}
