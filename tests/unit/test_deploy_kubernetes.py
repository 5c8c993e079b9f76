"""deploy/kubernetes/: valid against the Kubernetes schemas (kubernetes-validate, offline: it
ships them) and consistent with config/proxy.yaml and the image (ports, paths, env names,
drain time, the image's user)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from proxy.config import ProxyConfig, destinations_using_vault, load_config
from tests.helpers import ROOT

K8S = ROOT / "deploy" / "kubernetes"
MANIFESTS = ("configmap.yaml", "deployment.yaml", "service.yaml", "pdb.yaml")


def load(name: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    assert len(docs) == 1, f"{name}: one object per file"
    doc: dict[str, Any] = docs[0]
    return doc


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = load("deployment.yaml")["spec"]["template"]["spec"]
    return spec


def container(name: str) -> dict[str, Any]:
    found = [c for c in pod_spec()["containers"] if c["name"] == name]
    assert len(found) == 1
    return found[0]


def proxy_env() -> dict[str, str]:
    """The proxy container's environment as the pod would see it (the Secret filled in)."""
    env = {}
    for e in container("pii-proxy")["env"]:
        env[e["name"]] = e.get("value", "secret-from-" + e.get("valueFrom", {}).get("secretKeyRef", {}).get("key", ""))
    return env


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> ProxyConfig:
    """The ConfigMap's proxy.yaml loaded the way the pod loads it: files side by side, the
    Deployment's environment (with the image's ENV underneath)."""
    etc = tmp_path_factory.mktemp("etc-proxy")
    for name, text in load("configmap.yaml")["data"].items():
        (etc / name).write_text(text)
    image_env = dict(re.findall(r"^\s+(\w+)=(\S+?)\s*\\?$", (ROOT / "Dockerfile").read_text(), re.M))
    return load_config(etc / "proxy.yaml", env={**image_env, **proxy_env()})


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_is_valid_against_the_kubernetes_schema(name: str) -> None:
    version = kubernetes_validate.latest_version()
    kubernetes_validate.validate(load(name), version, strict=True)  # raises on any problem


def test_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kust["resources"]) == sorted(MANIFESTS)


def test_configmap_carries_the_shipped_config_verbatim() -> None:
    data = load("configmap.yaml")["data"]
    for name in ("proxy.yaml", "recognizers.yaml"):
        assert data.get(name) == (ROOT / "config" / name).read_text(), (
            f"deploy/kubernetes/configmap.yaml is stale ({name}): run python3 deploy/kubernetes/render_configmap.py"
        )


def test_config_is_mounted_where_serve_reads_it(cfg: ProxyConfig) -> None:
    c = container("pii-proxy")
    args = c["args"]
    config_path = Path(args[args.index("--config") + 1])
    mount = next(m for m in c["volumeMounts"] if m["name"] == "config")
    assert config_path.parent == Path(mount["mountPath"]) and mount["readOnly"] is True
    vol = next(v for v in pod_spec()["volumes"] if v["name"] == "config")
    assert vol["configMap"]["name"] == load("configmap.yaml")["metadata"]["name"]
    assert Path(cfg.detection.recognizers).name in load("configmap.yaml")["data"], "recognizers file in the ConfigMap"
    assert "--workers" in args, "with a CPU limit the worker count must be given"


def test_ports_and_probes_match_the_config(cfg: ProxyConfig) -> None:
    c = container("pii-proxy")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"admin": cfg.listen.admin_port}
    assert cfg.listen.admin_host == "0.0.0.0", "probes and Prometheus reach the admin port on the pod IP"
    assert cfg.listen.host == "127.0.0.1", "the proxy itself is reachable only inside the pod"
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert c["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    app_env = {e["name"]: e["value"] for e in container("app")["env"]}
    for route, url in (("/chat/", app_env["CHAT_API_URL"] + "/"), ("/logs/", app_env["DIAGNOSTIC_LOG_URL"])):
        assert url.startswith(f"http://127.0.0.1:{cfg.listen.port}{route}")
        assert any(r.path == route for r in cfg.routes)
    annotations = load("deployment.yaml")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == cfg.listen.admin_port
    assert annotations["prometheus.io/path"] == "/metrics"
    svc = load("service.yaml")
    named = {p["name"] for c2 in pod_spec()["containers"] for p in c2.get("ports", [])}
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= named
    assert int(svc["metadata"]["annotations"]["prometheus.io/port"]) == cfg.listen.admin_port


def test_env_names_are_the_ones_the_config_reads(cfg: ProxyConfig) -> None:
    shipped = (ROOT / "config" / "proxy.yaml").read_text()
    keys = {cfg.secrets.pseudonym_key_env, cfg.secrets.vault_key_env, cfg.secrets.admin_token_env}
    read = set(re.findall(r"\$\{(\w+)", shipped)) | keys
    env = container("pii-proxy")["env"]
    unknown = {e["name"] for e in env} - read
    assert not unknown, f"env vars the config never reads: {sorted(unknown)}"
    # the shipped config hashes and pseudonymises: serve refuses to start without both keys
    assert cfg.destinations_needing_key() and destinations_using_vault(cfg)
    for name in keys:
        secret = next(e for e in env if e["name"] == name)
        assert secret["valueFrom"]["secretKeyRef"]["key"] == name
        assert "value" not in secret, "keys come from a Secret, never from the manifest"
    sink = cfg.sinks["log_sink"]
    assert sink.chosen == "nats", "LOG_SINK_NATS_URL set: the fleet delivers to NATS"
    assert (sink.nats.subject, sink.nats.stream) == ("logs.redacted", "REDACTED_LOGS")


def test_writable_paths_are_on_volumes_and_the_root_is_read_only(cfg: ProxyConfig) -> None:
    c = container("pii-proxy")
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    writable = [Path(p) for p, m in mounts.items() if not m.get("readOnly")]

    def on_volume(path: str) -> bool:
        return any(Path(path).is_relative_to(w) for w in writable)

    assert on_volume(cfg.spool.dir), "the spool lives on a volume"
    assert on_volume(cfg.audit.file)
    assert on_volume(cfg.sinks["log_sink"].file.path)
    assert "/tmp" in mounts, "serve's run and metrics directories"
    for c2 in pod_spec()["containers"]:
        sc = c2["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
    pod_sc = pod_spec()["securityContext"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    uid = re.search(r"^USER (\d+):(\d+)", dockerfile, re.M)
    assert uid is not None
    assert pod_sc["runAsNonRoot"] is True
    assert (str(pod_sc["runAsUser"]), str(pod_sc["runAsGroup"])) == uid.groups(), "the image's user"
    assert str(pod_sc["fsGroup"]) == uid.group(2), "volumes writable by that user"
    spool_volume = next(v for v in pod_spec()["volumes"] if v["name"] == "spool")
    limit = spool_volume["emptyDir"]["sizeLimit"]
    assert int(limit.removesuffix("Mi")) * 1024 * 1024 > cfg.spool.max_bytes, "the volume holds a full spool"


def test_shutdown_timing_matches_the_drain(cfg: ProxyConfig) -> None:
    c = container("pii-proxy")
    command = c["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    grace = pod_spec()["terminationGracePeriodSeconds"]
    assert pre_stop + cfg.timeouts.drain <= grace <= pre_stop + cfg.timeouts.drain + 10


def test_resources_are_set_and_coherent() -> None:
    def mib(v: str) -> int:
        return int(v.removesuffix("Mi")) if v.endswith("Mi") else int(v.removesuffix("Gi")) * 1024

    for c in pod_spec()["containers"]:
        r = c["resources"]
        assert mib(r["requests"]["memory"]) <= mib(r["limits"]["memory"])
    proxy = container("pii-proxy")["resources"]
    # measured RSS of `serve --workers 1` (supervisor + worker + detection process): ~372 MB
    assert mib(proxy["requests"]["memory"]) >= 372 * 1000**2 // 1024**2
    args = container("pii-proxy")["args"]
    assert float(proxy["limits"]["cpu"]) >= int(args[args.index("--workers") + 1])


def test_pdb_and_service_select_the_deployments_pods() -> None:
    labels = load("deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    assert load("deployment.yaml")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert load("pdb.yaml")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert load("service.yaml")["spec"]["selector"].items() <= labels.items()
    assert load("pdb.yaml")["spec"]["maxUnavailable"] < load("deployment.yaml")["spec"]["replicas"]
