"""Serving MCP over the network: Streamable HTTP, and who may call it."""
