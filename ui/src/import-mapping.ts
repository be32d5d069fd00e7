// The column mapping as the person edits it: each column's target (a built-in field, an
// existing property, a new property with its type, or skip), turned into the `columns`
// and `new_properties` arguments of preview_import, and compared with the mapping the
// server last checked (Import runs only a checked mapping).

import type { ColumnPlan, ImportPreview, Property } from "./import-shapes";

/** Built-in targets, in the order the select offers them. */
export const BUILT_INS: [string, string][] = [
  ["email", "Email address"],
  ["first_name", "First name"],
  ["last_name", "Last name"],
  ["unsubscribed", "Unsubscribed (yes/no)"],
  ["segments", "Segments (names)"],
  ["topics", "Topics (names)"],
  ["skip", "Skip this column"],
];
const BUILT_IN = new Set(BUILT_INS.map(([value]) => value));
/** The select's value for a new property; an existing one is `prop:<key>`. */
export const NEW = "new";
export const PROPERTY = "prop:";
// As the server checks a key: 1-50 letters, digits or underscores.
const KEY = /^[A-Za-z0-9_]{1,50}$/;

export type PropertyKind = "string" | "number";

export interface MappedColumn {
  column: string;
  samples: string[];
  reason: string;
  /** A built-in target, `prop:<key>`, or `new`. */
  target: string;
  /** For a new property: its key and type. */
  newKey: string;
  newType: PropertyKind;
}

/** A new property's key from a column's header: "Seats (total)" → "seats_total". */
export function keyFor(column: string): string {
  const key = column
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 50);
  return key || "property";
}

function fromPlan(plan: ColumnPlan): MappedColumn {
  const base = {
    column: plan.column,
    samples: plan.samples,
    reason: plan.reason,
    newKey: keyFor(plan.column),
    newType: (plan.propertyType ?? "string") as PropertyKind,
  };
  if (BUILT_IN.has(plan.mapsTo)) return { ...base, target: plan.mapsTo };
  if (plan.newProperty) return { ...base, target: NEW, newKey: plan.mapsTo };
  return { ...base, target: PROPERTY + plan.mapsTo };
}

/** The mapping a preview shows, as the person can edit it. */
export function mappingOf(preview: ImportPreview): MappedColumn[] {
  return preview.columns.map(fromPlan);
}

/** Properties the account has: those listed, and those the preview maps to. */
export function knownProperties(preview: ImportPreview, listed: Property[]): Property[] {
  const known = new Map(listed.map((p) => [p.key, p.type]));
  for (const c of preview.columns) {
    if (c.propertyType && !c.newProperty && !BUILT_IN.has(c.mapsTo) && !known.has(c.mapsTo))
      known.set(c.mapsTo, c.propertyType);
  }
  return [...known.entries()]
    .map(([key, type]) => ({ key, type }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

/** Why a new property's key cannot be used, or null. */
export function keyProblem(column: MappedColumn, all: MappedColumn[]): string | null {
  if (column.target !== NEW) return null;
  if (!KEY.test(column.newKey)) return "Use 1–50 letters, digits or underscores.";
  const same = all.filter((c) => c.target === NEW && c.newKey === column.newKey);
  if (same.length > 1) return "Two new properties have this key.";
  return null;
}

/** The arguments preview_import (and so the import) takes for this mapping. */
export function mappingArguments(mapping: MappedColumn[]): {
  columns: Record<string, string>;
  newProperties: Record<string, PropertyKind>;
} {
  const columns: Record<string, string> = {};
  const newProperties: Record<string, PropertyKind> = {};
  for (const c of mapping) {
    if (c.target === NEW) {
      columns[c.column] = c.newKey;
      newProperties[c.newKey] = c.newType;
    } else if (c.target.startsWith(PROPERTY)) {
      columns[c.column] = c.target.slice(PROPERTY.length);
    } else {
      columns[c.column] = c.target;
    }
  }
  return { columns, newProperties };
}

/** One string per mapping: two mappings that import alike have the same. */
export function signature(mapping: MappedColumn[]): string {
  const { columns, newProperties } = mappingArguments(mapping);
  const sorted = (o: Record<string, string>): [string, string][] =>
    Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([sorted(columns), sorted(newProperties)]);
}
