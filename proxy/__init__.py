"""PII redaction sidecar proxy. Importing it has no side effects (see :mod:`proxy.checks`).

The rooms (see docs/ARCHITECTURE.md): :mod:`proxy.http` and :mod:`proxy.sinks` (transport),
:mod:`proxy.redaction` and :mod:`proxy.policy` (the core), :mod:`recognizers` (detection),
:mod:`proxy.config` (config models), :mod:`proxy.errors` (every layer's exceptions).
"""

__all__: list[str] = []
