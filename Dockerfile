# contacts-mcp: the MCP server over Streamable HTTP (port 8000, path /mcp).
#
#   docker build -t contacts-mcp .
#   docker run -d -p 127.0.0.1:8000:8000 -v contacts-mcp-data:/data \
#     -e RESEND_API_KEY -e CONTACTS_MCP_TOKENS contacts-mcp
#
# Configuration comes from the environment at run time; nothing secret is in the image:
#   RESEND_API_KEY             full-access Resend key; without it pass --local (the
#                              built-in emulator): docker run ... contacts-mcp --local
#   CONTACTS_MCP_PORT          the port to serve (default 8000; the healthcheck follows it)
#   CONTACTS_MCP_TOKENS        bearer tokens, comma-separated name=token pairs
#   CONTACTS_MCP_TOKEN_FILE    or a file of name:sha256hex lines (mount it read-only)
#   CONTACTS_MCP_OAUTH_ISSUER, CONTACTS_MCP_OAUTH_JWKS_URL, CONTACTS_MCP_RESOURCE_URL
#                              or OAuth: access tokens (JWTs) checked against the issuer
#   CONTACTS_MCP_ALLOWED_HOSTS, CONTACTS_MCP_ALLOWED_ORIGINS
#                              extra Host / Origin values (comma-separated) beyond loopback,
#                              e.g. the name a reverse proxy forwards
#   CONTACTS_MCP_READ_ONLY     1/true: only the read tools
#   CONTACTS_MCP_TOOLSETS      e.g. contacts,schema (default: all)
#   CONTACTS_MCP_AUDIT_LOG     e.g. /data/audit.jsonl
#   CONTACTS_MCP_IMPORT_DIRS   folders CSV imports may read (mount them), e.g. /imports
#   CONTACTS_MCP_LOG_LEVEL     DEBUG, INFO, WARNING (default), ERROR
# Bound to 0.0.0.0 the server refuses to start without tokens or OAuth: set one of them.

# One minor version, the same in both stages: the venv built in the first stage points
# at this interpreter's path. Pin a digest (python:3.12-slim@sha256:...) for
# byte-for-byte reproducible builds.
ARG PYTHON_IMAGE=python:3.12-slim

# --- build: the project and its dependencies into a venv -----------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
# What `pip install .` reads; .dockerignore keeps the rest (tests, bench, .git) out.
COPY pyproject.toml README.md LICENSE ./
COPY src ./src

# A venv without pip, filled by the base image's pip (`--python`): the venv carries no
# installer (the base image keeps its own pip). The wheel is built by hatchling in pip's isolated build
# environment, so no build tool stays behind either. Bytecode is compiled here, at
# install time, so the read-only runtime never needs to write it.
RUN python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install . \
 && /opt/venv/bin/contacts-mcp --version

# --- runtime ------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
# The MCP registry checks this label against server.json's `name` before it lists
# the image as an `oci` package of this server.
LABEL io.modelcontextprotocol.server.name="io.github.contacts-mcp/contacts-mcp" \
      org.opencontainers.image.title="contacts-mcp" \
      org.opencontainers.image.description="MCP server for managing Resend contacts, with a local Resend-compatible emulator" \
      org.opencontainers.image.source="https://github.com/contacts-mcp/contacts-mcp" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}"

# A fixed, unprivileged uid (10001: above any distro or host account, and numeric so
# `runAsNonRoot` checks can verify it). No login shell; its home is the data volume,
# so anything that writes under ~ writes to /data too.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin app \
 && mkdir /data \
 && chown 10001:10001 /data \
 && chmod 0700 /data

COPY --from=build /opt/venv /opt/venv

# PYTHONDONTWRITEBYTECODE: site-packages is root-owned and already compiled; don't try
# to write .pyc next to the data. PYTHONUNBUFFERED: logs reach `docker logs` at once.
# XDG_DATA_HOME: the emulator database, the mirror, job journals and the confirmation
# key live under $XDG_DATA_HOME/contacts-mcp, i.e. on the volume, and survive upgrades.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    XDG_DATA_HOME=/data \
    HOME=/data \
    CONTACTS_MCP_TRANSPORT=http \
    CONTACTS_MCP_HOST=0.0.0.0 \
    CONTACTS_MCP_PORT=8000

# Declared after the chown, so a fresh named volume starts owned by the app user.
VOLUME ["/data"]
# /data is also the home folder, so it is not a default import folder: reading CSV
# files is off until a folder is mounted and named, e.g. -v ./csv:/imports:ro
# -e CONTACTS_MCP_IMPORT_DIRS=/imports (inline CSV works regardless). Imports and
# exports never touch the server's own data under /data/contacts-mcp.
WORKDIR /data
USER 10001:10001

EXPOSE 8000

# Liveness over HTTP with the standard library (slim has no curl). /healthz answers 200
# while the process serves, even if Resend is unreachable (that is reported in the body,
# checked at most every 30 s, so probes don't spend the rate limit); anything else,
# including 503 while starting, fails the probe. It probes $CONTACTS_MCP_PORT; run
# with --no-healthcheck for stdio (CONTACTS_MCP_TRANSPORT=stdio).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CONTACTS_MCP_PORT', '8000'), timeout=4); sys.exit(0 if r.status == 200 else 1)"]

# Exec form: contacts-mcp is PID 1 and gets SIGTERM from `docker stop`, which it uses
# for a graceful stop (open requests finish, running jobs stop at a checkpoint).
ENTRYPOINT ["contacts-mcp"]
# The transport, 0.0.0.0 and the port are in the environment above, not in CMD: flags
# given to `docker run` (e.g. --local) add to them instead of replacing them. 0.0.0.0
# because the port is published from outside the container's network namespace; the
# server itself then insists on tokens or OAuth.
CMD []
