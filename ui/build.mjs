// Builds each screen into one self-contained HTML file: the TypeScript bundled by esbuild
// (IIFE, minified) and inlined into its HTML template, and the style every screen shares
// (src/common.css) inlined into the template's <style>. No file is fetched at run time, so
// a screen works under the MCP Apps default CSP. The output depends only on the sources
// and on the exact versions in package-lock.json: the same inputs give the same bytes.
//
//   node build.mjs            write the built files into the repository
//   node build.mjs --check    build in memory and compare with the committed files
//   node build.mjs --out DIR  write them under DIR instead (same relative paths)
//   node build.mjs --only N   build only the targets whose output is named N.html (repeatable)

import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const UI = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(UI, "..");
const PLACEHOLDER = "<!-- build: script -->";
// A screen template's line `/* build: common style */`, at the top of its <style>, is
// replaced by src/common.css: the rules every screen shares, before the screen's own (which
// may override them). The test host's page has its own style and no such line.
const COMMON_STYLE = /^[ \t]*\/\* build: common style \*\/\n/gm;
const COMMON_CSS = join(UI, "src", "common.css");

// What is built: every screen, `src/<name>.html` (the template) with `src/<name>.ts` (its
// entry), into the server's package data; and the browser tests' host page. The other
// modules in src/ (and src/common.css) are shared by the screens.
const SCREENS = readdirSync(join(UI, "src"))
  .filter((name) => name.endsWith(".html"))
  .map((name) => name.slice(0, -".html".length))
  .sort();
const TARGETS = [
  ...SCREENS.map((name) => ({
    entry: `src/${name}.ts`,
    template: `src/${name}.html`,
    commonStyle: true,
    out: `src/contacts_mcp/server/ui/${name}.html`,
  })),
  {
    entry: "test-host/host.ts",
    template: "test-host/host.html",
    out: "tests/browser/host.html",
  },
];

// zod's `z` namespace (the SDK imports it whole) carries `z.locales`: the error messages
// of some 50 languages, 260 KB of the bundle. The screens never switch zod's locale
// (English stays, imported on its own), so the index of the others is left empty.
const withoutZodLocales = {
  name: "without-zod-locales",
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${join("node_modules", "zod")}`)
        ? { path: "zod-locales", namespace: "empty" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "empty" }, () => ({
      contents: "export {};",
      loader: "js",
    }));
  },
};

// The MCP SDK packages declare no `sideEffects`, so esbuild keeps every module they
// reach (OAuth, HTTP transports, a JSON Schema validator) although the App class needs
// none of them. Their modules only define things: marking them side-effect free lets
// esbuild drop what nothing uses (about 70 KB).
const sdkWithoutSideEffects = {
  name: "sdk-without-side-effects",
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === "resolving") return undefined;
      const found = await b.resolve(args.path, {
        importer: args.importer,
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: "resolving",
      });
      if (found.errors.length > 0) return found;
      const sdk = found.path.includes(join("node_modules", "@modelcontextprotocol"));
      return sdk ? { ...found, sideEffects: false } : found;
    });
  },
};

async function bundle(target) {
  const result = await build({
    absWorkingDir: UI,
    entryPoints: [target.entry],
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "none",
    charset: "utf8",
    write: false,
    logLevel: "warning",
    plugins: [withoutZodLocales, sdkWithoutSideEffects],
  });
  const js = result.outputFiles[0].text;
  if (/<\/script|<!--/i.test(js)) {
    throw new Error(
      `${target.entry}: the bundle holds "</script" or "<!--", which would end the inline script`,
    );
  }
  let template = readFileSync(join(UI, target.template), "utf8");
  if (template.split(PLACEHOLDER).length !== 2) {
    throw new Error(`${target.template}: needs exactly one ${PLACEHOLDER}`);
  }
  if (target.commonStyle) {
    if ((template.match(COMMON_STYLE) ?? []).length !== 1) {
      throw new Error(`${target.template}: needs exactly one line /* build: common style */`);
    }
    const css = commonStyle();
    template = template.replace(COMMON_STYLE, () => css);
  }
  return template.replace(PLACEHOLDER, () => `<script>${js.trimEnd()}</script>`);
}

// src/common.css as it goes into a template: without its comments on lines of their own
// (they speak to whoever edits it), its indentation, its blank lines and the spaces after
// "{", ":" and ";" and before "}" (no selector of it has a space after a colon, and none
// of its strings holds those characters: checked).
function commonStyle() {
  const css = readFileSync(COMMON_CSS, "utf8").replace(/^[ \t]*\/\*[\s\S]*?\*\/[ \t]*\n/gm, "");
  if (/<\/style|\/\*|\*\//i.test(css)) {
    throw new Error(
      'src/common.css: "</style" would end the style, and comments must be on lines of their own',
    );
  }
  if (/"[^"\n]*[{}:;][^"\n]*"|'[^'\n]*[{}:;][^'\n]*'/.test(css)) {
    throw new Error("src/common.css: a string holds { } : or ;, which the build would change");
  }
  return css
    .replace(/^[ \t]+/gm, "")
    .replace(/\n{2,}/g, "\n")
    .replace(/([{:;]) +/g, "$1")
    .replace(/ +\}/g, "}");
}

const args = process.argv.slice(2);
const check = args.includes("--check");
const outAt = args.indexOf("--out");
const outRoot = outAt >= 0 ? resolve(args[outAt + 1]) : ROOT;

const only = args.flatMap((arg, at) => (args[at - 1] === "--only" ? [`${arg}.html`] : []));
const chosen = only.length ? TARGETS.filter((t) => only.includes(basename(t.out))) : TARGETS;
if (chosen.length < only.length) throw new Error(`--only: no target among ${only.join(", ")}`);

let stale = 0;
for (const target of chosen) {
  const html = await bundle(target);
  const bytes = Buffer.from(html, "utf8");
  const sha = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const path = join(outRoot, target.out);
  if (check) {
    let committed = null;
    try {
      committed = readFileSync(path);
    } catch {
      // missing: reported as stale below
    }
    const same = committed !== null && committed.equals(bytes);
    if (!same) stale += 1;
    console.log(
      `${same ? "ok   " : "STALE"} ${target.out} (${bytes.length} bytes, sha256 ${sha}…)`,
    );
  } else {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
    const shown = relative(process.cwd(), path) || path;
    console.log(`${shown}: ${bytes.length} bytes, sha256 ${sha}…`);
  }
}
if (stale > 0) {
  console.error(
    `${stale} built file(s) do not match their sources in ui/. Rebuild them with ` +
      "`cd ui && npm ci && npm run build`, and commit the result.",
  );
  process.exit(1);
}
