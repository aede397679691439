"""deploy/k8s rendered by the pinned kustomize, checked object by object (no cluster, no CRD schemas here).

Each rendering (the base alone, and the example overlay with every component) must
agree with the code: variables on the configuration surface and read by the
container's command, probes on paths the real services answer, ports and selectors
that meet, resources derived from the measured sizing, a hardened pod, a grace
period longer than the consumer's own shutdown limit, a KEDA ScaledObject on the
consumer's own group and topic, and a PrometheusRule equal to alerts.yml.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import PurePosixPath

import pytest
import yaml

from common.config import KAFKA_ENV_PREFIX, OPTIONS, known_env_names, resolve
from consumer import cli as consumer_cli
from consumer.metrics import ConsumerMetrics, HealthServer
from tests.conftest import require
from tests.deploy.conftest import PROJECT_ROOT, PROMETHEUS_DIR, command_help, http_get

K8S = PROJECT_ROOT / "deploy" / "k8s"
KUSTOMIZE_VERSION = (K8S / "KUSTOMIZE_VERSION").read_text().strip()
KUSTOMIZE = PROJECT_ROOT / ".cache" / "kustomize" / KUSTOMIZE_VERSION / "kustomize"
# make k8s-validate: the checker (deploy/k8s/validate) and the CRDs of the pinned KEDA release.
K8S_VALIDATE = PROJECT_ROOT / ".cache" / "k8s-validate" / "k8s-validate"
KEDA_VERSION = (K8S / "validate" / "KEDA_VERSION").read_text().strip()
KEDA_DIR = PROJECT_ROOT / ".cache" / "k8s-validate" / f"keda-{KEDA_VERSION}"
KEDA_CRDS = [KEDA_DIR / f"keda.sh_{plural}.yaml" for plural in ("scaledobjects", "triggerauthentications")]
KEDA_KAFKA_SCALER = KEDA_DIR / "kafka_scaler.go"  # the pinned release's source: which keys its Kafka trigger reads
RENDERINGS = {"base": K8S / "base", "example": K8S / "overlays" / "example"}
# The Kafka Secrets the user creates on the cluster (README "Running on Kubernetes"); nothing renders them.
USER_SECRETS = {"sentiment-consumer-kafka", "sentiment-dashboard-kafka", "sentiment-kafka-ca"}
# Measured in bench/RESULTS.md (bench_pipeline, --threads 1): reviews one consumer scores per CPU-second.
SCORED_PER_CPU_SECOND = (2300, 2700)
SERVING_PEAK_RSS_MB = 122  # bench/RESULTS.md, model serving: RSS after the first prediction (peak)
# librdkafka's sasl.mechanism -> the KEDA Kafka scaler's "sasl" parameter for the same login.
KEDA_SASL_MODES = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}


class Rendering(list):
    """The objects one kustomization renders, which one it was, and kustomize's output as printed."""

    def __init__(self, name: str, objects: list[dict], text: str) -> None:
        super().__init__(objects)
        self.name = name
        self.text = text


def render(name: str) -> Rendering:
    folder = RENDERINGS[name]
    require(KUSTOMIZE.is_file(), f"kustomize {KUSTOMIZE_VERSION} is not built at {KUSTOMIZE} (make kustomize)")
    result = subprocess.run(
        [str(KUSTOMIZE), "build", "--enable-alpha-plugins", "--enable-exec", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return Rendering(name, [doc for doc in yaml.safe_load_all(result.stdout) if doc], result.stdout)


@pytest.fixture(params=sorted(RENDERINGS), scope="module")
def rendered(request) -> Rendering:
    return render(request.param)


def one_object(objects: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def _workloads(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] in ("StatefulSet", "Deployment")]


def container_of(workload: dict) -> dict:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def _env(objects: list[dict], container: dict) -> dict[str, str | None]:
    """The container's environment: ConfigMap values resolved; values from Secrets or the pod itself as None."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"only ConfigMaps feed envFrom (secrets go key by key): {source}"
        env.update(one_object(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value")
    return env


def _port(container: dict, name_or_number: str | int) -> int:
    if isinstance(name_or_number, int):
        return name_or_number
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == name_or_number]
    return port


def _flag(container: dict, flag: str, command_default: float) -> float:
    args = container.get("args", [])
    return float(args[args.index(flag) + 1]) if flag in args else command_default


def _cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_make_builds_the_pinned_kustomize_where_the_tests_look():
    dry_run = subprocess.run(
        ["make", "-n", "-B", str(KUSTOMIZE.relative_to(PROJECT_ROOT))], capture_output=True, text=True, cwd=PROJECT_ROOT
    )
    assert dry_run.returncode == 0, dry_run.stderr
    assert f"GOBIN={KUSTOMIZE.parent} " in dry_run.stdout
    assert f"go install sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}" in dry_run.stdout


def test_the_pinned_kustomize_renders_both(rendered):
    version = subprocess.run([str(KUSTOMIZE), "version"], capture_output=True, text=True).stdout.strip()
    assert version == KUSTOMIZE_VERSION
    assert {o["kind"] for o in rendered} >= {"ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget", "Deployment"}


def _validate(manifests: str) -> subprocess.CompletedProcess:
    for path in [K8S_VALIDATE, *KEDA_CRDS]:
        require(path.is_file(), f"{path} is missing (make k8s-validate)")
    crds = [arg for path in KEDA_CRDS for arg in ("-crd", str(path))]
    return subprocess.run([str(K8S_VALIDATE), *crds], input=manifests, capture_output=True, text=True, timeout=60)


def test_every_object_passes_the_api_types_or_its_crds_schema(rendered):
    result = _validate(rendered.text)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(lines) == len(rendered) and all(line.startswith("ok ") for line in lines), result.stdout


@pytest.mark.parametrize(
    "kind, path, wrong, expected",
    [
        # readOnlyRootFilesystem belongs in a container's securityContext, not the pod's spec.
        (
            "StatefulSet",
            ("spec", "template", "spec", "readOnlyRootFilesystem"),
            True,
            'unknown field "readOnlyRootFilesystem"',
        ),
        (
            "ScaledObject",
            (
                "spec",
                "advanced",
                "horizontalPodAutoscalerConfig",
                "behavior",
                "scaleDown",
                "stabilisationWindowSeconds",
            ),
            300,
            "fields the CRD does not declare",
        ),
        ("ScaledObject", ("spec", "minReplicaCount"), "one", "must be of type integer"),
    ],
)
def test_the_checker_refuses_what_the_api_server_would(kind, path, wrong, expected):
    (target,) = [o for o in render("example") if o["kind"] == kind]
    node = target
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = wrong
    result = _validate(yaml.safe_dump(target))
    assert result.returncode == 1 and expected in result.stdout, result.stdout


def test_every_variable_is_on_the_configuration_surface_and_read_by_its_command(rendered):
    for workload in _workloads(rendered):
        container = container_of(workload)
        help_text = command_help(container["command"][0])
        for flag in [a for a in container.get("args", []) if a.startswith("--")]:
            assert re.search(rf"(^|\s){re.escape(flag)}\b", help_text), f"{container['command']}: no {flag}"
        for name in _env(rendered, container):
            if name.startswith(KAFKA_ENV_PREFIX):
                assert f"env {KAFKA_ENV_PREFIX}<PROPERTY>" in help_text
                continue
            assert name in known_env_names(), f"{workload['metadata']['name']}: {name} is not a project variable"
            # "[env NAME; default ...]", or "[env NAME]" for an option without a single default
            assert re.search(rf"env {name}[;\]]", help_text), f"{container['command'][0]} does not read {name}"


def test_settings_the_services_share_agree_and_kafka_is_sasl_ssl(rendered):
    consumer = _env(rendered, container_of(one_object(rendered, "StatefulSet", "sentiment-consumer")))
    dashboard = _env(rendered, container_of(one_object(rendered, "Deployment", "sentiment-dashboard")))
    for name in ("SENTIMENT_BOOTSTRAP_SERVERS", "SENTIMENT_OUTPUT_TOPIC", "SENTIMENT_KAFKA_SECURITY_PROTOCOL"):
        assert consumer[name] == dashboard[name], name
    assert consumer["SENTIMENT_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"


def test_secrets_come_from_the_users_secrets_key_by_key(rendered):
    referenced = set()
    for workload in _workloads(rendered):
        spec = workload["spec"]["template"]["spec"]
        container = container_of(workload)
        for item in container.get("env", []):
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                referenced.add(ref["name"])
                assert item["name"] in ("SENTIMENT_KAFKA_SASL_USERNAME", "SENTIMENT_KAFKA_SASL_PASSWORD"), item
        referenced |= {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        # The CA file librdkafka is told about lies in the mounted CA Secret.
        location = PurePosixPath(_env(rendered, container)["SENTIMENT_KAFKA_SSL_CA_LOCATION"] or "")
        mounts = {m["name"]: PurePosixPath(m["mountPath"]) for m in container["volumeMounts"]}
        (ca_volume,) = [v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == "sentiment-kafka-ca"]
        assert location.parent == mounts[ca_volume["name"]]
        assert {"key": "ca.crt", "path": location.name} in ca_volume["secret"]["items"]
    rendered_secrets = {o["metadata"]["name"] for o in rendered if o["kind"] == "Secret"}
    assert referenced - rendered_secrets == USER_SECRETS
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert all(name in readme for name in USER_SECRETS), "README must say which Secrets to create"


def test_probes_ask_paths_the_real_services_answer_on_their_configured_ports(rendered):
    server = HealthServer(ConsumerMetrics(), port=0, host="127.0.0.1").start()
    try:
        consumer = container_of(one_object(rendered, "StatefulSet", "sentiment-consumer"))
        env = _env(rendered, consumer)
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = consumer[probe]["httpGet"]
            assert _port(consumer, get["port"]) == int(env["SENTIMENT_METRICS_PORT"] or "")
            status, _ = http_get(f"http://127.0.0.1:{server.port}{get['path']}")
            assert status in (200, 503), f"consumer {probe} {get['path']}: {status}"  # 503: not ready yet, still served
        assert consumer["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert consumer["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert http_get(f"http://127.0.0.1:{server.port}/readyz")[0] == 503, "an unassigned consumer must not be ready"
    finally:
        server.stop()

    from dashboard.aggregates import LiveStats
    from dashboard.analysis import Limits
    from dashboard.app import create_app

    client = create_app(
        LiveStats(), topic="t", start="latest", scorer=None, model_dir=None, limits=Limits()
    ).server.test_client()
    dashboard = container_of(one_object(rendered, "Deployment", "sentiment-dashboard"))
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = dashboard[probe]["httpGet"]
        assert _port(dashboard, get["port"]) == int(_env(rendered, dashboard)["SENTIMENT_DASHBOARD_PORT"] or "")
        assert client.get(get["path"]).status_code == 200, f"dashboard {probe} {get['path']}"


def test_services_and_pod_monitors_reach_named_ports_on_selected_pods(rendered):
    pods = {w["metadata"]["name"]: w for w in _workloads(rendered)}
    monitors = [o for o in rendered if o["kind"] == "PodMonitor"]
    for selector_owner, port, selector in [
        (s, s["spec"]["ports"][0]["targetPort"], s["spec"]["selector"]) for s in rendered if s["kind"] == "Service"
    ] + [
        (m, e["port"], m["spec"]["selector"]["matchLabels"]) for m in monitors for e in m["spec"]["podMetricsEndpoints"]
    ]:
        chosen = [w for w in pods.values() if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
        assert len(chosen) == 1, f"{selector_owner['kind']}/{selector_owner['metadata']['name']} selects {len(chosen)}"
        assert _port(container_of(chosen[0]), port)
    statefulset = pods["sentiment-consumer"]
    assert one_object(rendered, "Service", statefulset["spec"]["serviceName"])["spec"]["clusterIP"] == "None"


def test_pod_monitors_name_the_jobs_the_alert_rules_watch(rendered):
    monitors = [o for o in rendered if o["kind"] == "PodMonitor"]
    if not monitors:
        assert rendered.name == "base", "the monitoring component is missing"
        return
    rules = (PROMETHEUS_DIR / "alerts.yml").read_text()
    watched = set(re.findall(r'job="([^"]+)"', rules))
    jobs = set()
    for monitor in monitors:
        label = monitor["spec"]["jobLabel"]
        jobs.add(monitor["spec"]["selector"]["matchLabels"][label])
        assert all(e["path"] == "/metrics" for e in monitor["spec"]["podMetricsEndpoints"])
    assert watched and watched <= jobs


def test_pods_run_as_the_images_non_root_user_on_a_read_only_root(rendered):
    dockerfile_user = re.findall(r"^USER\s+(\d+)", (PROJECT_ROOT / "Dockerfile").read_text(), re.M)[-1]
    for workload in _workloads(rendered):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert str(pod["securityContext"]["runAsUser"]) == dockerfile_user
        assert pod["automountServiceAccountToken"] is False
        context = container_of(workload)["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        writable = {m["mountPath"] for m in container_of(workload)["volumeMounts"] if not m.get("readOnly")}
        assert writable == {"/tmp"}, f"{workload['metadata']['name']}: writable {writable}"


def test_consumer_resources_follow_the_measured_sizing(rendered):
    consumer = container_of(one_object(rendered, "StatefulSet", "sentiment-consumer"))
    requests, limits = consumer["resources"]["requests"], consumer["resources"]["limits"]
    cores = _cores(requests["cpu"])
    assert _flag(consumer, "--threads", 0) == cores, "one scoring thread per requested core"
    assert _cores(limits["cpu"]) >= cores and mebibytes(limits["memory"]) >= mebibytes(requests["memory"])
    assert mebibytes(requests["memory"]) >= 2 * SERVING_PEAK_RSS_MB * 1e6 / 2**20, "the model's peak, twice over"
    for workload in _workloads(rendered):
        assert set(container_of(workload)["resources"]) == {"requests", "limits"}


def test_termination_grace_outlasts_the_consumers_own_shutdown_limit(rendered):
    statefulset = one_object(rendered, "StatefulSet", "sentiment-consumer")
    default = consumer_cli.build_parser().parse_args([]).shutdown_timeout
    shutdown = _flag(container_of(statefulset), "--shutdown-timeout", default)
    grace = statefulset["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > shutdown + consumer_cli.SHUTDOWN_WATCHDOG_SLACK_S


def test_disruption_budget_takes_one_consumer_at_a_time(rendered):
    budget = one_object(rendered, "PodDisruptionBudget", "sentiment-consumer")
    labels = one_object(rendered, "StatefulSet", "sentiment-consumer")["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_instance_ids_are_the_pod_names_unique_per_pod(rendered):
    statefulset = one_object(rendered, "StatefulSet", "sentiment-consumer")
    (item,) = [e for e in container_of(statefulset)["env"] if e["name"] == OPTIONS["instance_id"].env]
    assert item["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    scaled = [o for o in rendered if o["kind"] == "ScaledObject"]
    assert "replicas" not in statefulset["spec"], "an apply would reset what the autoscaler set"
    replicas = scaled[0]["spec"]["maxReplicaCount"] if scaled else 1
    # A StatefulSet names its pods <name>-<ordinal>; the consumer takes the variable as its instance id.
    ids = [
        resolve(["instance_id"], environ={item["name"]: f"{statefulset['metadata']['name']}-{i}"}).instance_id
        for i in range(replicas)
    ]
    assert len(set(ids)) == replicas


def test_keda_scales_the_consumer_on_its_own_group_and_topic(rendered):
    scaled = [o for o in rendered if o["kind"] == "ScaledObject"]
    if not scaled:
        assert rendered.name == "base", "the autoscaling component is missing"
        return
    (scaled,) = scaled
    statefulset = one_object(rendered, "StatefulSet", "sentiment-consumer")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("StatefulSet", statefulset["metadata"]["name"])
    consumer = container_of(statefulset)
    env = _env(rendered, consumer)
    settings = resolve(consumer_cli.OPTION_NAMES, environ={k: v for k, v in env.items() if v is not None})
    (kafka,) = [t for t in scaled["spec"]["triggers"] if t["type"] == "kafka"]
    meta = kafka["metadata"]
    assert env[meta["consumerGroupFromEnv"]] == settings.group_id
    assert env[meta["topicFromEnv"]] == settings.input_topic
    assert env[meta["bootstrapServersFromEnv"]] == settings.bootstrap_servers
    assert meta["offsetResetPolicy"] == consumer_cli.service_config(settings).consumer_config()["auto.offset.reset"]
    assert meta["allowIdleConsumers"] == "false"

    # No more consumers than input partitions (a partition has one reader in a group).
    partitions = int(scaled["metadata"]["annotations"]["review-sentiment/input-partitions"])
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= partitions

    # lagThreshold: a backlog of a few seconds of one consumer's work, well above the committed lag a consumer
    # keeping up at full speed shows (it commits once per commit interval).
    per_pod = _cores(consumer["resources"]["requests"]["cpu"]) * SCORED_PER_CPU_SECOND[0]
    threshold = int(meta["lagThreshold"])
    assert 5 <= threshold / per_pod <= 30, f"{threshold / per_pod:.1f} s of one consumer's work"
    assert threshold >= 4 * per_pod * settings.commit_interval_ms / 1000
    (cpu,) = [t for t in scaled["spec"]["triggers"] if t["type"] == "cpu"]
    assert 50 <= int(cpu["metadata"]["value"]) <= 90

    behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 120
    assert behavior["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 120}]

    # KEDA logs in as the consumer does: same Secret and keys, the same SASL mechanism over TLS with the same CA.
    auth = one_object(rendered, "TriggerAuthentication", kafka["authenticationRef"]["name"])
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    by_env = {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in consumer["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs["username"] == by_env["SENTIMENT_KAFKA_SASL_USERNAME"]
    assert refs["password"] == by_env["SENTIMENT_KAFKA_SASL_PASSWORD"]
    assert refs["ca"] == ("sentiment-kafka-ca", "ca.crt")
    assert meta["sasl"] == KEDA_SASL_MODES[env["SENTIMENT_KAFKA_SASL_MECHANISM"] or ""]
    assert meta["tls"] == ("enable" if (env["SENTIMENT_KAFKA_SECURITY_PROTOCOL"] or "").endswith("SSL") else "disable")

    # Every key is one the pinned KEDA's Kafka scaler reads (the CRD leaves trigger metadata free-form).
    metadata_keys, auth_keys = _keda_kafka_keys()
    assert set(meta) <= metadata_keys, f"keys KEDA's Kafka scaler ignores: {set(meta) - metadata_keys}"
    assert set(refs) <= auth_keys, f"parameters KEDA's Kafka scaler ignores: {set(refs) - auth_keys}"


def _keda_kafka_keys() -> tuple[set[str], set[str]]:
    """(trigger metadata keys, authentication parameters) the pinned KEDA release's Kafka scaler reads."""
    require(KEDA_KAFKA_SCALER.is_file(), f"{KEDA_KAFKA_SCALER} is missing (make k8s-validate)")
    source = KEDA_KAFKA_SCALER.read_text()
    constants = dict(re.findall(r'(\w+)\s*=\s*"(\w+)"', source))
    metadata = set(re.findall(r'TriggerMetadata\["(\w+)"\]', source))
    metadata |= {constants[name] for name in re.findall(r"TriggerMetadata\[(\w+)\]", source) if name in constants}
    return metadata, set(re.findall(r'AuthParams\["(\w+)"\]', source))


def test_the_autoscaling_component_assumes_the_partitions_create_topics_makes():
    documents = yaml.safe_load_all((K8S / "components" / "autoscaling" / "scaledobject.yaml").read_text())
    (scaled,) = [d for d in documents if d["kind"] == "ScaledObject"]
    partitions = int(scaled["metadata"]["annotations"]["review-sentiment/input-partitions"])
    assert partitions == OPTIONS["partitions"].default and scaled["spec"]["maxReplicaCount"] <= partitions


def test_the_prometheus_rule_is_alerts_yml(rendered):
    rules = [o for o in rendered if o["kind"] == "PrometheusRule"]
    if rendered.name == "base":
        assert not rules, "the base needs no Prometheus Operator"
        return
    (rule,) = rules
    assert rule["spec"] == yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())


def test_the_example_overlay_uses_every_component_and_serves_the_model_from_a_volume():
    objects = render("example")
    assert {"ScaledObject", "TriggerAuthentication", "PodMonitor", "PrometheusRule"} <= {o["kind"] for o in objects}
    for workload in _workloads(objects):
        container = container_of(workload)
        model_dir = PurePosixPath(_env(objects, container)["SENTIMENT_MODEL_DIR"] or "")
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        claims = {v["name"] for v in workload["spec"]["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v}
        (mount,) = [m for name, m in mounts.items() if name in claims]
        assert model_dir.is_relative_to(mount["mountPath"]) and mount["readOnly"] is True
    assert {o["metadata"].get("namespace") for o in objects} == {"review-sentiment"}
