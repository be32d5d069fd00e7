"""Size of a 100-contact list_contacts result: text rendering vs structured content.

python -m bench.list_size
"""

from __future__ import annotations

import json

import anyio

from bench.common import local_server

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]


async def main() -> None:
    async with local_server() as (client, direct):
        for i in range(100):
            first, last = FIRST[i % len(FIRST)], LAST[i % len(LAST)]
            body = {"email": f"{first}.{last}{i}@example.com".lower(), "first_name": first}
            body["last_name"] = last
            response = await direct.post("/contacts", json=body)
            response.raise_for_status()
        result = await client.call_tool("list_contacts", {"limit": 100})
    text = "".join(block.text for block in result.content if block.type == "text")
    structured = json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False)
    print("list_contacts with 100 contacts:")
    for label, rendered, goal in (
        ("text rendering", text, "  (goal ≤ 8500 B)"),
        ("structured content", structured, ""),
    ):
        size = len(rendered.encode())
        print(f"  {label:<19}: {size:6d} B  ({size / 100:.0f} B/contact){goal}")
    print("  first lines of the text rendering:")
    for line in text.splitlines()[:3]:
        print(f"    {line}")


if __name__ == "__main__":
    anyio.run(main)
