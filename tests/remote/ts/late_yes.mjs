// A 2025-11-25 host as Claude Desktop, VS Code and Cursor are: the official TypeScript
// SDK 1.x client, whose requests fail when their timeout passes (60 s by default; here
// TIMEOUT_MS), with a person who answers the approval question after PERSON_MS.
// The model calls again after a timeout, as models do once the host reports it.
// Prints one JSON line: what happened to each call, and how often the person was asked.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const [url, answer] = process.argv.slice(2);
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS ?? 1000);
const PERSON_MS = Number(process.env.PERSON_MS ?? 2500);

const client = new Client(
  { name: "ts-sdk-1-host", version: "1.0.0" },
  { capabilities: { elicitation: {} } },
);
let asked = 0;
client.setRequestHandler(ElicitRequestSchema, async () => {
  asked += 1;
  await new Promise((resolve) => setTimeout(resolve, PERSON_MS));
  return { action: "accept", content: { approve: answer === "yes" } };
});
await client.connect(new StreamableHTTPClientTransport(new URL(url)));

const named = ["ts0@example.com", "ts1@example.com", "ts2@example.com"];
for (const email of named) await client.callTool({ name: "create_contact", arguments: { email } });
const preview = await client.callTool({ name: "delete_contacts", arguments: { contacts: named } });
const confirmed = { contacts: named, confirm: preview.structuredContent.preview.confirm };

// The model calls again, as it does once the host reports a timeout, until an answer
// comes back: each call is cut at TIMEOUT_MS, as the host cuts it.
const report = { protocol: client.transport?.protocolVersion ?? null, calls: [] };
let again = null;
while (again === null && report.calls.length < 5) {
  try {
    again = await client.callTool({ name: "delete_contacts", arguments: confirmed }, undefined, {
      timeout: TIMEOUT_MS,
    });
    report.calls.push(again.isError ? again.content[0].text : "ran");
  } catch (error) {
    report.calls.push(String(error.message ?? error));
  }
}
report.first = report.calls[0];
report.second = report.calls.at(-1);
const replay = await client.callTool({ name: "delete_contacts", arguments: confirmed });
report.replay = replay.isError ? "refused" : "ran again";
const left = await client.callTool({ name: "list_contacts", arguments: {} });
report.left = left.structuredContent.contacts.length;
report.asked = asked;
console.log(JSON.stringify(report));
await client.close();
