"""deploy/: every YAML document validated against a pinned JSON schema (deploy/schemas), offline,
and the policies we hold the files to: non-root containers on read-only root file systems,
probes on /readyz and /healthz, placeholder secrets, real setting names, and Compose, HAProxy and
Prometheus naming the same replicas. HAProxy's own parser checks deploy/haproxy.cfg."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from pydantic import ValidationError
from referencing import Registry, Resource

from app.core.settings import MIN_TOKEN_LENGTH, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCHEMAS = DEPLOY / "schemas"
KUBERNETES = SCHEMAS / "kubernetes" / "v1.30.0-local-strict"
HAPROXY_CFG = DEPLOY / "haproxy.cfg"
HAPROXY = "/usr/sbin/haproxy"

PORT = 8000  # the image's EXPOSE and LSTM_SERVE_PORT
UID = 10001  # the image's USER
OBJECT_META = (
    "https://kubernetes.io/api/_definitions.json"
    "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)

# A file validated as a whole, by its path under deploy/.
BY_FILE = {
    "compose.yaml": SCHEMAS / "compose-spec.json",
    "prometheus.yml": SCHEMAS / "prometheus.json",
}
# Kubernetes objects, by (apiVersion, kind).
BY_KIND = {
    ("apps/v1", "Deployment"): KUBERNETES / "deployment-apps-v1.json",
    ("v1", "Service"): KUBERNETES / "service-v1.json",
    ("v1", "Secret"): KUBERNETES / "secret-v1.json",
    ("v1", "ConfigMap"): KUBERNETES / "configmap-v1.json",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): (
        KUBERNETES / "horizontalpodautoscaler-autoscaling-v2.json"
    ),
    ("policy/v1", "PodDisruptionBudget"): KUBERNETES / "poddisruptionbudget-policy-v1.json",
    ("serving.kserve.io/v1alpha1", "ServingRuntime"): (
        SCHEMAS / "kserve" / "servingruntime-serving-v1alpha1.json"
    ),
    ("serving.kserve.io/v1beta1", "InferenceService"): (
        SCHEMAS / "kserve" / "inferenceservice-serving-v1beta1.json"
    ),
}
# Custom resources: their CRD schemas leave metadata open, so it is checked as ObjectMeta.
CUSTOM_RESOURCES = {"ServingRuntime", "InferenceService"}

Document = tuple[str, dict[str, Any]]  # (path under deploy/ + "#" + index, the document)


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())


@functools.cache
def documents() -> tuple[Document, ...]:
    found = []
    for path in yaml_files():
        with path.open(encoding="utf-8") as stream:
            for index, doc in enumerate(yaml.safe_load_all(stream)):
                if doc is not None:
                    found.append((f"{path.relative_to(DEPLOY)}#{index}", doc))
    return tuple(found)


def document(name: str) -> dict[str, Any]:
    """The one document of deploy/NAME."""
    docs = [doc for key, doc in documents() if key.rsplit("#", 1)[0] == name]
    assert len(docs) == 1, f"{name}: expected one YAML document, found {len(docs)}"
    return docs[0]


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in documents() if isinstance(doc, dict) and doc.get("kind") == kind]


def schema_path(key: str, doc: Any) -> Path | None:
    """The schema for a document: by file for Compose and Prometheus, else by apiVersion and
    kind; None when there is none (which the suite refuses)."""
    path = key.rsplit("#", 1)[0]
    if path in BY_FILE:
        return BY_FILE[path]
    if isinstance(doc, dict):
        return BY_KIND.get((doc.get("apiVersion"), doc.get("kind")))
    return None


@functools.cache
def load_schema(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        schema: dict[str, Any] = json.load(stream)
    return schema


@functools.cache
def registry() -> Registry:
    """The Kubernetes schemas by their $id: the kind files refer to _definitions.json."""
    resources = []
    for path in sorted(KUBERNETES.glob("*.json")):
        schema = load_schema(path)
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def validator_class(schema: dict[str, Any]) -> type[Validator]:
    """The validator of the draft a schema declares. compose-spec spells draft 7
    `https://json-schema.org/draft-07/schema`, a name jsonschema does not know (it would fall
    back to the latest draft)."""
    declared = schema.get("$schema", "")
    if declared.rstrip("#") == "https://json-schema.org/draft-07/schema":
        return Draft7Validator
    cls: type[Validator] | None = validator_for(schema, default=None)
    assert cls is not None, f"unknown $schema {declared!r}"
    return cls


@functools.cache
def validator(path: Path) -> Validator:
    schema = load_schema(path)
    return validator_class(schema)(schema, registry=registry())


def object_meta_validator() -> Validator:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": OBJECT_META}
    return validator_for(schema)(schema, registry=registry())


def errors(v: Validator, instance: Any) -> list[str]:
    found = sorted(v.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{e.json_path}: {e.message[:300]}" for e in found]


def validation_errors(key: str, doc: Any) -> list[str]:
    path = schema_path(key, doc)
    assert path is not None, f"{key}: no schema for this document"
    found = errors(validator(path), doc)
    if isinstance(doc, dict) and doc.get("kind") in CUSTOM_RESOURCES:
        found += [f"metadata: {e}" for e in errors(object_meta_validator(), doc.get("metadata"))]
    return found


# --- schemas: every document has one, and passes it ----------------------------------------


def test_every_yaml_file_has_a_schema() -> None:
    names = {str(p.relative_to(DEPLOY)) for p in yaml_files()}
    assert {
        "compose.yaml",
        "kubernetes/deployment.yaml",
        "kubernetes/kserve/servingruntime.yaml",
    } <= names
    assert len(documents()) >= len(names)  # every file holds a document
    unvalidated = [key for key, doc in documents() if schema_path(key, doc) is None]
    assert not unvalidated, f"YAML without a schema (add one to tests/deploy): {unvalidated}"
    # An unknown kind would be refused, not passed.
    assert schema_path("kubernetes/x.yaml#0", {"apiVersion": "v1", "kind": "Pod"}) is None


@pytest.mark.parametrize("key", [key for key, _ in documents()])
def test_document_matches_its_schema(key: str) -> None:
    doc = dict(documents())[key]
    assert validation_errors(key, doc) == []


def test_schemas_are_valid_and_pinned() -> None:
    """Each schema is a valid schema of the draft it declares, and its sha256 is the one
    deploy/schemas/README.md records."""
    table = (SCHEMAS / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+\.json)` \|.*`([0-9a-f]{64})` \|$", table, re.MULTILINE)
    recorded = dict(rows)
    on_disk = {str(p.relative_to(SCHEMAS)) for p in SCHEMAS.rglob("*.json")}
    assert set(recorded) == on_disk
    for name, digest in recorded.items():
        path = SCHEMAS / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{name} changed"
    used = set(BY_FILE.values()) | set(BY_KIND.values())
    assert used <= {SCHEMAS / name for name in on_disk}
    for path in used:
        schema = load_schema(path)
        validator_class(schema).check_schema(schema)


def broken_deployment_unknown_field(doc: dict[str, Any]) -> None:
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"


def broken_deployment_wrong_type(doc: dict[str, Any]) -> None:
    doc["spec"]["replicas"] = "two"


def broken_deployment_probe_port(doc: dict[str, Any]) -> None:
    doc["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = 1.5


def broken_runtime_unknown_field(doc: dict[str, Any]) -> None:
    doc["spec"]["containers"][0]["securityContex"] = {"runAsNonRoot": True}


def broken_runtime_metadata(doc: dict[str, Any]) -> None:
    doc["metadata"]["labels"] = ["not", "a", "map"]


def broken_compose_unknown_key(doc: dict[str, Any]) -> None:
    doc["services"]["replica1"]["helthcheck"] = {"test": ["NONE"]}


def broken_prometheus_interval(doc: dict[str, Any]) -> None:
    doc["global"]["scrape_interval"] = "15 seconds"


@pytest.mark.parametrize(
    ("name", "breaks"),
    [
        ("kubernetes/deployment.yaml", broken_deployment_unknown_field),
        ("kubernetes/deployment.yaml", broken_deployment_wrong_type),
        ("kubernetes/deployment.yaml", broken_deployment_probe_port),
        ("kubernetes/kserve/servingruntime.yaml", broken_runtime_unknown_field),
        ("kubernetes/kserve/servingruntime.yaml", broken_runtime_metadata),
        ("compose.yaml", broken_compose_unknown_key),
        ("prometheus.yml", broken_prometheus_interval),
    ],
)
def test_the_validator_bites(name: str, breaks: Any) -> None:
    doc = copy.deepcopy(document(name))
    assert validation_errors(f"{name}#0", doc) == []
    breaks(doc)
    assert validation_errors(f"{name}#0", doc), f"{breaks.__name__} passed validation"


# --- policies: what the schemas cannot say ---------------------------------------------------


def pod_specs() -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """(what, pod-level securityContext, containers) of every pod we define."""
    pods = []
    for doc in by_kind("Deployment"):
        spec = doc["spec"]["template"]["spec"]
        pods.append((doc["metadata"]["name"], spec.get("securityContext", {}), spec["containers"]))
    for doc in by_kind("ServingRuntime"):
        pods.append((doc["metadata"]["name"], {}, doc["spec"]["containers"]))
    return pods


def test_containers_run_non_root_on_a_read_only_root() -> None:
    pods = pod_specs()
    assert {what for what, _, _ in pods} == {"lstm-serve"} and len(pods) == 2
    for what, pod, containers in pods:
        for container in containers:
            context = {**pod, **container.get("securityContext", {})}
            where = f"{what}/{container['name']}"
            assert context.get("runAsNonRoot") is True, where
            assert context.get("runAsUser") == UID, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert context.get("seccompProfile") == {"type": "RuntimeDefault"}, where
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert {"/data", "/tmp"} <= set(mounts), f"{where}: /data and /tmp need volumes"
    for doc in by_kind("Deployment"):
        volumes = {v["name"]: v for v in doc["spec"]["template"]["spec"]["volumes"]}
        assert "emptyDir" in volumes["data"] and "emptyDir" in volumes["tmp"]
    for doc in by_kind("ServingRuntime"):
        volumes = {v["name"]: v for v in doc["spec"]["volumes"]}
        assert "emptyDir" in volumes["data"] and "emptyDir" in volumes["tmp"]


def probe_port(container: dict[str, Any], probe: dict[str, Any]) -> int:
    port = probe["httpGet"]["port"]
    if isinstance(port, str):  # a named port
        named = {p["name"]: p["containerPort"] for p in container["ports"] if "name" in p}
        return named[port]
    return int(port)


def test_probes_hit_readyz_and_healthz_on_the_container_port() -> None:
    for what, _, containers in pod_specs():
        for container in containers:
            ports = [p["containerPort"] for p in container["ports"]]
            assert ports == [PORT], what
            ready, live = container["readinessProbe"], container["livenessProbe"]
            assert ready["httpGet"]["path"] == "/readyz", what
            assert live["httpGet"]["path"] == "/healthz", what
            assert probe_port(container, ready) == probe_port(container, live) == PORT, what
            if "startupProbe" in container:
                startup = container["startupProbe"]
                assert startup["httpGet"]["path"] == "/healthz"
                assert probe_port(container, startup) == PORT
    (deployment,) = by_kind("Deployment")
    assert "startupProbe" in deployment["spec"]["template"]["spec"]["containers"][0]


def test_kubernetes_objects_point_at_each_other() -> None:
    (deployment,) = by_kind("Deployment")
    (service,) = by_kind("Service")
    (hpa,) = by_kind("HorizontalPodAutoscaler")
    (pdb,) = by_kind("PodDisruptionBudget")
    (secret,) = by_kind("Secret")
    (config,) = by_kind("ConfigMap")
    name = deployment["metadata"]["name"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert deployment["spec"]["replicas"] == 2
    assert service["spec"]["selector"].items() <= labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    (port,) = service["spec"]["ports"]
    assert probe_port(container, {"httpGet": {"port": port["targetPort"]}}) == PORT
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    assert hpa["spec"]["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert "cpu" in container["resources"]["requests"]  # the HPA's utilisation is of this
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    env = {e["name"]: e for e in container["env"]}
    for e in env.values():
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == secret["metadata"]["name"]
            assert ref["key"] in secret["stringData"], ref
    # Replicas share one database and one session store, and each names itself by its pod.
    assert env["LSTM_SERVE_REPLICA_NAME"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.name"}
    }
    assert "secretKeyRef" in env["LSTM_SERVE_API_TOKEN"]["valueFrom"]
    assert "secretKeyRef" in env["LSTM_SERVE_DATABASE_URL"]["valueFrom"]
    assert config["data"]["LSTM_SERVE_SESSION_STORE"].startswith("redis://")
    (runtime,) = by_kind("ServingRuntime")
    (isvc,) = by_kind("InferenceService")
    assert runtime["spec"]["protocolVersions"] == ["v2"]
    formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in formats
    assert model["protocolVersion"] == "v2"


def test_secrets_are_placeholders() -> None:
    (secret,) = by_kind("Secret")
    assert "data" not in secret  # stringData only: readable, and never base64 of a real value
    for key, value in secret["stringData"].items():
        assert "REPLACE-ME" in value, f"{key} does not look like a placeholder"
    # A forgotten placeholder cannot run: the service refuses a token this short.
    token = secret["stringData"]["api-token"]
    assert len(token) < MIN_TOKEN_LENGTH
    with pytest.raises(ValidationError):
        Settings(api_token=token)  # type: ignore[arg-type]
    example = dict(
        line.split("=", 1)
        for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert set(example) == {"LSTM_SERVE_API_TOKEN", "POSTGRES_PASSWORD"}
    assert all(value.startswith("replace-me") for value in example.values())
    assert ".env" in (DEPLOY / ".gitignore").read_text(encoding="utf-8").splitlines()
    # Compose takes both from deploy/.env and refuses to start without them.
    environment = document("compose.yaml")["services"]["replica1"]["environment"]
    assert re.fullmatch(r"\$\{LSTM_SERVE_API_TOKEN:\?[^}]+\}", environment["LSTM_SERVE_API_TOKEN"])
    # Nothing that looks like a real token anywhere: 32+ hex digits, or 32+ base64url
    # characters mixing upper case, lower case and digits (secrets.token_urlsafe).
    for path in deploy_text_files():
        for word in re.findall(r"[A-Za-z0-9_\-]{32,}", path.read_text(encoding="utf-8")):
            mixed = all(re.search(c, word) for c in ("[A-Z]", "[a-z]", "[0-9]"))
            assert not (mixed or re.fullmatch(r"[0-9a-fA-F]+", word)), f"{path}: {word}"


def deploy_text_files() -> list[Path]:
    """deploy/'s own files: not the schemas (other people's), not deploy/.env (git-ignored, it
    holds an operator's real secrets)."""
    return sorted(
        p
        for p in DEPLOY.rglob("*")
        if p.is_file() and SCHEMAS not in p.parents and p != DEPLOY / ".env"
    )


def setting_names() -> set[str]:
    names: set[str] = set()
    for path in deploy_text_files():
        names |= set(re.findall(r"LSTM_SERVE_[A-Z0-9_]+", path.read_text(encoding="utf-8")))
    return names


def test_every_setting_name_is_a_settings_field() -> None:
    names = setting_names()
    assert {
        "LSTM_SERVE_DATABASE_URL",
        "LSTM_SERVE_SESSION_STORE",
        "LSTM_SERVE_REPLICA_NAME",
    } <= names
    unknown = sorted(
        n for n in names if n.removeprefix("LSTM_SERVE_").lower() not in Settings.model_fields
    )
    assert not unknown, f"not settings (app/core/settings.py): {unknown}"


def interpolate(value: Any) -> str:
    """A Compose value with every ${NAME...} replaced by a plausible secret."""
    return re.sub(
        r"\$\{[A-Z0-9_]+(?:[:?\-][^}]*)?\}", "0123456789abcdef0123456789abcdef", str(value)
    )


def settings_from(env: dict[str, str]) -> Settings:
    """Settings built from LSTM_SERVE_* values, as the service would build them."""
    values = {
        k.removeprefix("LSTM_SERVE_").lower(): v
        for k, v in env.items()
        if k.startswith("LSTM_SERVE_")
    }
    return Settings(**values)


def test_configured_values_are_valid_settings() -> None:
    compose = document("compose.yaml")
    for name in ("replica1", "replica2"):
        env = {k: interpolate(v) for k, v in compose["services"][name]["environment"].items()}
        settings = settings_from(env)
        assert settings.database_url is not None and settings.database_url.startswith(
            "postgresql://"
        )
        assert settings.session_store.startswith("redis://")
        assert settings.replica_name == name
    (config,) = by_kind("ConfigMap")
    (secret,) = by_kind("Secret")
    (deployment,) = by_kind("Deployment")
    env = dict(config["data"])
    for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:  # placeholders made valid: this checks the shapes, not the values
            env[e["name"]] = secret["stringData"][ref["key"]].replace("REPLACE-ME", "0" * 32)
        elif "value" in e:
            env[e["name"]] = e["value"]
    settings_from(env)
    (runtime,) = by_kind("ServingRuntime")
    (isvc,) = by_kind("InferenceService")
    env = {e["name"]: e["value"] for e in runtime["spec"]["containers"][0]["env"]}
    env.update({e["name"]: e["value"] for e in isvc["spec"]["predictor"]["model"]["env"]})
    assert settings_from(env).model_name == isvc["metadata"]["name"]


# --- Compose, HAProxy and Prometheus agree ---------------------------------------------------


def haproxy_servers() -> dict[str, tuple[str, str]]:
    """backend server name -> (environment variable, default address) in deploy/haproxy.cfg."""
    text = HAPROXY_CFG.read_text(encoding="utf-8")
    found = re.findall(r'^\s*server (\S+) "\$\{([A-Z0-9_]+)-([^}]+)\}"', text, re.MULTILINE)
    return {name: (variable, default) for name, variable, default in found}


def haproxy_directives() -> list[list[str]]:
    lines = HAPROXY_CFG.read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].split() for line in lines if line.split("#", 1)[0].strip()]


def test_compose_haproxy_and_prometheus_name_the_same_replicas() -> None:
    compose = document("compose.yaml")
    services = compose["services"]
    replicas = sorted(name for name in services if name.startswith("replica"))
    assert replicas == ["replica1", "replica2"]
    servers = haproxy_servers()
    assert sorted(servers) == replicas
    haproxy_env = services["haproxy"]["environment"]
    for name in replicas:
        variable, default = servers[name]
        assert default == f"{name}:{PORT}"
        assert haproxy_env[variable] == default
        service = services[name]
        assert service["image"] == "lstm-serve:latest"
        assert service["build"]["context"] == ".."
        assert str(PORT) in [str(p) for p in service["expose"]]
        assert service["environment"]["LSTM_SERVE_REPLICA_NAME"] == name
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
        assert f"127.0.0.1:{PORT}/readyz" in " ".join(service["healthcheck"]["test"])
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert "/tmp" in service["tmpfs"]
    volumes = [services[name]["volumes"][0].split(":")[0] for name in replicas]
    assert len(set(volumes)) == len(replicas), "each replica needs its own volume"
    assert all(volume in compose["volumes"] for volume in volumes)
    assert all("healthcheck" in service for service in services.values())
    assert services["haproxy"]["ports"][0] == f"{PORT}:{PORT}"
    assert "./haproxy.cfg:" in services["haproxy"]["volumes"][0]
    assert "./prometheus.yml:" in services["prometheus"]["volumes"][0]
    # Prometheus scrapes every replica directly, on the port HAProxy uses.
    prometheus = document("prometheus.yml")
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "lstm-serve"]
    targets = sorted(t for group in job["static_configs"] for t in group["targets"])
    assert targets == sorted(default for _, default in servers.values())


def test_haproxy_balances_and_retries_safely() -> None:
    directives = haproxy_directives()
    assert ["balance", "leastconn"] in directives
    assert ["option", "httpchk", "GET", "/readyz"] in directives
    assert ["http-check", "expect", "status", "200"] in directives
    # Only failed connections are retried: a request that reached a replica is never resent.
    assert [d for d in directives if d[0] == "retry-on"] == [["retry-on", "conn-failure"]]
    timeouts = {d[1]: d[2] for d in directives if d[0] == "timeout"}
    assert timeouts["connect"] == "5s" and timeouts["http-request"] == "10s"
    assert timeouts["client"] == timeouts["server"] == "60s"
    default_server = next(d for d in directives if d[0] == "default-server")
    assert "check" in default_server


def test_haproxy_accepts_the_config() -> None:
    """HAProxy's own parser, warnings fatal (-dW), with the addresses a test would give it."""
    haproxy = shutil.which("haproxy") or HAPROXY  # Debian's /usr/sbin: often not on PATH
    if not os.access(haproxy, os.X_OK):
        pytest.fail(
            "haproxy is not installed: run scripts/system-packages.sh (Debian package haproxy)"
        )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LB_BIND": "127.0.0.1:18000",
        "LB_STATS_BIND": "127.0.0.1:18404",
        "REPLICA1": "127.0.0.1:18001",
        "REPLICA2": "127.0.0.1:18002",
    }
    assert {variable for variable, _ in haproxy_servers().values()} <= set(env)
    result = subprocess.run(
        [haproxy, "-dW", "-c", "-f", str(HAPROXY_CFG)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Configuration file is valid" in output
    assert "WARNING" not in output and "ALERT" not in output, output
