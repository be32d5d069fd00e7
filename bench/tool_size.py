"""Model-visible size of the tool definitions: name + description + inputSchema bytes.

python -m bench.tool_size
"""

from __future__ import annotations

import json

import anyio

from bench.common import local_server


async def main() -> None:
    async with local_server() as (client, _):
        tools = (await client.list_tools()).tools
    total = 0
    print("tool definition sizes (name + description + compact inputSchema JSON):")
    for tool in tools:
        schema = json.dumps(tool.input_schema, separators=(",", ":"), ensure_ascii=False)
        size = (
            len(tool.name.encode()) + len((tool.description or "").encode()) + len(schema.encode())
        )
        total += size
        print(f"  {tool.name:<24} {size:5d} B")
    print(f"  total                    {total:5d} B over {len(tools)} tools")
    print(f"  average                  {total / len(tools):7.1f} B per tool  (goal ≤ 600)")


if __name__ == "__main__":
    anyio.run(main)
