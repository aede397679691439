"""A real single-node Apache Kafka broker (KRaft) on loopback, built from Maven Central's jars.

No Docker here: the broker's jars are resolved with ``mvn`` into a cache folder,
storage is formatted once, and ``java kafka.Kafka`` runs as broker and
controller in one process. Tests, benchmarks and the demo share it.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from common.paths import PROJECT_ROOT

KAFKA_VERSION = "4.3.1"
SCALA_VERSION = "2.13"
LOG4J_VERSION = "2.25.4"  # the log4j version Kafka itself depends on; adds the slf4j binding
DEFAULT_HOME = PROJECT_ROOT / ".cache" / "kafka"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.sentiment</groupId><artifactId>kafka-broker-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_{scala}</artifactId><version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


class BrokerError(RuntimeError):
    """The broker could not be fetched, formatted, started or stopped; the message says why."""


@dataclass(frozen=True)
class LocalKafka:
    """One local broker: its files live under ``home``, it listens on 127.0.0.1:``port``."""

    home: Path = DEFAULT_HOME
    port: int = 9092
    controller_port: int = 9093
    version: str = KAFKA_VERSION

    @property
    def libs(self) -> Path:
        return self.home / f"kafka_{SCALA_VERSION}-{self.version}" / "libs"

    @property
    def instance(self) -> Path:
        """Data, config, logs and pid of the broker on this port."""
        return self.home / f"broker-{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.instance / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.instance / "logs" / "server.log"

    @property
    def stdout_file(self) -> Path:
        return self.instance / "logs" / "stdout.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client_config(self) -> dict[str, str]:
        """librdkafka settings of an admin client of this broker (the secure profile adds TLS and SASL)."""
        return {"bootstrap.servers": self.bootstrap}

    # -- jars ---------------------------------------------------------------------------------

    def ensure_jars(self) -> Path:
        """Resolve the broker's jars with Maven once; later calls return at once."""
        marker = self.libs / ".complete"
        if marker.exists():
            return self.libs
        if shutil.which("mvn") is None:
            raise BrokerError("Maven ('mvn') is not installed: it fetches Apache Kafka's jars (apt-get install maven)")
        if shutil.which("java") is None:
            raise BrokerError(
                "Java 17+ is not installed: the Kafka broker needs it (apt-get install openjdk-17-jre-headless)"
            )
        work = self.libs.parent
        work.mkdir(parents=True, exist_ok=True)
        pom = work / "pom.xml"
        pom.write_text(_POM.format(scala=SCALA_VERSION, kafka=self.version, log4j=LOG4J_VERSION))
        tmp = work / "libs.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BrokerError(
                f"mvn could not resolve org.apache.kafka:kafka_{SCALA_VERSION}:{self.version} from Maven Central:\n"
                + (proc.stdout + proc.stderr)[-3000:]
            )
        shutil.rmtree(self.libs, ignore_errors=True)
        tmp.rename(self.libs)
        marker.touch()
        return self.libs

    # -- life cycle ---------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The pid of the broker this folder started, if it is still that broker."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        if b"kafka.Kafka" in cmdline and str(self.instance / "server.properties").encode() in cmdline:
            return pid
        return None

    def is_ready(self, timeout: float = 2.0) -> bool:
        """Whether a broker answers metadata requests on our port."""
        if not _port_open(self.port):
            return False
        from common.kafka import make_admin

        try:
            admin = make_admin(self.client_config(), {"socket.timeout.ms": int(timeout * 1000)})
            metadata = admin.list_topics(timeout=timeout)
            return bool(metadata.brokers)
        except Exception:  # noqa: BLE001 - any failure means "not ready yet"
            return False

    def start(self, timeout: float = 90.0) -> bool:
        """Start the broker unless one already answers; return True when this call started it."""
        if self.is_ready():
            return False
        if self.pid() is None and _port_open(self.port):
            raise BrokerError(f"port {self.port} is taken by something that is not a Kafka broker answering metadata")
        process = self._launch() if self.pid() is None else None
        self._wait_ready(timeout, process)
        return True

    def _launch(self) -> subprocess.Popen:
        libs = self.ensure_jars()
        (self.instance / "logs").mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        data = self.instance / "data"
        if not (data / "meta.properties").exists():
            self._format(libs, config)
        log4j = self.instance / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log=self.log_file))
        # Kafka's own default heap (bin/kafka-server-start.sh). With -Xms256m G1 kept the heap at about 355 MB; once the
        # benchmarks had filled its old generation it collected
        # every 3 s, pausing 60-120 ms; at 1 GB, every few minutes.
        heap = os.environ.get("KAFKA_HEAP_OPTS", "-Xms1g -Xmx1g").split()
        cmd = [
            "java",
            *heap,
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.instance / 'logs'}",
            "-cp",
            f"{libs}/*",
            "kafka.Kafka",
            str(config),
        ]
        with open(self.stdout_file, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.instance,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc

    def _write_config(self) -> Path:
        config = self.instance / "server.properties"
        config.write_text("\n".join(self.server_properties()) + "\n")
        return config

    def server_properties(self) -> list[str]:
        """The broker's server.properties lines (the secure profile swaps the listeners)."""
        return [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={self.instance / 'data'}",
            "num.partitions=4",
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=8",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=24",
        ]

    def format_arguments(self) -> list[str]:
        """Extra ``kafka-storage format`` arguments (the secure profile adds its SCRAM users)."""
        return []

    def _format(self, libs: Path, config: Path) -> None:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # "--cluster-id=ID", not "-t ID": a base64 id may start with "-", which argparse reads as an option.
        cmd = [
            "java",
            "-cp",
            f"{libs}/*",
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            "-c",
            str(config),
            *self.format_arguments(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BrokerError("formatting KRaft storage failed:\n" + (proc.stdout + proc.stderr)[-3000:])

    def _wait_ready(self, timeout: float, process: subprocess.Popen | None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_ready():
                return
            exited = process.poll() is not None if process is not None else self.pid() is None
            if exited:
                raise BrokerError("the Kafka broker exited during start-up:\n" + self.log_tail())
            time.sleep(0.5)
        raise BrokerError(
            f"the Kafka broker did not answer metadata requests within {timeout:.0f} s:\n" + self.log_tail()
        )

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the broker this folder started (never another); return True when one was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.stdout_file, self.log_file):
            if path.exists():
                parts.append(f"--- {path} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts) or "(no broker log yet)"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie child counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
