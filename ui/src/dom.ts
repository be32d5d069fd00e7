// The few DOM helpers the screens use. Text goes in through textContent only: nothing
// from the server or from contact data is ever parsed as HTML.

type Child = Node | string;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; text?: string; attrs?: Record<string, string> } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no #${id}`);
  return node as T;
}

export function show(node: HTMLElement, visible = true): void {
  node.hidden = !visible;
}

/** Replace a node's children. */
export function fill(node: HTMLElement, ...children: Child[]): void {
  node.replaceChildren(...children);
}

/** A <dl> of facts: label → value, in order. */
export function facts(node: HTMLElement, rows: [string, string][]): void {
  fill(
    node,
    ...rows.map(([label, value]) =>
      el("div", { className: "fact" }, el("dt", { text: label }), el("dd", { text: value })),
    ),
  );
}

/** A <ul> of lines. */
export function lines(node: HTMLElement, items: string[]): void {
  fill(node, ...items.map((text) => el("li", { text })));
}
