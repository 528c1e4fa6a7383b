"""The deployment files, checked offline: schema-valid, and consistent with the code they run.

* every Kubernetes manifest in deploy/k8s validates (strict) against the Kubernetes 1.30 schemas that
  kubernetes-validate ships, and kustomization.yaml lists every one of them;
* docker-compose.yml validates against the Compose specification (check-jsonschema's vendored schema);
* that X-Forwarded-For is believed from the proxy in front of iGot only, never from a whole private range;
* every push way of `shared.topology.DELIVERY_WAYS` has its channel consumer (a Deployment and a compose
  service running `igot serve dispatcher --channel <way>`), next to the router (`--router-only`), and no
  queue is consumed by two of them;
* what a user would trip over: an `igot serve <name>` naming no service, an `IGOT_*` variable that is no
  setting (or a value the settings refuse, or a credential outside the Secret), probes on the wrong paths,
  Services, autoscalers and budgets that select nothing, and the path routing of the Ingress and of the
  compose proxy (`/open/user/` to auth, everything else to gateway).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic import SecretStr, ValidationError

from igot.cli import build_parser
from igot.runtime import SERVICE_NAMES, create_app
from services.moderation.lexicon import DEFAULT_LEXICON, Lexicon
from shared.settings import Settings
from shared.topology import DELIVERY_WAYS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
CADDYFILE = ROOT / "deploy" / "compose" / "Caddyfile"
DOCKERFILE = ROOT / "Dockerfile"
DEFAULT_LEXICON_TEXT = (ROOT / "services" / "moderation" / DEFAULT_LEXICON).read_text(encoding="utf-8")
KUBERNETES_VERSION = "1.30"
HTTP_PORT = 8080

Doc = dict[str, Any]


@dataclass(frozen=True)
class Manifest:
    file: str
    doc: Doc

    @property
    def kind(self) -> str:
        return str(self.doc["kind"])

    @property
    def name(self) -> str:
        return str(self.doc["metadata"]["name"])

    def __str__(self) -> str:
        return f"{self.file}:{self.kind}/{self.name}"


def _load_manifests() -> list[Manifest]:
    manifests = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                manifests.append(Manifest(path.name, doc))
    return manifests


MANIFESTS = _load_manifests()


def _of_kind(kind: str) -> list[Manifest]:
    return [m for m in MANIFESTS if m.kind == kind]


def _one(kind: str, name: str) -> Doc:
    found = [m.doc for m in _of_kind(kind) if m.name == name]
    assert len(found) == 1, f"expected one {kind} named {name!r}, found {len(found)}"
    return found[0]


def _compose() -> Doc:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _pod_specs() -> Iterator[tuple[Manifest, Doc]]:
    """(manifest, pod spec) of every workload."""
    for manifest in MANIFESTS:
        if manifest.kind in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield manifest, manifest.doc["spec"]["template"]["spec"]


def _igot_argv(container: Doc) -> list[str]:
    """The `igot` arguments a container of the image runs (its ENTRYPOINT is `igot`)."""
    command = [str(part) for part in container.get("command", [])]
    args = [str(part) for part in container.get("args", [])]
    if command:
        assert command[0] == "igot", f"{container['name']}: command {command} does not run igot"
        return command[1:] + args
    return args


def _parsed(argv: list[str]) -> argparse.Namespace:
    """`argv` as the igot command reads it; a command it refuses fails the test."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"`igot {' '.join(argv)}` is not a command igot takes", pytrace=False)
    if args.command == "serve" and args.service != "dispatcher":
        assert not (args.channel or args.router_only), f"igot {' '.join(argv)}: dispatcher options"
    return args


def _consumers(argv: list[str]) -> set[str]:
    """What the dispatcher process `argv` consumes: "router" and the channels' ways."""
    args = _parsed(argv)
    if args.router_only:
        return {"router"}
    return set(args.channel) if args.channel else {"router", *DELIVERY_WAYS}


def _role(argv: list[str]) -> str:
    """The component a process of `argv` is: a service's name, or `dispatcher-<way>` for one channel."""
    args = _parsed(argv)
    if args.command != "serve":
        return str(args.command)
    if args.service == "dispatcher" and args.channel:
        (way,) = args.channel
        return f"dispatcher-{way}"
    return str(args.service)


def _deployment_serving(role: str) -> Manifest:
    found = [
        m
        for m in _of_kind("Deployment")
        for c in m.doc["spec"]["template"]["spec"]["containers"]
        if _role(_igot_argv(c)) == role
    ]
    assert len(found) == 1, f"expected one Deployment running {role}, found {len(found)}"
    return found[0]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _service_runs(service_name: str) -> list[list[str]]:
    """The igot argv of the pods a Kubernetes Service sends its traffic to."""
    selector = _one("Service", service_name)["spec"]["selector"]
    return [
        _igot_argv(container)
        for m in _of_kind("Deployment")
        if _selects(selector, m.doc["spec"]["template"]["metadata"]["labels"])
        for container in m.doc["spec"]["template"]["spec"]["containers"]
    ]


# -- schemas ---------------------------------------------------------------------------------------------


def test_there_are_manifests_for_every_service() -> None:
    for service in SERVICE_NAMES:
        _deployment_serving(service)
    assert _of_kind("Job"), "no Job runs `igot migrate`"


CHANNEL_ROLES = [f"dispatcher-{way}" for way in DELIVERY_WAYS]


@pytest.mark.parametrize("way", DELIVERY_WAYS)
def test_every_channel_has_its_deployment_and_compose_service(way: str) -> None:
    argv = ["serve", "dispatcher", "--channel", way]
    assert _igot_argv(_container(_deployment_serving(f"dispatcher-{way}"))) == argv
    assert _compose_argv(_compose()["services"][f"dispatcher-{way}"]) == argv


def _dispatcher_argvs_of_k8s() -> list[list[str]]:
    return [
        argv
        for m in _of_kind("Deployment")
        if (argv := _igot_argv(_container(m)))[:2] == ["serve", "dispatcher"]
    ]


def _dispatcher_argvs_of_compose() -> list[list[str]]:
    return [
        argv
        for s in _compose()["services"].values()
        if (argv := _compose_argv(s))[:2] == ["serve", "dispatcher"]
    ]


@pytest.mark.parametrize("where", ["kubernetes", "compose"])
def test_each_dispatcher_queue_has_one_kind_of_consumer(where: str) -> None:
    """The router and each channel run in exactly one workload: a channel is scaled and throttled on its
    own only if no other workload (a dispatcher running everything) consumes its queue too."""
    argvs = _dispatcher_argvs_of_k8s() if where == "kubernetes" else _dispatcher_argvs_of_compose()
    consumed = [name for argv in argvs for name in _consumers(argv)]
    assert sorted(consumed) == sorted(["router", *DELIVERY_WAYS]), argvs


@pytest.mark.parametrize("manifest", MANIFESTS, ids=str)
def test_kubernetes_manifest_is_valid(manifest: Manifest) -> None:
    problem = ""
    try:
        kubernetes_validate.validate(manifest.doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        problem = f"{manifest}: {'/'.join(str(part) for part in error.path)}: {error.message}"
    if problem:
        pytest.fail(problem, pytrace=False)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    on_disk = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    assert len(set(listed)) == len(listed)


def test_manifests_share_one_namespace() -> None:
    namespaces = {m.doc["metadata"].get("namespace") for m in MANIFESTS if m.kind != "Namespace"}
    assert namespaces == {_of_kind("Namespace")[0].name}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomization_builds() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert len([d for d in yaml.safe_load_all(result.stdout) if d]) == len(MANIFESTS)


def test_compose_file_is_valid() -> None:
    check_jsonschema = Path(sys.executable).parent / "check-jsonschema"
    assert check_jsonschema.exists(), "check-jsonschema is missing: install the dev extra"
    result = subprocess.run(
        [str(check_jsonschema), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- commands --------------------------------------------------------------------------------------------


def _compose_argv(service: Doc) -> list[str]:
    command = service.get("command", ["standalone"])
    assert isinstance(command, list), "write compose commands as lists"
    return [str(part) for part in command]


def test_every_command_is_a_real_igot_command() -> None:
    seen: list[list[str]] = []
    for _, pod in _pod_specs():
        seen.extend(_igot_argv(c) for c in pod["containers"] + pod.get("initContainers", []))
    seen.extend(
        _compose_argv(s) for s in _compose()["services"].values() if s.get("image", "").startswith("igot")
    )
    assert seen
    for argv in seen:
        assert argv[0] in ("serve", "migrate", "standalone"), argv
        _parsed(argv)


def test_each_deployment_runs_the_service_it_is_named_after() -> None:
    for manifest in _of_kind("Deployment"):
        component = manifest.doc["metadata"]["labels"]["app.kubernetes.io/component"]
        (container,) = manifest.doc["spec"]["template"]["spec"]["containers"]
        assert _role(_igot_argv(container)) == component, manifest


def test_migrate_job_runs_migrate_in_distributed_mode() -> None:
    (job,) = _of_kind("Job")
    (container,) = job.doc["spec"]["template"]["spec"]["containers"]
    assert _igot_argv(container) == ["migrate"]
    assert _configmap()["IGOT_MODE"] == "distributed"
    assert {"configMapRef", "secretRef"} <= {key for ref in container["envFrom"] for key in ref}


def test_compose_services_run_what_they_are_named_after() -> None:
    services = _compose()["services"]
    for name in (*SERVICE_NAMES, *CHANNEL_ROLES):
        assert _role(_compose_argv(services[name])) == name
    assert _compose_argv(services["migrate"]) == ["migrate"]
    assert services["migrate"]["environment"]["IGOT_MODE"] == "distributed"
    assert _compose_argv(services["standalone"]) == ["standalone"]
    assert services["standalone"]["profiles"] == ["standalone"]


def test_compose_services_wait_for_infrastructure_and_migration() -> None:
    services = _compose()["services"]
    for name in (*SERVICE_NAMES, *CHANNEL_ROLES):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        for infra in ("rabbitmq", "mongo"):
            assert depends[infra]["condition"] == "service_healthy", name
            assert "healthcheck" in services[infra], infra
        assert services[name]["environment"]["IGOT_MODE"] == "distributed", name
        assert "healthcheck" in services[name], name


# -- settings --------------------------------------------------------------------------------------------


SETTINGS = set(Settings.model_fields)
SETTINGS_CONFIGMAP = "igot-config"
SECRET_SETTINGS = {
    f"IGOT_{name.upper()}" for name, field in Settings.model_fields.items() if field.annotation is SecretStr
}


def _configmap() -> dict[str, str]:
    """The settings every process gets (the other ConfigMap holds the moderation lexicon)."""
    return dict(_one("ConfigMap", SETTINGS_CONFIGMAP)["data"])


def _secret() -> dict[str, str]:
    (secret,) = _of_kind("Secret")
    return dict(secret.doc.get("stringData", {}))


def _environments() -> Iterator[tuple[str, dict[str, str]]]:
    """Every set of IGOT_* variables a process of the deployment files gets."""
    yield "ConfigMap and Secret", {**_configmap(), **_secret()}
    for name, service in _compose()["services"].items():
        env = service.get("environment", {})
        assert isinstance(env, dict), f"compose {name}: write environment as a mapping"
        yield f"compose {name}", {key: str(value) for key, value in env.items()}
    for manifest, pod in _pod_specs():
        for container in pod["containers"]:
            env = {e["name"]: str(e.get("value", "")) for e in container.get("env", [])}
            yield f"{manifest} {container['name']}", env
    yield "Dockerfile", _dockerfile_env()


def test_every_igot_variable_is_a_setting() -> None:
    for where, env in _environments():
        for key in env:
            if key.startswith("IGOT_"):
                assert key.removeprefix("IGOT_").lower() in SETTINGS, f"{where}: {key} is no setting"


def test_every_igot_value_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    for where, env in _environments():
        with monkeypatch.context() as patch:
            for key in [k for k in os.environ if k.startswith("IGOT_")]:
                patch.delenv(key)
            for key, value in env.items():
                if key.startswith("IGOT_"):
                    # compose interpolation (${IGOT_PORT:-8080}) takes its default
                    patch.setenv(key, re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value))
            problem = ""
            try:
                Settings()
            except ValidationError as error:
                problem = f"{where}: {error}"
            if problem:
                pytest.fail(problem, pytrace=False)


def test_credentials_live_in_the_secret() -> None:
    leaked = SECRET_SETTINGS & set(_configmap())
    assert not leaked, f"secret settings in the ConfigMap: {sorted(leaked)}"
    assert {"IGOT_AMQP_URL", "IGOT_MONGO_URL"} <= set(_secret())
    for key, value in _secret().items():
        assert "REPLACE" in value, f"{key}: the shipped Secret holds placeholders only"


# Broadest network a deployment file may trust: wider than this, clients share it with the proxies.
NARROWEST_TRUSTED_PREFIX = {4: 24, 6: 64}


def test_no_deployment_trusts_a_broad_network() -> None:
    for where, env in _environments():
        for network in json.loads(env.get("IGOT_TRUSTED_PROXIES", "[]")):
            parsed = ip_network(network)
            assert parsed.prefixlen >= NARROWEST_TRUSTED_PREFIX[parsed.version], f"{where} trusts {network}"


def test_no_deployment_limits_per_address_without_knowing_the_address() -> None:
    """Behind a proxy that is not trusted every client has the proxy's address: a per-address push limit
    would then be one budget for everybody."""
    gateways = {
        "ConfigMap": _configmap(),
        "compose gateway": _compose()["services"]["gateway"]["environment"],
    }
    for where, env in gateways.items():
        if json.loads(env.get("IGOT_TRUSTED_PROXIES", "[]")):
            continue
        assert str(env.get("IGOT_PUSH_RATE_PER_IP")) == "0", (
            f"{where} limits pushes per address behind a proxy"
        )


def test_compose_trusts_exactly_its_proxy() -> None:
    compose = _compose()
    proxy_address = ip_address(compose["services"]["proxy"]["networks"]["default"]["ipv4_address"])
    (subnet,) = [ip_network(c["subnet"]) for c in compose["networks"]["default"]["ipam"]["config"]]
    assert proxy_address in subnet
    for name, service in compose["services"].items():
        trusted = service.get("environment", {}).get("IGOT_TRUSTED_PROXIES")
        if trusted is not None:
            assert [ip_network(n) for n in json.loads(trusted)] == [ip_network(proxy_address)], name
    for name in SERVICE_NAMES:
        assert "IGOT_TRUSTED_PROXIES" in compose["services"][name]["environment"], name


def test_containers_listen_where_they_are_probed() -> None:
    assert _configmap()["IGOT_HTTP_HOST"] == "0.0.0.0"
    assert int(_configmap()["IGOT_HTTP_PORT"]) == HTTP_PORT
    assert _dockerfile_env()["IGOT_HTTP_HOST"] == "0.0.0.0"


# -- Kubernetes workloads --------------------------------------------------------------------------------


def _container(manifest: Manifest) -> Doc:
    (container,) = manifest.doc["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _port_number(container: Doc, port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


@pytest.mark.parametrize("manifest", _of_kind("Deployment"), ids=str)
def test_probes_use_readyz_and_healthz(manifest: Manifest) -> None:
    container = _container(manifest)
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http = container[probe]["httpGet"]
        assert http["path"] == path, f"{manifest}: {probe}"
        assert _port_number(container, http["port"]) == HTTP_PORT, f"{manifest}: {probe}"


@pytest.mark.parametrize("manifest", _of_kind("Deployment"), ids=str)
def test_deployment_is_production_shaped(manifest: Manifest) -> None:
    template = manifest.doc["spec"]["template"]
    pod = template["spec"]
    container = _container(manifest)
    # The processes drain for up to 30 s after SIGTERM, plus the preStop pause.
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pause = int(pre_stop[-1]) if pre_stop[:1] == ["sleep"] else 0
    assert pod["terminationGracePeriodSeconds"] >= 30 + pause, manifest
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{manifest}: {kind}"
    assert pod["securityContext"]["runAsNonRoot"] is True, manifest
    assert container["securityContext"]["readOnlyRootFilesystem"] is True, manifest
    assert container["securityContext"]["allowPrivilegeEscalation"] is False, manifest
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true", manifest
    assert annotations["prometheus.io/path"] == "/metrics", manifest
    assert int(annotations["prometheus.io/port"]) == HTTP_PORT, manifest
    assert _selects(manifest.doc["spec"]["selector"]["matchLabels"], template["metadata"]["labels"])


def test_gateway_runs_two_replicas() -> None:
    assert _deployment_serving("gateway").doc["spec"]["replicas"] >= 2


@pytest.mark.parametrize("manifest", _of_kind("Service"), ids=str)
def test_service_reaches_its_deployment(manifest: Manifest) -> None:
    selector = manifest.doc["spec"]["selector"]
    targets = [
        m
        for m in _of_kind("Deployment")
        if _selects(selector, m.doc["spec"]["template"]["metadata"]["labels"])
    ]
    assert len(targets) == 1, f"{manifest} selects {len(targets)} Deployments"
    container = _container(targets[0])
    for port in manifest.doc["spec"]["ports"]:
        assert _port_number(container, port["targetPort"]) == HTTP_PORT, manifest


@pytest.mark.parametrize("manifest", _of_kind("HorizontalPodAutoscaler"), ids=str)
def test_autoscaler_scales_a_deployment_on_cpu(manifest: Manifest) -> None:
    target = manifest.doc["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment"
    deployment = _one("Deployment", target["name"])
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    # Utilization is measured against the request: without one the autoscaler does nothing.
    assert "cpu" in container["resources"]["requests"], manifest
    assert [m["resource"]["name"] for m in manifest.doc["spec"]["metrics"]] == ["cpu"]
    assert manifest.doc["spec"]["minReplicas"] <= manifest.doc["spec"]["maxReplicas"]
    assert manifest.doc["spec"]["minReplicas"] >= 1


def test_every_service_but_auth_autoscales() -> None:
    """auth runs one replica: it needs little. Every other service, and each channel, scales on CPU."""
    scaled = {m.doc["spec"]["scaleTargetRef"]["name"] for m in _of_kind("HorizontalPodAutoscaler")}
    for role in (*(name for name in SERVICE_NAMES if name != "auth"), *CHANNEL_ROLES):
        assert _deployment_serving(role).name in scaled, role


def test_every_deployment_has_a_disruption_budget() -> None:
    budgets = [m.doc["spec"]["selector"]["matchLabels"] for m in _of_kind("PodDisruptionBudget")]
    for manifest in _of_kind("Deployment"):
        labels = manifest.doc["spec"]["template"]["metadata"]["labels"]
        matching = [b for b in budgets if _selects(b, labels)]
        assert len(matching) == 1, f"{manifest}: {len(matching)} PodDisruptionBudgets"


# -- moderation lexicon ----------------------------------------------------------------------------------


LEXICON_CONFIGMAP = "igot-moderation-lexicon"


def test_moderation_reads_its_lexicon_from_the_configmap(tmp_path: Path) -> None:
    """The lexicon ConfigMap is mounted as a directory where IGOT_MODERATION_LEXICON points (a subPath
    mount is never updated, so a changed list would not reach running pods), and the list it ships loads
    as the service loads it and holds at least the words of the image's own list."""
    manifest = _deployment_serving("moderation")
    container = _container(manifest)
    env = {item["name"]: str(item.get("value", "")) for item in container.get("env", [])}
    path = PurePosixPath(env["IGOT_MODERATION_LEXICON"])
    (mount,) = [m for m in container["volumeMounts"] if PurePosixPath(m["mountPath"]) == path.parent]
    assert "subPath" not in mount and mount.get("readOnly") is True, mount
    volumes = {v["name"]: v for v in manifest.doc["spec"]["template"]["spec"]["volumes"]}
    source = volumes[mount["name"]]["configMap"]
    assert source["name"] == LEXICON_CONFIGMAP and "items" not in source, source
    data = _one("ConfigMap", LEXICON_CONFIGMAP)["data"]
    assert set(data) == {path.name}
    shipped = tmp_path / path.name
    shipped.write_text(data[path.name], encoding="utf-8")
    deployed = Lexicon.load(shipped)
    sample = [line.split("\t")[0] for line in DEFAULT_LEXICON_TEXT.splitlines() if "\t" in line]
    assert sample
    for word in sample:
        assert deployed.first_hit(word) is not None, f"{word!r} of the image's list is not in the ConfigMap"


# -- routing ---------------------------------------------------------------------------------------------


def _ingress_route(path: str) -> str:
    """The Service the Ingress sends `path` to: the longest matching Prefix (Kubernetes' rule)."""
    best: tuple[int, str] | None = None
    for manifest in _of_kind("Ingress"):
        for rule in manifest.doc["spec"]["rules"]:
            for entry in rule["http"]["paths"]:
                assert entry["pathType"] == "Prefix", entry
                prefix = entry["path"].rstrip("/")
                if (path == prefix or path.startswith(prefix + "/")) and (
                    best is None or len(prefix) > best[0]
                ):
                    best = (len(prefix), entry["backend"]["service"]["name"])
    assert best is not None, f"the Ingress routes nowhere for {path}"
    return best[1]


ROUTES = [
    ("/open/user/login", "auth"),
    ("/open/user/", "auth"),
    ("/open/link/temporary", "auth"),
    ("/open/jpoint/plans", "auth"),
    ("/client/version/", "auth"),
    ("/signin/abc", "auth"),
    ("/message/push", "gateway"),
    ("/push", "gateway"),
    ("/0123456789abcdef01234567.send", "gateway"),
    ("/open/push-way/", "auth"),
    ("/open/push-way", "auth"),
    ("/open/push-way/webhook/bind", "auth"),
    ("/verify/abc", "auth"),
    ("/unsubscribe/abc", "auth"),
    ("/open/message/", "gateway"),
    ("/open/message/abc", "gateway"),
    ("/0123456789abcdef01234567/hello", "gateway"),
    ("/", "gateway"),
]


# Served by every process alike; the proxies may send them anywhere.
EVERYWHERE = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"})


def _sample_path(canonical: str) -> str:
    """A concrete path a route matches: a push key where the route takes one, `x` elsewhere."""
    return re.sub(r"\{key[^}]*\}", "0123456789abcdef01234567", re.sub(r"\{(?!key)[^}]*\}", "x", canonical))


def _served_paths() -> list[tuple[str, str]]:
    """Each HTTP route of the services that serve HTTP, as a sample path and the service serving it."""
    served = []
    for service in ("auth", "gateway"):
        app = create_app(Settings(), mode="distributed", services=[service])
        for resource in app.router.resources():
            if resource.canonical not in EVERYWHERE:
                served.append((_sample_path(resource.canonical), service))
    return sorted(set(served))


@pytest.mark.parametrize(("path", "service"), ROUTES)
def test_ingress_routes_paths_to_the_right_service(path: str, service: str) -> None:
    assert _service_runs(_ingress_route(path)) == [["serve", service]]


def test_the_proxies_send_every_route_to_the_service_that_serves_it() -> None:
    """A route added to a service is reachable through the one address of compose and Kubernetes."""
    compose = _compose()["services"]
    for path, service in _served_paths():
        assert _service_runs(_ingress_route(path)) == [["serve", service]], f"Ingress: {path}"
        host = _caddy_route(path).rsplit(":", 1)[0]
        assert _compose_argv(compose[host]) == ["serve", service], f"Caddyfile: {path}"


def _caddy_blocks(text: str) -> list[tuple[list[str], Any]]:
    """A Caddyfile as nested (tokens, children) blocks; a line without a block has children None."""
    tokens = re.findall(r"\{|\}|\n|[^\s{}]+", re.sub(r"#[^\n]*", "", text))
    position = 0

    def block() -> list[tuple[list[str], Any]]:
        nonlocal position
        entries: list[tuple[list[str], Any]] = []
        words: list[str] = []
        while position < len(tokens):
            token = tokens[position]
            position += 1
            if token == "{":
                entries.append((words, block()))
                words = []
            elif token == "}":
                break
            elif token == "\n":
                if words:
                    entries.append((words, None))
                words = []
            else:
                words.append(token)
        if words:
            entries.append((words, None))
        return entries

    return block()


def _caddy_route(path: str) -> str:
    """The upstream the compose proxy sends `path` to. Caddy tries `handle` blocks with a path matcher
    most specific first, the block without a matcher last."""
    sites = [(words, body) for words, body in _caddy_blocks(CADDYFILE.read_text()) if words]
    assert len(sites) == 1, "expected one site block"
    (address,), body = sites[0]
    assert address == f":{HTTP_PORT}"
    candidates: list[tuple[int, str]] = []
    for words, children in body:
        if words[0] != "handle":
            continue
        matcher = words[1] if len(words) > 1 else "*"
        (upstream,) = [w[1] for w, _ in children if w[0] == "reverse_proxy"]
        prefix = matcher.removesuffix("*")
        if matcher == "*" or path == matcher or (matcher.endswith("*") and path.startswith(prefix)):
            candidates.append((len(prefix), upstream))
    assert candidates, f"the proxy routes nowhere for {path}"
    return max(candidates)[1]


@pytest.mark.parametrize(("path", "service"), ROUTES)
def test_compose_proxy_routes_paths_to_the_right_service(path: str, service: str) -> None:
    host, port = _caddy_route(path).rsplit(":", 1)
    assert int(port) == HTTP_PORT
    assert _compose_argv(_compose()["services"][host]) == ["serve", service]


def test_compose_proxy_is_the_one_published_address() -> None:
    services = _compose()["services"]
    proxy = services["proxy"]
    assert any(str(port).endswith(f":{HTTP_PORT}") for port in proxy["ports"])
    assert f"./{CADDYFILE.relative_to(ROOT)}:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    for name in (*SERVICE_NAMES, *CHANNEL_ROLES):
        assert "ports" not in services[name], f"compose {name}: reach it through the proxy"


# -- image -----------------------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _dockerfile_env() -> dict[str, str]:
    pairs = [arg for op, arg in _dockerfile_instructions() if op == "ENV"]
    return dict(pair.split("=", 1) for arg in pairs for pair in arg.split())


def test_image_runs_igot_as_a_non_root_user() -> None:
    final = _dockerfile_instructions()
    last_from = max(i for i, (op, _) in enumerate(final) if op == "FROM")
    final = final[last_from:]
    values = {op: arg for op, arg in final}
    assert values["ENTRYPOINT"] == '["igot"]'
    assert values["CMD"] == '["standalone"]'
    assert values["EXPOSE"] == str(HTTP_PORT)
    user = values["USER"].split(":")[0]
    assert user not in ("root", "0"), "the image runs as root"
    assert "/healthz" in values["HEALTHCHECK"]
    for _, pod in _pod_specs():
        assert pod["securityContext"]["runAsUser"] == int(user)


def test_image_holds_every_package() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    (include,) = re.findall(r"include = \[([^\]]*)\]", pyproject)
    packages = [name.strip().strip('"').rstrip("*") for name in include.split(",") if name.strip()]
    copied = {arg.split()[0] for op, arg in _dockerfile_instructions() if op == "COPY"}
    assert "pyproject.toml" in copied
    for package in packages:
        assert package in copied, f"the image lacks the {package} package"


def test_build_context_leaves_out_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".cache", "data"} <= ignored
