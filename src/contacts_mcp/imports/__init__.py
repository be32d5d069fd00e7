"""CSV imports: preview and column mapping first, then an import that can resume.

- `service`: `ImportService`, the entry point for previews, imports and import jobs.
- `models`: what the import tools return. Light on purpose: the server builds its tools'
  output schemas from it at startup, without loading anything below.
- `settings`, `files`: the server's import configuration and safe file opening.
- `csvio`, `mapping`, `preview`: streaming CSV reading, the proposed column map, and the
  one-pass preview that also feeds the import its checked rows.
- `plan`, `journal`: one import's inputs and its on-disk record of done rows.
- `strategy_api`, `strategy_rows`: Resend's Contact Imports API, or one paced request
  per row.

Modules are imported by their full path; this file re-exports nothing, so that importing
`models` never loads the CSV machinery.
"""
