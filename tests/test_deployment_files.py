"""The Docker deployment files, checked without Docker: docker-compose.yml, Dockerfile, Prometheus and Grafana.

There is no Docker engine where the suite runs, so nothing here starts a container. Instead:

- docker-compose.yml is validated against the Compose Specification's JSON schema, vendored as
  tests/fixtures/compose-spec.json (provenance in tests/fixtures/README.md, pinned by sha256), and a few
  mutated copies must fail that validation;
- the parts must fit together: every service named exists, host ports are unique, both workers are one
  consumer group with their own data volumes, their canonical URLs are their service names, Prometheus
  scrapes exactly those URLs, Grafana's provisioned datasource is the one the dashboard's panels use;
- every PromQL expression of the dashboard names only series that app/metrics.py exports (parsed from its
  source text: importing app.* would build the Faust app) and groups only by labels those metrics have.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shlex
import tomllib
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_SCHEMA = FIXTURES / "compose-spec.json"
# check-jsonschema 0.39.0 (PyPI), check_jsonschema/builtin_schemas/vendor/compose-spec.json;
# the same value as that wheel's check_jsonschema/builtin_schemas/vendor/sha256/compose-spec.sha256.
COMPOSE_SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"
PROMETHEUS_FILE = ROOT / "monitoring" / "prometheus" / "prometheus.yml"
GRAFANA = ROOT / "monitoring" / "grafana"
DASHBOARD_FILE = GRAFANA / "dashboards" / "interview-streams.json"
METRICS_SOURCE = ROOT / "app" / "metrics.py"

WORKERS = ("worker-1", "worker-2")
WORKER_DATA_DIR = "/data"
TARGET_LABELS = {"instance", "job", "worker"}  # added by Prometheus / prometheus.yml, not by the app


# --- loading -------------------------------------------------------------------------------------------


class StrictLoader(yaml.SafeLoader):
    """yaml.safe_load that refuses duplicate keys (PyYAML keeps the last one; Compose and Prometheus refuse)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        keys = [key.value for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"]
        duplicates = sorted({str(key) for key in keys if keys.count(key) > 1})
        if duplicates:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}", node.start_mark)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=StrictLoader)  # StrictLoader is a SafeLoader


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = load_yaml(COMPOSE_FILE)
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


@pytest.fixture(scope="module")
def compose_validator() -> Draft202012Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(validator: Draft202012Validator, document: Any) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(document)]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (Compose allows a mapping or a list of KEY=VALUE)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {key: value for key, _, value in (str(item).partition("=") for item in env)}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def command_args(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def option(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


@dataclass(frozen=True)
class Port:
    host: int
    container: int
    protocol: str


def published_ports(service: dict[str, Any]) -> Iterator[Port]:
    """Host and container port of every published port (short syntax without ranges, or long syntax)."""
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            yield Port(int(entry["published"]), int(entry["target"]), str(entry.get("protocol", "tcp")))
            continue
        spec, _, protocol = str(entry).partition("/")
        parts = spec.split(":")
        assert len(parts) in (2, 3), f"publish ports as [ip:]host:container, not {entry!r}"
        yield Port(int(parts[-2]), int(parts[-1]), protocol or "tcp")


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    kind: str  # "bind" or "volume"


def mounts(service: dict[str, Any]) -> list[Mount]:
    found = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            found.append(Mount(str(entry.get("source", "")), str(entry["target"]), str(entry["type"])))
            continue
        source, target = str(entry).split(":")[:2]
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        found.append(Mount(source, target, kind))
    return found


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on") or {}
    return {name: {} for name in deps} if isinstance(deps, list) else deps


def healthcheck_text(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test", [])
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


# --- the Compose Specification -------------------------------------------------------------------------


def test_vendored_schema_is_the_pinned_one() -> None:
    assert hashlib.sha256(COMPOSE_SCHEMA.read_bytes()).hexdigest() == COMPOSE_SCHEMA_SHA256
    assert COMPOSE_SCHEMA_SHA256 in (FIXTURES / "README.md").read_text(encoding="utf-8")


def test_compose_file_matches_the_compose_specification(
    compose: dict[str, Any], compose_validator: Draft202012Validator
) -> None:
    assert schema_errors(compose_validator, compose) == []


def _unknown_service_key(document: dict[str, Any]) -> None:
    document["services"]["worker-1"]["web_port"] = 6066


def _unknown_top_level_key(document: dict[str, Any]) -> None:
    document["brokers"] = {"kafka": {}}


def _bad_depends_on_condition(document: dict[str, Any]) -> None:
    document["services"]["worker-2"]["depends_on"]["kafka"]["condition"] = "service_ready"


def _ports_not_a_list(document: dict[str, Any]) -> None:
    document["services"]["prometheus"]["ports"] = {"9090": 9090}


def _healthcheck_typo(document: dict[str, Any]) -> None:
    document["services"]["kafka"]["healthcheck"]["intervall"] = "10s"


@pytest.mark.parametrize(
    "mutate",
    [_unknown_service_key, _unknown_top_level_key, _bad_depends_on_condition, _ports_not_a_list, _healthcheck_typo],
)
def test_schema_rejects_an_invalid_compose_file(
    compose: dict[str, Any], compose_validator: Draft202012Validator, mutate: Any
) -> None:
    broken = copy.deepcopy(compose)
    mutate(broken)
    assert schema_errors(compose_validator, broken), f"{mutate.__name__}: the schema accepted an invalid file"


# --- the compose file fits together --------------------------------------------------------------------


def test_every_referenced_service_exists_and_dependencies_have_conditions(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for dependency, spec in depends_on(service).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert dependency != name
            condition = spec.get("condition")
            assert condition in {"service_started", "service_healthy"}, f"{name} -> {dependency}: {condition}"
            if condition == "service_healthy":
                assert healthcheck_text(services[dependency]), f"{dependency} has no healthcheck to wait for"
    assert depends_on(services["grafana"])["prometheus"]["condition"] == "service_healthy"
    assert set(depends_on(services["prometheus"])) >= set(WORKERS)


def test_published_host_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    seen: dict[tuple[int, str], str] = {}
    for name, service in services.items():
        for port in published_ports(service):
            key = (port.host, port.protocol)
            assert key not in seen, f"host port {port.host}/{port.protocol} published by {seen.get(key)} and {name}"
            seen[key] = name
    assert {port for port, _ in seen} >= {9092, 6066, 6067, 9090, 3000}


def test_images_are_pinned_or_built_here(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "build" in service:
            context = ROOT / service["build"]["context"]
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file(), name
            continue
        image = str(service["image"])
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert tag and tag != "latest", f"{name}: pin the image version ({image})"


def test_bind_mounts_come_from_the_repository(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for mount in mounts(service):
            if mount.kind == "bind":
                assert mount.source.startswith("./"), f"{name}: bind-mount repository files only ({mount.source})"
                assert (ROOT / mount.source).exists(), f"{name}: {mount.source} is not in the repository"


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {mount.source for service in services.values() for mount in mounts(service) if mount.kind == "volume"}
    assert used <= declared, f"undeclared volumes: {used - declared}"


def test_kafka_is_a_single_kraft_node_advertising_its_service_name(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in key for key in env), "KRaft: no ZooKeeper"
    assert env["CLUSTER_ID"]
    node_id = env["KAFKA_NODE_ID"]
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert voters == [f"{node_id}@kafka:9093"]
    listeners = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocols = dict(item.split(":", 1) for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert set(advertised) <= set(listeners) <= set(protocols)
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    for name, address in advertised.items():  # every advertised port is the port that listener binds
        assert address.rsplit(":", 1)[1] == listeners[name].rsplit(":", 1)[1], name
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    # The host reaches the EXTERNAL listener through the published port.
    host_ports = {port.host: port.container for port in published_ports(kafka)}
    assert host_ports == {9092: 9092}
    assert advertised["EXTERNAL"] == "localhost:9092"
    assert any(mount.target == env["KAFKA_LOG_DIRS"] and mount.kind == "volume" for mount in mounts(kafka))


def test_workers_are_one_consumer_group_on_the_broker(services: dict[str, dict[str, Any]]) -> None:
    kafka_env = environment(services["kafka"])
    advertised = {item.split("://", 1)[1] for item in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    worker_names = sorted(name for name in services if name.startswith("worker"))
    assert worker_names == list(WORKERS)
    envs = [environment(services[name]) for name in WORKERS]
    assert len({env["KAFKA_GROUP_ID"] for env in envs}) == 1
    for name, env in zip(WORKERS, envs, strict=True):
        brokers = env["KAFKA_BROKER"].split(",")
        assert brokers and all(broker in advertised and broker.startswith("kafka:") for broker in brokers), name
        assert env["WEBHOOK_ALLOW_PRIVATE"] == "1"
        assert depends_on(services[name])["kafka"]["condition"] == "service_healthy"


def test_each_worker_has_its_own_data_volume(services: dict[str, dict[str, Any]]) -> None:
    volumes = []
    for name in WORKERS:
        data = [mount for mount in mounts(services[name]) if mount.target == WORKER_DATA_DIR]
        assert len(data) == 1 and data[0].kind == "volume", f"{name}: a named volume at {WORKER_DATA_DIR}"
        volumes.append(data[0].source)
    assert len(set(volumes)) == len(WORKERS)
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f'"--datadir", "{WORKER_DATA_DIR}"' in dockerfile


def test_worker_canonical_url_is_its_service_name(services: dict[str, dict[str, Any]]) -> None:
    for name in WORKERS:
        service = services[name]
        args = command_args(service)
        assert option(args, "--web-host") == name, "the canonical URL must reach this worker from the other"
        web_port = int(option(args, "--web-port"))
        assert [port.container for port in published_ports(service)] == [web_port]
        check = healthcheck_text(service)
        assert f"localhost:{web_port}/health/ready" in check, f"{name}: healthcheck on /health/ready"
    host_ports = [port.host for name in WORKERS for port in published_ports(services[name])]
    assert host_ports == [6066, 6067]


def test_dockerfile_starts_a_faust_worker() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    install = re.search(r"^RUN pip install( -e)? \.$", dockerfile, re.MULTILINE)
    assert install, "the image installs the project with pip"
    entrypoint = re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.MULTILINE)
    assert entrypoint
    args = json.loads(entrypoint.group(1))
    assert args[0] == "faust" and option(args, "-A") == "app" and "worker" in args
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    for package in (p for p in packages if "." not in p):  # a subpackage comes with its parent's folder
        assert f"COPY {package} ./{package}" in dockerfile, f"the image needs {package}/ for pip install"
    if not install.group(1):  # a regular install only ships what pyproject.toml lists
        subpackages = {
            ".".join(init.parent.relative_to(ROOT).parts)
            for package in packages
            for init in (ROOT / package).rglob("__init__.py")
        }
        assert subpackages <= set(packages), f"pip install . would leave out {sorted(subpackages - set(packages))}"
        package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
        assert "static/*" in package_data.get("package-data", {}).get("streams_web", []), "the dashboard page ships"


def test_tenants_file_is_mounted_and_valid(services: dict[str, dict[str, Any]]) -> None:
    from domain.tenants import Tenants  # pure pydantic, no Faust

    for name in WORKERS:
        target = environment(services[name])["TENANTS_FILE"]
        sources = [mount.source for mount in mounts(services[name]) if mount.target == target]
        assert len(sources) == 1, f"{name}: TENANTS_FILE {target} is not mounted"
        tenants = Tenants.from_file(ROOT / sources[0])
        assert "dev-tenant" in tenants


# --- Prometheus ----------------------------------------------------------------------------------------


def worker_urls(services: dict[str, dict[str, Any]]) -> set[str]:
    return {f"{name}:{option(command_args(services[name]), '--web-port')}" for name in WORKERS}


def test_prometheus_scrapes_both_workers(services: dict[str, dict[str, Any]]) -> None:
    config = load_yaml(PROMETHEUS_FILE)
    assert isinstance(config["global"]["scrape_interval"], str)
    jobs = config["scrape_configs"]
    names = [job["job_name"] for job in jobs]
    assert len(names) == len(set(names))
    for job in jobs:
        assert set(job) <= {"job_name", "metrics_path", "scheme", "scrape_interval", "static_configs"}, job
        for static in job["static_configs"]:
            assert set(static) <= {"targets", "labels"}
            assert all(re.fullmatch(r"[\w.-]+:\d+", target) for target in static["targets"])
    (workers,) = [job for job in jobs if job["job_name"] == "interview-streams"]
    assert workers.get("metrics_path", "/metrics") == "/metrics"
    targets = {target for static in workers["static_configs"] for target in static["targets"]}
    assert targets == worker_urls(services)

    prometheus = services["prometheus"]
    config_path = next(arg.split("=", 1)[1] for arg in command_args(prometheus) if arg.startswith("--config.file="))
    assert Mount("./monitoring/prometheus/prometheus.yml", config_path, "bind") in mounts(prometheus)


# --- Grafana -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def datasource() -> dict[str, Any]:
    provisioned = [
        entry
        for path in sorted((GRAFANA / "provisioning" / "datasources").glob("*.yml"))
        for entry in load_yaml(path)["datasources"]
    ]
    assert len(provisioned) == 1
    return dict(provisioned[0])


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    document = json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def graph_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            panels.extend(panel.get("panels", []))
        else:
            panels.append(panel)
    return panels


def test_grafana_provisioning_is_mounted_and_consistent(
    services: dict[str, dict[str, Any]], datasource: dict[str, Any]
) -> None:
    grafana = services["grafana"]
    grafana_mounts = {mount.source: mount.target for mount in mounts(grafana)}
    for kind in ("datasources", "dashboards"):
        assert grafana_mounts[f"./monitoring/grafana/provisioning/{kind}"] == f"/etc/grafana/provisioning/{kind}"

    for path in sorted((GRAFANA / "provisioning" / "datasources").glob("*.yml")):
        assert load_yaml(path)["apiVersion"] == 1
    assert datasource["type"] == "prometheus" and datasource["uid"]
    prometheus_port = next(port.container for port in published_ports(services["prometheus"]))
    assert datasource["url"] == f"http://prometheus:{prometheus_port}"

    providers = [
        provider
        for path in sorted((GRAFANA / "provisioning" / "dashboards").glob("*.yml"))
        for provider in load_yaml(path)["providers"]
    ]
    assert len(providers) == 1 and providers[0]["type"] == "file"
    dashboards_dir = providers[0]["options"]["path"]
    assert grafana_mounts["./monitoring/grafana/dashboards"] == dashboards_dir
    home = environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_dir}/{DASHBOARD_FILE.name}"
    assert environment(grafana)["GF_SECURITY_ADMIN_USER"] and environment(grafana)["GF_SECURITY_ADMIN_PASSWORD"]


def test_dashboard_panels_use_the_provisioned_datasource(dashboard: dict[str, Any], datasource: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"]
    panels = graph_panels(dashboard)
    assert panels
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"]) == panel["datasource"], panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_dashboard_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


# --- PromQL against app/metrics.py ---------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str
    labels: frozenset[str]

    def series(self) -> set[str]:
        """The series names prometheus-client exports for this metric."""
        if self.kind == "Counter":
            return {f"{self.name}_total", f"{self.name}_created"}
        if self.kind == "Histogram":
            return {f"{self.name}_bucket", f"{self.name}_count", f"{self.name}_sum", f"{self.name}_created"}
        if self.kind == "Summary":
            return {self.name, f"{self.name}_count", f"{self.name}_sum", f"{self.name}_created"}
        return {self.name}


def _string_list(text: str) -> frozenset[str]:
    return frozenset(re.findall(r'"(\w+)"', text))


def metrics_from_source(source: str) -> dict[str, Metric]:
    """Every metric app/metrics.py defines, read from its text (importing app.* would build the Faust app)."""
    prefix_match = re.search(r'^PREFIX\s*=\s*"(\w+)"', source, re.MULTILINE)
    assert prefix_match, "app/metrics.py: PREFIX = '...' not found"
    prefix = prefix_match.group(1)
    found: dict[str, Metric] = {}
    constructors = re.finditer(
        r'\b(Counter|Gauge|Histogram|Summary)\(\s*PREFIX\s*\+\s*"(\w+)"(.*?)\bregistry\s*=', source, re.DOTALL
    )
    for match in constructors:
        labels = re.search(r'\[\s*((?:"\w+"\s*,?\s*)*)\]', match.group(3))
        name = prefix + match.group(2)
        found[name] = Metric(name, match.group(1), _string_list(labels.group(1)) if labels else frozenset())
    # Custom-collector gauges: NAME_CONSTANT = PREFIX + "..." used as GaugeMetricFamily(NAME_CONSTANT, ...,
    # labels=LABELS_CONSTANT) where LABELS_CONSTANT = [...].
    constants = dict(re.findall(r'^(\w+)\s*=\s*PREFIX\s*\+\s*"(\w+)"', source, re.MULTILINE))
    label_lists = {key: _string_list(value) for key, value in re.findall(r"^(\w+)\s*=\s*(\[[^\]]*\])", source, re.M)}
    for constant, labels_constant in re.findall(
        r"GaugeMetricFamily\(\s*(\w+)\s*,.*?labels\s*=\s*(\w+)", source, re.DOTALL
    ):
        if constant in constants:
            name = prefix + constants[constant]
            found[name] = Metric(name, "Gauge", label_lists.get(labels_constant, frozenset()))
    return found


@pytest.fixture(scope="module")
def app_metrics() -> dict[str, Metric]:
    metrics = metrics_from_source(METRICS_SOURCE.read_text(encoding="utf-8"))
    assert len(metrics) >= 9, f"app/metrics.py: only {sorted(metrics)} found"
    return metrics


def exported_series(metrics: dict[str, Metric]) -> dict[str, Metric]:
    return {series: metric for metric in metrics.values() for series in metric.series()}


PROMQL_FUNCTIONS = {
    "abs", "absent", "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp_max", "clamp_min", "count",
    "count_over_time", "delta", "deriv", "floor", "group", "histogram_quantile", "idelta", "increase", "irate",
    "label_replace", "last_over_time", "max", "max_over_time", "min", "min_over_time", "quantile", "rate",
    "resets", "round", "sort", "sort_desc", "stddev", "sum", "sum_over_time", "topk", "vector",
}  # fmt: skip
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}


def promql_series(expr: str) -> list[str]:
    """The series names an expression selects (label matchers, ranges, strings and groupings removed)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    names = []
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", bare):
        word, call = match.group(1), match.group(2)
        if call:
            assert word in PROMQL_FUNCTIONS, f"unknown PromQL function {word} in {expr}"
        elif word not in PROMQL_KEYWORDS:
            names.append(word)
    return names


def promql_groupings(expr: str) -> set[str]:
    return {
        label.strip()
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
        for label in group.split(",")
        if label.strip()
    }


def test_metric_names_parsed_from_the_source_match_the_readme(app_metrics: dict[str, Metric]) -> None:
    """Every metric README's Metrics table names is one app/metrics.py defines (histograms by their base name)."""
    documented = set(re.findall(r"`(interview_streams_\w+)`", (ROOT / "README.md").read_text(encoding="utf-8")))
    assert documented, "README's Metrics table names no metric"
    known = set(app_metrics) | set(exported_series(app_metrics))
    assert documented <= known, f"README names metrics app/metrics.py does not define: {documented - known}"


def test_every_panel_queries_metrics_the_app_exports(dashboard: dict[str, Any], app_metrics: dict[str, Metric]) -> None:
    series = exported_series(app_metrics)
    for panel in graph_panels(dashboard):
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")"), f"{panel['title']}: unbalanced parentheses"
            names = promql_series(expr)
            assert names, f"{panel['title']}: {expr} selects no metric"
            unknown = [name for name in names if name not in series]
            assert not unknown, f"{panel['title']}: {unknown} are not exported by app/metrics.py"
            used = {series[name] for name in names}
            labels = set().union(*(metric.labels for metric in used)) | TARGET_LABELS
            if "histogram_quantile" in expr:
                assert all(name.endswith("_bucket") for name in names), f"{panel['title']}: quantiles need _bucket"
                assert "le" in promql_groupings(expr), f"{panel['title']}: histogram_quantile needs by (le, ...)"
                labels.add("le")
            assert promql_groupings(expr) <= labels, f"{panel['title']}: groups by {promql_groupings(expr) - labels}"


def test_every_app_metric_has_a_panel(dashboard: dict[str, Any], app_metrics: dict[str, Metric]) -> None:
    series = exported_series(app_metrics)
    shown = {
        series[name].name
        for panel in graph_panels(dashboard)
        for t in panel["targets"]
        for name in promql_series(t["expr"])
    }
    assert set(app_metrics) == shown, f"no panel for {set(app_metrics) - shown}"


def test_yaml_loader_refuses_duplicate_keys_but_allows_merge_keys() -> None:
    merged = yaml.load("base: &b {a: 1, b: 2}\nsvc:\n  <<: *b\n  b: 3\n", Loader=StrictLoader)
    assert merged["svc"] == {"a": 1, "b": 3}
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate keys"):
        yaml.load("services:\n  kafka: {}\n  kafka: {}\n", Loader=StrictLoader)


def test_promql_parsing_helpers() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, step) (rate(x_bucket{step!="a"}[$__rate_interval])))'
    assert promql_series(expr) == ["x_bucket"]
    assert promql_groupings(expr) == {"le", "step"}
    with pytest.raises(AssertionError):
        promql_series("sume(rate(x_total[5m]))")
    source = 'PREFIX = "p_"\nA = Counter(\n    PREFIX + "a",\n    "help (x)",\n    ["l1", "l2"],\n    registry=R,\n)\n'
    assert metrics_from_source(source) == {"p_a": Metric("p_a", "Counter", frozenset({"l1", "l2"}))}
