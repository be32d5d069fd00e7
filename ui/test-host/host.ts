// A test host for the browser tests (tests/browser/): the host's side of MCP Apps, done
// with the official AppBridge, talking to a real contacts-mcp server over Streamable HTTP
// with the official TypeScript client. Served by the tests at the server's own origin.
//
// It does what a host must: it declares the Apps extension, keeps app-only tools out of
// the model's tool list (and refuses the model's calls to them), renders a tool's screen
// in a sandboxed iframe under the default CSP, and forwards the screen's tool calls to
// the server (refusing model-only tools). The tests drive it through `window.testHost`.

import {
  AppBridge,
  getToolUiResourceUri,
  isToolVisibilityAppOnly,
  isToolVisibilityModelOnly,
  PostMessageTransport,
  RESOURCE_MIME_TYPE,
  type McpUiHostContext,
  type McpUiStyles,
} from "@modelcontextprotocol/ext-apps/app-bridge";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const APPS_EXTENSION = "io.modelcontextprotocol/ui";
// The MCP Apps specification's default ("restrictive") CSP, for a screen that declares
// no domains. A real web host serves the screen from a sandbox origin with this header.
const DEFAULT_CSP =
  "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data:; media-src 'self' data:; connect-src 'none'";
const HOST = { name: "contacts-mcp-test-host", version: "1.0.0" };

type Tool = Awaited<ReturnType<Client["listTools"]>>["tools"][number];
type Result = Awaited<ReturnType<Client["callTool"]>>;

interface AppCall {
  name: string;
  arguments: Record<string, unknown>;
  isError: boolean;
  refused?: string;
}

// Style variables as a host sends them (a subset; the screen has fallbacks for the rest).
const STYLES: Record<"light" | "dark", Partial<McpUiStyles>> = {
  light: {
    "--color-background-primary": "#ffffff",
    "--color-background-secondary": "#f5f4ef",
    "--color-text-primary": "#141413",
    "--color-text-secondary": "#5e5d59",
    "--color-border-primary": "#d9d7ce",
    "--font-sans": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  },
  dark: {
    "--color-background-primary": "#262624",
    "--color-background-secondary": "#30302e",
    "--color-text-primary": "#f5f4ef",
    "--color-text-secondary": "#b8b5a9",
    "--color-border-primary": "#4a4944",
    "--font-sans": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  },
};

const params = new URLSearchParams(location.search);
const theme = params.get("theme") === "dark" ? "dark" : "light";
document.body.classList.toggle("dark", theme === "dark");

const client = new Client(HOST, {
  capabilities: { extensions: { [APPS_EXTENSION]: { mimeTypes: [RESOURCE_MIME_TYPE] } } },
});
let tools: Tool[] = [];
const appCalls: AppCall[] = [];
const downloads: unknown[] = [];
const modelContext: unknown[] = [];
// Messages a screen sent to the conversation (ui/message), as the person's own.
const messages: unknown[] = [];
const logLines: string[] = [];
let lastMeta: Record<string, unknown> | undefined;
let bridge: AppBridge | undefined;

function log(line: string): void {
  logLines.push(line);
  document.getElementById("log")!.textContent += `${line}\n`;
}

/** What the model is shown: every tool but those only a screen may call. */
function modelTools(): Tool[] {
  return tools.filter((tool) => !isToolVisibilityAppOnly(tool));
}

/** A tool call from a screen: forwarded to the server unless the tool is the model's only. */
async function callAsScreen(name: string, args: Record<string, unknown>): Promise<Result> {
  const known = tools.find((t) => t.name === name);
  if (known === undefined || isToolVisibilityModelOnly(known)) {
    appCalls.push({ name, arguments: args, isError: true, refused: "not a tool for screens" });
    throw new Error(`${name} is not a tool this screen may call`);
  }
  const result = await client.callTool({ name, arguments: args });
  appCalls.push({ name, arguments: args, isError: result.isError === true });
  log(`screen called ${name}: ${result.isError ? "error" : "ok"}`);
  return result;
}

async function openScreen(
  tool: Tool,
  uri: string,
  args: Record<string, unknown>,
): Promise<AppBridge> {
  const read = await client.readResource({ uri });
  const content = read.contents[0] as { mimeType?: string; text?: string } | undefined;
  if (content?.mimeType !== RESOURCE_MIME_TYPE || typeof content.text !== "string") {
    throw new Error(`${uri} is not an MCP App (${content?.mimeType})`);
  }
  // This page has no separate sandbox origin: the CSP goes in as a meta tag, first in <head>.
  const html = content.text.replace(
    /<head>/i,
    `<head><meta http-equiv="Content-Security-Policy" content="${DEFAULT_CSP}">`,
  );

  const frame = document.getElementById("frame")!;
  frame.replaceChildren();
  const iframe = document.createElement("iframe");
  iframe.setAttribute("sandbox", "allow-scripts"); // an opaque origin: no access to this page
  iframe.title = tool.title ?? tool.annotations?.title ?? tool.name; // named for screen readers
  frame.appendChild(iframe);

  const context: McpUiHostContext = {
    theme,
    styles: { variables: STYLES[theme] as McpUiStyles },
    platform: "web",
    displayMode: "inline",
    availableDisplayModes: ["inline"],
    locale: "en-US",
    timeZone: "UTC",
    containerDimensions: { maxWidth: document.documentElement.clientWidth },
    toolInfo: { tool },
  };
  const next = new AppBridge(
    client,
    HOST,
    {
      serverTools: {},
      serverResources: {},
      logging: {},
      openLinks: {},
      downloadFile: {},
      updateModelContext: { text: {} },
      message: { text: {} },
    },
    { hostContext: context },
  );
  next.onsizechange = ({ height }) => {
    if (height) iframe.style.height = `${Math.ceil(height)}px`;
  };
  next.ondownloadfile = async (request) => {
    downloads.push(request);
    return {};
  };
  next.onupdatemodelcontext = async (update) => {
    modelContext.push(update);
    return {};
  };
  next.onmessage = async (message) => {
    messages.push(message);
    log(`screen sent a message (${message.role})`);
    return {};
  };
  const initialized = new Promise<void>((resolve) => {
    next.oninitialized = () => resolve();
  });
  await next.connect(new PostMessageTransport(iframe.contentWindow!, iframe.contentWindow!));
  // After connect(), which sets a plain forwarder: the screen's calls get the host's checks.
  next.oncalltool = (call) =>
    callAsScreen(call.name, (call.arguments ?? {}) as Record<string, unknown>);
  iframe.srcdoc = html;
  await initialized;
  await next.sendToolInput({ arguments: args });
  return next;
}

const testHost = {
  logLines,
  appCalls,
  downloads,
  modelContext,
  messages,
  /** Names of the tools the host gives the model. */
  modelToolNames: (): string[] => modelTools().map((tool) => tool.name),
  /** Names of every tool the server listed to this (Apps) client. */
  allToolNames: (): string[] => tools.map((tool) => tool.name),
  /** The model calls a tool: a tool with a screen gets it rendered, fed the input and the
   * result. Resolves with the result (as the model would see it, plus `_meta`). */
  async callAsModel(name: string, args: Record<string, unknown>): Promise<Result> {
    const tool = modelTools().find((t) => t.name === name);
    if (tool === undefined) throw new Error(`the model has no tool ${name}`);
    const uri = getToolUiResourceUri(tool);
    bridge = uri ? await openScreen(tool, uri, args) : undefined;
    const result = await client.callTool({ name, arguments: args });
    lastMeta = result._meta as Record<string, unknown> | undefined;
    if (bridge) await bridge.sendToolResult(result);
    log(`model called ${name}: ${result.isError ? "error" : "ok"}`);
    return result;
  },
  /** The `_meta` of the last result the model's call got (the host sees it; the model not). */
  lastMeta: (): Record<string, unknown> | undefined => lastMeta,
  /** A tool call as the screen would send it, through the same checks. */
  callAsScreen,
  /** A resource read as the host would read it, for a download it was asked for. */
  readResource: (uri: string) => client.readResource({ uri }),
};

async function main(): Promise<void> {
  await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", location.href)));
  tools = (await client.listTools()).tools;
  log(`connected: ${tools.length} tools`);
}

const ready = main();
Object.assign(window, { testHost: { ...testHost, ready } });
ready.catch((error: unknown) => log(`ERROR ${String(error)}`));
