"""The tools, one module per concern: `contacts`, `sets` (search over the account's
mirror), `bulk` (deletes and exports of sets), `schema` (contact properties, segments and
topics), `imports`, and `jobs` (waiting on long work). Each module has a
`register_*_tools(server)` function; the server calls them in the order hosts should list
the tools.
"""
