#!/usr/bin/env bash
# Checks that the committed built screens (and the browser tests' host page) match their
# sources here: a clean install from package-lock.json, the format and a type check, then a
# build in memory compared byte for byte with the committed files (build.mjs --check).
# Needs Node.js 18 or newer with npm; fails, never skips, without them.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "ui/check.sh: Node.js and npm are needed (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 18 ]; then
    echo "ui/check.sh: Node.js 18 or newer is needed, this is $(node --version)" >&2
    exit 1
fi
echo "node $(node --version), npm $(npm --version)"

# --ignore-scripts: nothing in the tree needs an install script (esbuild's only checks
# its binary, which comes in its platform package); none runs.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
npm run --silent lint
npm run --silent typecheck
npm run --silent check
