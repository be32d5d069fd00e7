"""contacts-mcp: manage Resend contacts from AI assistants over MCP.

Kept import-light on purpose: MCP hosts spawn the server often, so nothing heavy
(httpx, the MCP SDK, the emulator) is imported until a command needs it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
