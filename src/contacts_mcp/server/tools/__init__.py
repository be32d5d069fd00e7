"""The tools, one module per resource: `contacts`, `schema` (contact properties, segments
and topics) and `imports`. Each module has a `register_*_tools(server)` function; the
server calls them in the order hosts should list the tools.
"""
