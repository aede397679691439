"""``make demo``: the whole pipeline on this machine, stopped cleanly by Ctrl-C.

Starts the local Kafka broker (unless one answers already), creates the topics,
starts ``sentiment-consumer`` with the default model and ``sentiment-dashboard``,
waits until both answer, then replays labelled reviews with ``sentiment-producer``
at a gentle rate, looping. Every part writes its log to a file in ``--log-dir``;
when a part exits on its own the demo shows the end of its log and stops the
rest. Ctrl-C or SIGTERM stops the producer, the consumer and the dashboard (each
in its own process group, so nothing they started survives) and the broker
only if the demo started it.

Replayed data: ``--data`` or ``DATA=...``, else the labelled test sample in the
repository's ``data/`` (real Amazon reviews the model never trained on, so the
live accuracy is near the model's measured one); ``--examples`` replays a short
built-in list instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from confluent_kafka import KafkaException

from common import cli, config, paths
from common.broker_check import check_client_config
from localkafka import BrokerError, LocalKafka, create_topics
from localkafka.processes import Child, wait_until

PROJECT_ROOT = paths.PROJECT_ROOT
PROMETHEUS_DIR = PROJECT_ROOT / "deploy" / "prometheus"
OPTIONS = (
    "bootstrap_servers",
    "input_topic",
    "output_topic",
    "dlq_topic",
    "group_id",
    "partitions",
    "model_dir",
    "metrics_port",
    "dashboard_host",
    "dashboard_port",
    "dashboard_group_id",
)
LOCAL_HOSTS = ("127.0.0.1", "localhost")

EXAMPLE_REVIEWS = [
    ("Great blender: crushes ice in seconds and is easy to clean. Worth every penny.", "positive"),
    ("Stopped working after two weeks and the seller never answered my emails.", "negative"),
    ("The book kept me reading all night; the characters feel like old friends.", "positive"),
    ("Cheap plastic, the lid cracked the first time I used it. Returned it.", "negative"),
    ("Sound quality is superb for the price and the battery lasts all day.", "positive"),
    ("Instructions were missing and two screws were stripped. Very disappointed.", "negative"),
    ("My kids love this game; we play it every weekend.", "positive"),
    ("Arrived late, box crushed, and the colour is nothing like the picture.", "negative"),
    ("Comfortable shoes, true to size, and they still look new after months.", "positive"),
    ("Boring and far too long. I gave up halfway through.", "negative"),
    ("Does exactly what it says. Simple, sturdy, no complaints.", "positive"),
    ("Waste of money: the charger overheats and the cable frays.", "negative"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localkafka.demo",
        description="Run the whole pipeline locally (Kafka, consumer, dashboard, a replay of labelled reviews) "
        "until Ctrl-C; every part's log goes to --log-dir.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"review file to replay [env DATA; else {paths.TEST_SAMPLE.relative_to(PROJECT_ROOT)}]",
    )
    source.add_argument(
        "--examples",
        action="store_true",
        default=_env_flag("DEMO_EXAMPLES"),
        help="replay a dozen built-in reviews instead of real data [env DEMO_EXAMPLES=1]",
    )
    parser.add_argument("--rate", type=float, default=20.0, help="reviews per second replayed [20]")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop by itself this many seconds after the replay starts [run until Ctrl-C]",
    )
    parser.add_argument(
        "--log-dir", type=Path, default=Path("demo-logs"), help="where each part's log goes [demo-logs]"
    )
    parser.add_argument(
        "--prometheus-port",
        type=int,
        default=9090,
        help="port of a local Prometheus scraping the demo, when `prometheus` is installed [9090; 0 = none]",
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=180.0, help="seconds the consumer and dashboard may take to answer [180]"
    )
    config.add_options(parser, OPTIONS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = config.resolve(OPTIONS, args)
    for client in ("consumer", "producer"):  # what its parts build; each would refuse the same properties later
        check_client_config(settings.kafka_config(), client, settings.kafka_sources)
    if args.rate <= 0:
        raise config.ConfigError(f"--rate={args.rate}: must be a positive number of reviews per second")
    data, fmt = _choose_data(args.data or _env_path("DATA"), args.examples, args.log_dir)
    commands = {name: _command(name) for name in ("sentiment-consumer", "sentiment-dashboard", "sentiment-producer")}
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal closed; the parts must go too
        signal.signal(sig, lambda *_: stop.set())
    demo = Demo(settings, args.log_dir, stop)
    try:
        return demo.run(commands, data, fmt, args.rate, args.duration, args.ready_timeout, args.prometheus_port)
    finally:
        demo.shutdown()


class Demo:
    """The parts this run started, so that it stops exactly those."""

    def __init__(self, settings: config.Settings, log_dir: Path, stop: threading.Event) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.stop = stop
        self.children: list[Child] = []
        self.broker: LocalKafka | None = None  # set only when this run started it
        self.env = _child_env(settings)
        self.prometheus_url: str | None = None

    def run(
        self,
        commands: Mapping[str, str],
        data: Path,
        fmt: str,
        rate: float,
        duration: float | None,
        ready_timeout: float,
        prometheus_port: int,
    ) -> int:
        s = self.settings
        taken = [
            f"{flag} {port}"
            for flag, port in (("--metrics-port", s.metrics_port), ("--dashboard-port", s.dashboard_port))
            if port and not _port_free(port)
        ]
        if taken:
            print(
                f"error: already in use (another demo?): {', '.join(taken)}; stop it or choose other ports",
                file=sys.stderr,
            )
            return 1
        if not self._start_kafka():
            return 1
        if self.stop.is_set():  # Ctrl-C while the broker was starting
            return 0
        consumer = self._start("consumer", [commands["sentiment-consumer"]])
        dashboard = self._start("dashboard", [commands["sentiment-dashboard"]])
        checks: list[Callable[[], bool]] = [lambda: _answers(self.dashboard_url)]
        if s.metrics_port:
            checks.append(lambda: _answers(f"http://127.0.0.1:{s.metrics_port}/readyz"))
        print(f"waiting for the consumer and the dashboard (up to {ready_timeout:.0f} s) ...", flush=True)
        try:
            failed = wait_until(
                lambda: self.stop.is_set() or all(check() for check in checks), ready_timeout, [consumer, dashboard]
            )
        except TimeoutError:
            print(
                f"error: the consumer and dashboard did not answer within {ready_timeout:.0f} s; "
                f"see {consumer.log_path} and {dashboard.log_path}",
                file=sys.stderr,
            )
            return 1
        if failed is not None:
            return self._report_exit(failed)
        if self.stop.is_set():
            return 0
        self.prometheus_url = self._start_prometheus(prometheus_port)
        producer_argv = [
            commands["sentiment-producer"],
            str(data),
            "--loop",
            "--with-labels",
            "--rate",
            f"{rate:g}",
            "--format",
            fmt,
        ]
        self._start("producer", producer_argv)
        self._print_banner(data, rate)
        deadline = None if duration is None else time.monotonic() + duration
        while not self.stop.is_set() and (deadline is None or time.monotonic() < deadline):
            for child in self.children:
                if child.exit_code() is not None:
                    return self._report_exit(child)
            self.stop.wait(0.5)
        return 0

    @property
    def dashboard_url(self) -> str:
        host = self.settings.dashboard_host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{shown}:{self.settings.dashboard_port}/"

    def _start_kafka(self) -> bool:
        s = self.settings
        host, _, port = s.bootstrap_servers.rpartition(":")
        try:
            if host in LOCAL_HOSTS and port.isdigit() and "," not in s.bootstrap_servers:
                broker = LocalKafka(port=int(port), controller_port=int(port) + 1)
                print(
                    f"starting Kafka on {broker.bootstrap} (the first run fetches its jars with Maven) ...", flush=True
                )
                if broker.start():
                    self.broker = broker
                    print(f"Kafka started; its log: {broker.log_file}")
                else:
                    print(f"Kafka already runs on {broker.bootstrap}; the demo leaves it running")
            outcome = create_topics(s.kafka_config(), [s.input_topic, s.output_topic, s.dlq_topic], s.partitions)
        except (BrokerError, KafkaException, TimeoutError) as exc:
            print(f"error: Kafka at {s.bootstrap_servers} is not usable: {exc}", file=sys.stderr)
            return False
        print("topics: " + ", ".join(f"{name} ({state})" for name, state in outcome.items()))
        return True

    def _start_prometheus(self, port: int) -> str | None:
        """Debian's Prometheus on the demo's targets with the
        project's alert rules, when installed and ``port`` free.
        """
        binary = shutil.which("prometheus")
        if not port or binary is None:
            if port:
                print("Prometheus is not installed (apt-get install prometheus): no local Prometheus this time")
            return None
        if not _port_free(port):
            print(f"port {port} is taken: no local Prometheus this time (--prometheus-port to choose another)")
            return None
        folder = (self.log_dir / "prometheus").resolve()
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "prometheus.yml"
        config.write_text(prometheus_config(self.settings.metrics_port, self.settings.dashboard_port))
        self._start(
            "prometheus",
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
        )
        return f"http://127.0.0.1:{port}/alerts"

    def _start(self, name: str, argv: list[str]) -> Child:
        child = Child.start(name, argv, self.log_dir / f"{name}.log", env=self.env, cwd=PROJECT_ROOT)
        self.children.append(child)
        print(f"started {name} (pid {child.pid}); log: {child.log_path}", flush=True)
        return child

    def _report_exit(self, child: Child) -> int:
        print(
            f"error: the {child.name} exited on its own with code {child.exit_code()}; "
            f"the end of {child.log_path}:\n{child.log_tail()}",
            file=sys.stderr,
        )
        return 1

    def _print_banner(self, data: Path, rate: float) -> None:
        s = self.settings
        metrics = f"http://127.0.0.1:{s.metrics_port}/metrics" if s.metrics_port else "(disabled: --metrics-port 0)"
        logs = ", ".join(str(child.log_path) for child in self.children)
        print(
            "\n".join(
                [
                    "",
                    "The demo runs:",
                    f"  dashboard   {self.dashboard_url}",
                    f"  metrics     {metrics}   (consumer; also /healthz and /readyz)",
                    *(
                        [f"  prometheus  {self.prometheus_url}   (rules: {PROMETHEUS_DIR / 'alerts.yml'})"]
                        if self.prometheus_url
                        else []
                    ),
                    f"  replaying   {data} at {rate:g} reviews/s with true labels, looping, to topic {s.input_topic!r}",
                    f"  logs        {logs}",
                    "Press Ctrl-C to stop everything.",
                    "",
                ]
            ),
            flush=True,
        )

    def shutdown(self) -> None:
        """Stop what this run started, newest first; the broker last and only if this run started it."""
        for child in reversed(self.children):
            code = child.stop()
            print(f"stopped {child.name} (exit code {code})", flush=True)
        self.children.clear()
        if self.broker is not None:
            self.broker.stop()
            print(f"stopped Kafka on {self.broker.bootstrap}", flush=True)
            self.broker = None


def prometheus_config(metrics_port: int, dashboard_port: int) -> str:
    """deploy/prometheus/prometheus.local.yml aimed at these ports, its rule file by absolute path."""
    text = (PROMETHEUS_DIR / "prometheus.local.yml").read_text()
    replacements = {
        f'"127.0.0.1:{config.OPTIONS["metrics_port"].default}"': f'"127.0.0.1:{metrics_port}"',
        f'"127.0.0.1:{config.OPTIONS["dashboard_port"].default}"': f'"127.0.0.1:{dashboard_port}"',
        "\n  - alerts.yml\n": f"\n  - {PROMETHEUS_DIR / 'alerts.yml'}\n",
    }
    for old, new in replacements.items():
        if old not in text:
            raise ValueError(f"{PROMETHEUS_DIR / 'prometheus.local.yml'} no longer contains {old.strip()}")
        text = text.replace(old, new)
    return text


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _choose_data(given: Path | None, examples: bool, log_dir: Path) -> tuple[Path, str]:
    """(file, format): the given file, the built-in reviews (written
    to ``log_dir``) when asked, else the test sample.
    """
    if given is not None:
        if not given.is_file():
            raise config.ConfigError(f"DATA={given}: no such file")
        return given, "auto"
    if not examples:
        if not paths.TEST_SAMPLE.is_file():
            raise config.ConfigError(f"{paths.TEST_SAMPLE}: missing from this checkout (git checkout -- data/)")
        return paths.TEST_SAMPLE, "fasttext"
    log_dir.mkdir(parents=True, exist_ok=True)
    written = log_dir / "example-reviews.jsonl"
    written.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in EXAMPLE_REVIEWS))
    return written, "jsonl"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value) if value else None


def _command(name: str) -> str:
    """The console script next to this Python (the virtualenv's), else one on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise config.ConfigError(f"{name} is not installed: run `make install` (pip install -e .)")
    return found


def _child_env(settings: config.Settings) -> dict[str, str]:
    """The environment every part gets: the demo's resolved settings as SENTIMENT_* variables."""
    env = dict(os.environ)
    for name, value in settings.values.items():
        env[config.OPTIONS[name].env] = str(value)
    for prop, value in settings.kafka.items():
        env[config.KAFKA_ENV_PREFIX + prop.upper().replace(".", "_")] = value
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def entry() -> None:
    cli.run(main)


if __name__ == "__main__":
    entry()
