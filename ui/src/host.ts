// What every screen does with its host, the same way: the App itself, the host's context
// followed (theme, style variables, fonts, locale and time zone, safe area), what the
// person did told to the model, and a file handed to the host for download.

import {
  App,
  applyDocumentTheme,
  applyHostFonts,
  applyHostStyleVariables,
  type McpUiHostContext,
} from "@modelcontextprotocol/ext-apps";

import { Formats } from "./format";
import type { FileLink } from "./shapes";

/** A tool's answer, as the App hands it over. */
export type ToolResult = Awaited<ReturnType<App["callServerTool"]>>;

/** Told the host's locale and time zone whenever its context names either. */
export type OnLocale = (locale: string | undefined, timeZone: string | undefined) => void;

/** A screen's App: it sizes itself to its content (`autoResize`). */
export function screenApp(name: string): App {
  return new App({ name, version: "1.0.0" }, {}, { autoResize: true });
}

/** Follow the host's theme, style variables, fonts and safe area; its locale and time zone
 * go to `onLocale`. */
export function applyHostContext(context: McpUiHostContext | undefined, onLocale: OnLocale): void {
  if (context === undefined) return;
  if (context.theme) applyDocumentTheme(context.theme);
  if (context.styles?.variables) applyHostStyleVariables(context.styles.variables);
  if (context.styles?.css?.fonts) applyHostFonts(context.styles.css.fonts);
  if (context.locale || context.timeZone) onLocale(context.locale, context.timeZone);
  const insets = context.safeAreaInsets;
  if (insets) {
    const { top, right, bottom, left } = insets;
    document.body.style.padding = `${top}px ${right}px ${bottom}px ${left}px`;
  }
}

/** Connect to the host, last, once the screen's handlers are set (the host may send the
 * tool's input and result right after the handshake). The host's context is applied then,
 * and again whenever it changes: its locale and time zone go to `onLocale`, by default
 * the screen's `formats`. A screen that cannot connect says so. */
export function connectToHost(
  app: App,
  screen: { formats: Formats; showProblem(title: string, message: string): void },
  onLocale: OnLocale = (locale, timeZone) => {
    screen.formats = new Formats(locale, timeZone);
  },
): void {
  // A change names only what changed: applied over the context as it stands.
  app.onhostcontextchanged = (changed) =>
    applyHostContext({ ...app.getHostContext(), ...changed }, onLocale);
  app.connect().then(
    () => applyHostContext(app.getHostContext(), onLocale),
    (error: unknown) =>
      screen.showProblem(
        "Not connected",
        `This screen could not reach its host (${String(error)}).`,
      ),
  );
}

/** Let the model know what the person did, where the host takes such updates
 * (`ui/update-model-context`): the assistant can then speak of it. The screens never put
 * an approval nonce in it. */
export function tellModel(app: App, text: string): void {
  if (!app.getHostCapabilities()?.updateModelContext) return;
  app.updateModelContext({ content: [{ type: "text", text }] }).catch(() => undefined);
}

/** Hand a file the server offers as a resource (contacts-mcp://files/…) to the host
 * (`ui/download-file`); the screen says so when the download did not start. */
export function download(
  app: App,
  link: FileLink,
  screen: { showError(message: string): void },
): void {
  void app
    .downloadFile({
      contents: [
        { type: "resource_link", uri: link.uri, name: link.name, mimeType: link.mimeType },
      ],
    })
    .then((answer) => {
      if (answer.isError) screen.showError(`The download of ${link.name} was not started.`);
    })
    .catch((error: unknown) =>
      screen.showError(`The download of ${link.name} failed (${String(error)}).`),
    );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
