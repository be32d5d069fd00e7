// What the screen reads from the server's answers: the structured content of
// update_contacts / delete_contacts / forget_contacts (a preview, or a run; an undo is
// update_contacts(undo=<job id>)), approve_run and get_job. The server's pydantic models
// are the source (src/contacts_mcp/server/tools/bulk.py, undo.py, privacy.py and
// services/erasure.py); these readers take whatever arrives and default what is missing,
// so that an older or newer server degrades to fewer facts shown, never to a broken
// screen.

/** A contact in a delete preview's sample (FoundContact). */
export interface SampleContact {
  email: string;
  firstName: string;
  lastName: string;
  unsubscribed: boolean;
}

/** One contact of an update preview's sample, before → after (ChangeSample). In an
 * undo's: now → put back; or, for a contact a delete (or a merge) deleted, `restored`
 * (its before is `{"exists": false}`) and after its fields as its snapshot holds them;
 * or, for a contact an import (or a restore) created, `deletedAgain` (its before is what
 * the job gave it, its after `{"exists": false}`). */
export interface SampleChange {
  email: string;
  before: [string, unknown][];
  after: [string, unknown][];
  restored: boolean;
  deletedAgain: boolean;
}

/** One person of a forget preview (PersonPreview). */
export interface ForgetPerson {
  email: string;
  /** Whether this account has a contact for them at Resend. */
  atResend: boolean;
  /** Local copies holding them: kind → records, in the server's order. */
  local: [string, number][];
  /** Work running now that holds them (the run leaves them alone), or null. */
  blocked: string | null;
  /** Other accounts whose mirror holds them. */
  otherAccounts: string[];
}

/** What an undo's preview undoes, read from its change in words: "undo job job_abc (set
 * plan = 'pro')", "undo job job_abc (a delete)", "undo job job_abc (a merge)", "undo job
 * job_abc (an import: 2 created, 3 updated)". */
export interface Undone {
  /** The job it undoes. */
  job: string;
  /** What that job did, in the server's words ("set plan = 'pro'", "a delete"). */
  did: string;
  /** Undoing a delete: its contacts are created again from its snapshot, nothing else. */
  restore: boolean;
  /** Undoing a merge: the contacts it deleted are restored, the one it kept put back. */
  merge: boolean;
  /** Undoing an import (or a restore): the contacts it created, still as it left them,
   * are deleted again. Known from an import's count of them, or from the sample's rows
   * of them (the sample lists them last: past its first 10, only an import's count
   * tells). */
  deletes: boolean;
}

/** What a merge's preview merges (update_contacts with `merge`), read from its change in
 * words ("merge 3 contacts into ada@gmail.com (copy company, add to 'Beta'), then delete
 * …") and its sample: the kept contact first, before → after, then each contact to delete
 * (`after: {"deleted": true}`, before what it holds: unsubscribed, segments). */
export interface Merging {
  /** The contact kept. */
  keep: string;
  /** What it takes from the others, in the server's words ("copy company, seats, add to
   * 'Beta', unsubscribe"); "" when it holds everything already. */
  gives: string;
  /** The contacts deleted once the kept one has taken what they hold (the kept one's own
   * row is the preview's `changeSample`). */
  deleted: SampleChange[];
}

/** A preview of delete_contacts (BulkPreview), update_contacts (ChangePreview; an undo's
 * too, `kind: "undo"`, and a merge's, `kind: "merge"`) or forget_contacts (ForgetPreview,
 * `action: "forget"`). */
export interface Preview {
  kind: "delete" | "update" | "forget" | "undo" | "merge";
  /** The change in words ("set plan to pro, add to VIP"); "" for a delete. */
  change: string;
  /** Undo only: the job undone, and what it did. */
  undo: Undone | null;
  /** Merge only: the contact kept, what it takes, and the contacts deleted. */
  merge: Merging | null;
  count: number;
  missing: string[];
  /** Update only: contacts to write, already as asked, held back by the consent guard
   * (an undo: to put back, already as before, kept unsubscribed). */
  toChange: number | null;
  already: number | null;
  refused: number;
  refusedSample: string[];
  /** Undo only: contacts changed again after the job (left alone), and "email: why" for
   * the first of them. */
  changedSince: number;
  changedSinceSample: string[];
  deleteSample: SampleContact[];
  changeSample: SampleChange[];
  /** Forget only: people with a contact at Resend, the people (the first 100), the local
   * records to remove, and whether their addresses are suppressed at Resend too. */
  atResend: number | null;
  people: ForgetPerson[];
  localRecords: number;
  suppress: boolean;
  requests: number;
  estimatedSeconds: number;
  notes: string[];
  expiresAt: string;
}

/** One place a forget removed a person from (Erased). */
export interface Erased {
  kind: string;
  where: string;
  account: string | null;
  records: number;
}

/** What a forget did for one person (PersonReceipt). */
export interface PersonReceipt {
  /** Their reference: the keyed hash the audit log uses. */
  person: string;
  /** Only in the answer to the call that asked; null in a job read later. */
  email: string | null;
  /** "deleted", "no contact", "failed" or "blocked". */
  resend: string;
  resendDetail: string | null;
  /** null: not asked for. */
  suppressed: boolean | null;
  suppressionDetail: string | null;
  local: Erased[];
  kept: string[];
  otherAccounts: string[];
  forgotten: boolean;
}

/** What a bulk run did (BulkOutcome), or a forget (ForgetOutcome: `people`, `notCovered`). */
export interface Outcome {
  action: string;
  selected: number;
  done: number;
  unchanged: number;
  refused: number;
  failed: number;
  requests: number;
  seconds: number;
  snapshotFile: string | null;
  failuresFile: string | null;
  noLongerMatching: number;
  noLongerMatchingSample: string[];
  /** Undo only: left alone, changed again after the job ("email: why" for the first);
   * deleted since. */
  changedSince: number;
  changedSinceSample: string[];
  gone: number;
  notes: string[];
  /** Forget only: when it finished, a receipt per person, and what no erasure here
   * reaches. */
  finishedAt: string;
  people: PersonReceipt[];
  notCovered: string;
}

/** A job as the jobs tools report it (JobOut). */
export interface Job {
  id: string;
  kind: string;
  status: "working" | "completed" | "failed" | "cancelled";
  message: string;
  done: number;
  total: number | null;
  etaSeconds: number | null;
  error: string | null;
  outcome: Outcome | null;
}

/** The approval the server gave this screen, in the preview result's `_meta`. */
export interface Approval {
  nonce: string;
  expiresAt: string;
}

/** A file the server offers as an MCP resource (a `resource_link` content block). */
export interface FileLink {
  uri: string;
  name: string;
  mimeType: string | undefined;
}

/** The key of the preview result's `_meta` entry with the approval nonce. */
export const APPROVAL_META = "contacts-mcp/approval";
/** Resource links under this scheme are files of this server (exports, snapshots). */
export const FILE_SCHEME = "contacts-mcp://files/";

export type Json = Record<string, unknown>;

export function record(value: unknown): Json | null {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Json)
    : null;
}

export function num(value: unknown, fallback = 0): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

export function maybeNum(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

export function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

export function maybeStr(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

export function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

function entries(value: unknown): [string, unknown][] {
  return Object.entries(record(value) ?? {});
}

// An undo's change in words: "undo job <id> (<what it did>)" (an earlier server went on
// with ": restore the deleted contacts" for a delete's). An update's own change never
// starts so: it names what it sets ("set …", "add to …", "unsubscribe", …).
const UNDO_CHANGE = /^undo job (\S+) \(([\s\S]*)\)(?:: restore the deleted contacts)?$/;

// What an import did, in an undo's change: "an import: 2 created, 3 updated".
const IMPORT_DID = /^an import: ([\d,]+) created\b/;

/** What an undo preview undoes, from its change in words; null for any other change. */
export function readUndone(change: string): Undone | null {
  const found = UNDO_CHANGE.exec(change);
  if (found === null) return null;
  const did = found[2];
  const created = IMPORT_DID.exec(did)?.[1].replace(/,/g, "") ?? "0";
  return {
    job: found[1],
    did,
    restore: did === "a delete",
    merge: did === "a merge",
    deletes: Number(created) > 0,
  };
}

// A merge's change in words: "merge <n> contacts into <kept> (<what it takes>), then delete
// <the others>" (no parenthesis when the kept contact holds everything already). An
// update's own change never starts so (see UNDO_CHANGE).
const MERGE_CHANGE =
  /^merge [\d,]+ contacts? into ([\s\S]*?)(?: \(([\s\S]*)\))?, then delete [\s\S]*$/;

/** A merge's sample row of a contact to delete: after `{"deleted": true}` alone. */
function isDeleted(after: Json | null): boolean {
  const keys = Object.keys(after ?? {});
  return keys.length === 1 && after?.deleted === true;
}

/** What a merge preview merges; null for any other change. Told by its change ("merge …")
 * and contacts to delete in its sample, which no update's has. `rows` are the sample as
 * sent, `changes` the same rows read. */
function readMerging(change: string, rows: Json[], changes: SampleChange[]): Merging | null {
  if (!change.startsWith("merge ")) return null;
  const deleted = changes.filter((_, i) => isDeleted(record(rows[i].after)));
  if (deleted.length === 0) return null;
  const found = MERGE_CHANGE.exec(change);
  const kept = changes.find((c) => !deleted.includes(c));
  return { keep: kept?.email || found?.[1] || "", gives: found?.[2] ?? "", deleted };
}

/** An undo's sample row of a contact to create again: before `{"exists": false}` alone,
 * and no `exists` among what it puts back (as a property of that name would be). */
function isRestored(before: Json | null, after: Json | null): boolean {
  const keys = Object.keys(before ?? {});
  return keys.length === 1 && before?.exists === false && !("exists" in (after ?? {}));
}

/** An undo's sample row of a contact the job created, to delete again: after
 * `{"exists": false}` alone (before is what the job gave it). */
function isDeletedAgain(after: Json | null): boolean {
  const keys = Object.keys(after ?? {});
  return keys.length === 1 && after?.exists === false;
}

export function readPreview(structured: unknown): Preview | null {
  const preview = record(record(structured)?.preview);
  if (preview === null) return null;
  if (preview.action === "forget") return readForgetPreview(preview);
  const isUpdate = typeof preview.change === "string";
  // What the preview is of, as the server declares it; its wording gives the details.
  const declared = str(preview.kind);
  const undone = isUpdate && declared === "undo" ? readUndone(str(preview.change)) : null;
  const sample = Array.isArray(preview.sample) ? preview.sample.map(record) : [];
  const rows = sample.filter((c): c is Json => c !== null);
  const changes: SampleChange[] = isUpdate
    ? rows.map((c) => ({
        email: str(c.email),
        before: entries(c.before),
        after: entries(c.after),
        restored: undone !== null && isRestored(record(c.before), record(c.after)),
        deletedAgain: undone !== null && isDeletedAgain(record(c.after)),
      }))
    : [];
  const undo =
    undone !== null && changes.some((c) => c.deletedAgain) ? { ...undone, deletes: true } : undone;
  const merge =
    isUpdate && declared === "merge" ? readMerging(str(preview.change), rows, changes) : null;
  return {
    kind: undo !== null ? "undo" : merge !== null ? "merge" : isUpdate ? "update" : "delete",
    change: str(preview.change),
    undo,
    merge,
    count: num(preview.count),
    missing: strings(preview.missing),
    toChange: isUpdate ? num(preview.to_change) : null,
    already: isUpdate ? num(preview.already) : null,
    refused: num(preview.refused),
    refusedSample: strings(preview.refused_sample),
    changedSince: num(preview.changed_since),
    changedSinceSample: strings(preview.changed_since_sample),
    deleteSample: isUpdate
      ? []
      : sample.flatMap((c) =>
          c === null
            ? []
            : [
                {
                  email: str(c.email),
                  firstName: str(c.first_name),
                  lastName: str(c.last_name),
                  unsubscribed: c.unsubscribed === true,
                },
              ],
        ),
    // A merge's: the kept contact alone (those to delete are its `merge.deleted`).
    changeSample: merge !== null ? changes.filter((c) => !merge.deleted.includes(c)) : changes,
    atResend: null,
    people: [],
    localRecords: 0,
    suppress: false,
    requests: num(preview.requests),
    estimatedSeconds: num(preview.estimated_seconds),
    notes: strings(preview.notes),
    expiresAt: str(preview.expires_at),
  };
}

function readForgetPreview(preview: Json): Preview {
  const people = Array.isArray(preview.people) ? preview.people.map(record) : [];
  return {
    kind: "forget",
    change: "",
    undo: null,
    merge: null,
    count: num(preview.count),
    missing: strings(preview.missing),
    toChange: null,
    already: null,
    refused: 0,
    refusedSample: [],
    changedSince: 0,
    changedSinceSample: [],
    deleteSample: [],
    changeSample: [],
    atResend: num(preview.at_resend),
    people: people.flatMap((p) =>
      p === null
        ? []
        : [
            {
              email: str(p.email),
              atResend: p.at_resend === true,
              local: entries(p.local).map(([kind, n]): [string, number] => [kind, num(n)]),
              blocked: maybeStr(p.blocked),
              otherAccounts: strings(p.other_accounts),
            },
          ],
    ),
    localRecords: num(preview.local_records),
    suppress: preview.suppress === true,
    requests: num(preview.requests),
    estimatedSeconds: num(preview.estimated_seconds),
    notes: strings(preview.notes),
    expiresAt: str(preview.expires_at),
  };
}

function readReceipt(value: unknown): PersonReceipt | null {
  const r = record(value);
  if (r === null) return null;
  const local = Array.isArray(r.local) ? r.local.map(record) : [];
  return {
    person: str(r.person),
    email: maybeStr(r.email),
    resend: str(r.resend),
    resendDetail: maybeStr(r.resend_detail),
    suppressed: typeof r.suppressed === "boolean" ? r.suppressed : null,
    suppressionDetail: maybeStr(r.suppression_detail),
    local: local.flatMap((e) =>
      e === null
        ? []
        : [
            {
              kind: str(e.kind),
              where: str(e.where),
              account: maybeStr(e.account),
              records: num(e.records),
            },
          ],
    ),
    kept: strings(r.kept),
    otherAccounts: strings(r.other_accounts),
    forgotten: r.forgotten === true,
  };
}

export function readOutcome(value: unknown): Outcome | null {
  const outcome = record(value);
  if (outcome === null) return null;
  return {
    action: str(outcome.action),
    selected: num(outcome.selected),
    done: num(outcome.done),
    unchanged: num(outcome.unchanged),
    refused: num(outcome.refused),
    failed: num(outcome.failed),
    requests: num(outcome.requests),
    seconds: num(outcome.seconds),
    snapshotFile: maybeStr(outcome.snapshot_file),
    failuresFile: maybeStr(outcome.failures_file),
    noLongerMatching: num(outcome.no_longer_matching),
    noLongerMatchingSample: strings(outcome.no_longer_matching_sample),
    changedSince: num(outcome.changed_since),
    changedSinceSample: strings(outcome.changed_since_sample),
    gone: num(outcome.gone),
    notes: strings(outcome.notes),
    finishedAt: str(outcome.finished_at),
    people: Array.isArray(outcome.people)
      ? outcome.people.flatMap((p) => {
          const receipt = readReceipt(p);
          return receipt === null ? [] : [receipt];
        })
      : [],
    notCovered: str(outcome.not_covered),
  };
}

const STATUSES = ["working", "completed", "failed", "cancelled"] as const;

export function readJob(value: unknown): Job | null {
  const job = record(value);
  if (job === null || typeof job.job_id !== "string") return null;
  const status = STATUSES.find((s) => s === job.status) ?? "failed";
  return {
    id: job.job_id,
    kind: str(job.kind),
    status,
    message: str(job.message),
    done: num(job.done),
    total: maybeNum(job.total),
    etaSeconds: maybeNum(job.eta_seconds),
    error: maybeStr(job.error),
    outcome: readOutcome(job.result),
  };
}

/** The run of a confirmed call or of approve_run (`{"run": JobOut}`). */
export function readRun(structured: unknown): Job | null {
  return readJob(record(structured)?.run);
}

/** The job of a get_job answer (`{"job": JobOut}`). */
export function readJobAnswer(structured: unknown): Job | null {
  return readJob(record(structured)?.job);
}

export function readCancelled(structured: unknown): boolean {
  return record(structured)?.cancelled === true;
}

export function readApproval(meta: unknown): Approval | null {
  const approval = record(record(meta)?.[APPROVAL_META]);
  if (approval === null || typeof approval.nonce !== "string" || approval.nonce === "") {
    return null;
  }
  return { nonce: approval.nonce, expiresAt: str(approval.expires_at) };
}

/** The first text block of a result: a tool error's message, or its summary. */
export function readText(content: unknown): string {
  if (!Array.isArray(content)) return "";
  for (const block of content) {
    const b = record(block);
    if (b?.type === "text" && typeof b.text === "string") return b.text;
  }
  return "";
}

/** Files of this server linked from a result, to offer as downloads. */
export function readFileLinks(content: unknown): FileLink[] {
  if (!Array.isArray(content)) return [];
  return content.flatMap((block) => {
    const b = record(block);
    if (b?.type !== "resource_link" || typeof b.uri !== "string") return [];
    if (!b.uri.startsWith(FILE_SCHEME)) return [];
    return [
      {
        uri: b.uri,
        name: str(b.name) || b.uri.slice(FILE_SCHEME.length),
        mimeType: maybeStr(b.mimeType) ?? undefined,
      },
    ];
  });
}
