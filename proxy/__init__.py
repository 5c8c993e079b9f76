"""PII redaction sidecar proxy. Importing it has no side effects (see :mod:`proxy.checks`)."""
