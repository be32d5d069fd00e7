"""The rules every entry point shares, over the API client.

- `contacts`: `ContactsService`, one contact by id or email: reads, checked writes,
  segments and topics, and the consent guard.
- `schema`: `SchemaService`, contact properties, segments and topics: cached lookups,
  resolution by id or name, and value checks against property types.
- `explain`: `UserFacingError` and the rewriting of client errors into messages that say
  what went wrong and what to do next.

Modules are imported by their full path; this file re-exports nothing.
"""
