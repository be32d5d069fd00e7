"""The MCP adapter: tools, resources and prompts over the services.

- `app`: `build_server`, the server class (compact schemas, short argument errors,
  unknown arguments refused) and the instructions hosts show the model.
- `tools/`: one module per resource; each tool is typed arguments, one service call,
  and a result with compact text and complete structured content.
- `resources`, `prompts`: the read-only resources and the workflow prompts.
- `toolkit`: what tool modules share (server state, result shape, argument types).
- `render`: compact, cleaned text renderings of contacts.

    server = build_server(BackendConfig(api_key=..., local_db=":memory:"))
"""

from contacts_mcp.server.app import INSTRUCTIONS, ContactsServer, build_server

__all__ = ["INSTRUCTIONS", "ContactsServer", "build_server"]
