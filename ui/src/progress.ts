// A job as every screen shows it: its progress bar, the button that cancels it, and its
// files (a Download button for each the server offers as a resource).

import { el } from "./dom";
import { fileName, shown } from "./format";
import type { FileLink } from "./shapes";

/** A progress bar at `done` of `total`; indeterminate until the job knows its total. */
export function showCount(
  bar: HTMLProgressElement,
  done: number | undefined,
  total: number | null | undefined,
): void {
  if (total !== null && total !== undefined && total > 0 && done !== undefined) {
    bar.max = total;
    bar.value = Math.min(done, total);
  } else {
    bar.removeAttribute("value");
  }
}

/** The button that cancels a running job ("Cancel the run", "Cancel the job"). */
export interface StopButton {
  readonly button: HTMLButtonElement;
  /** It can be pressed: enabled, with its label. */
  ready(): void;
  /** Pressed: disabled until get_job answers the cancel. */
  stopping(): void;
}

export function stopButton(button: HTMLButtonElement, label: string): StopButton {
  return {
    button,
    ready() {
      button.disabled = false;
      button.textContent = label;
    },
    stopping() {
      button.disabled = true;
      button.textContent = "Cancelling…";
    },
  };
}

/** A Download button: hands the file's link to `download` (the host's ui/download-file). */
export function downloadButton(
  link: FileLink,
  download: (link: FileLink) => void,
): HTMLButtonElement {
  const node = el("button", {
    text: "Download",
    attrs: { type: "button", "aria-label": `Download ${shown(link.name)}` },
  });
  node.addEventListener("click", () => download(link));
  return node;
}

/** The items of a list of files: each named file (label, its path on the server, or null
 * for none) with a Download button when the server links it as a resource (`links`, by
 * name), the path as its tooltip; then the links no named file took. */
export function fileItems(
  files: [string, string | null][],
  links: FileLink[],
  download: (link: FileLink) => void,
): HTMLLIElement[] {
  const items: HTMLLIElement[] = [];
  const linked = new Set<FileLink>();
  for (const [label, path] of files) {
    if (path === null) continue;
    const name = fileName(path);
    const link = links.find((l) => l.name === name);
    if (link) linked.add(link);
    items.push(
      el(
        "li",
        {},
        `${label}: `,
        el("span", { text: name, attrs: { title: shown(path, 1000) } }),
        ...(link ? [downloadButton(link, download)] : []),
      ),
    );
  }
  for (const link of links)
    if (!linked.has(link))
      items.push(
        el("li", {}, el("span", { text: shown(link.name) }), downloadButton(link, download)),
      );
  return items;
}
