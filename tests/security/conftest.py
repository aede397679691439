"""A secure broker of the tests' own (SASL_SSL, SCRAM users, ACLs), started once through the real CLI.

It listens on its own free ports, never the shared 9092 broker's, and its
data folder (passwords, CA, keystore) is removed when the session ends.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from common import config
from localkafka import create_topics
from localkafka.secure import PipelineNames, SecureLocalKafka, apply_acls, pipeline_acls, transactional_id_prefix

CLIENT_OPTIONS = ("bootstrap_servers",)


@dataclass(frozen=True)
class SecurePipeline:
    """The running secure broker and the names its ACLs were granted for."""

    broker: SecureLocalKafka
    input_topic: str
    output_topic: str
    dlq_topic: str
    group_id: str
    dashboard_group_id: str

    def env(self, user: str) -> dict[str, str]:
        """The SENTIMENT_* variables `sentiment-kafka print-env USER` prints, as a mapping."""
        return dict(line.split("=", 1) for line in sentiment_kafka(self.broker.port, "print-env", user).splitlines())

    def config(self, user: str, **overrides: Any) -> dict[str, Any]:
        """librdkafka settings as every service resolves them from that environment (the pass-through)."""
        return config.resolve(CLIENT_OPTIONS, environ=self.env(user)).kafka_config(**overrides)

    def service_env(self, user: str, **settings: str) -> dict[str, str]:
        """A service's whole environment: none of the caller's SENTIMENT_* settings, ``user``'s
        connection lines, this pipeline's topic and group names, then ``settings`` (name -> value)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(config.ENV_PREFIX)}
        env.update(self.env(user))
        names = {
            "input_topic": self.input_topic,
            "output_topic": self.output_topic,
            "dlq_topic": self.dlq_topic,
            "group_id": self.group_id,
            "dashboard_group_id": self.dashboard_group_id,
            **settings,
        }
        env.update({config.OPTIONS[name].env: value for name, value in names.items()})
        return env

    def names(self) -> PipelineNames:
        return PipelineNames(
            self.input_topic,
            self.output_topic,
            self.dlq_topic,
            self.group_id,
            self.dashboard_group_id,
            transactional_id_prefix(self.group_id),
        )


def sentiment_kafka(port: int, *args: str) -> str:
    """Run the real ``sentiment-kafka`` command against the test broker; its stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "localkafka", "--port", str(port), *args], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, f"sentiment-kafka {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _free_port_pair() -> int:
    """A port P with P and P+1 free (the CLI puts the controller on port+1)."""
    for _ in range(100):
        port = random.randint(20_000, 60_000)
        if all(_free(p) for p in (port, port + 1)):
            return port
    raise RuntimeError("no two adjacent free ports found")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def secure_pipeline() -> Iterator[SecurePipeline]:
    suffix = uuid.uuid4().hex[:8]
    port = int(os.environ.get("SENTIMENT_TEST_SECURE_PORT", "0")) or _free_port_pair()
    pipeline = SecurePipeline(
        broker=SecureLocalKafka(port=port, controller_port=port + 1),
        input_topic=f"sec-reviews-{suffix}",
        output_topic=f"sec-sentiment-{suffix}",
        dlq_topic=f"sec-dlq-{suffix}",
        group_id=f"sec-consumer-{suffix}",
        dashboard_group_id=f"sec-dashboard-{suffix}",
    )
    try:
        sentiment_kafka(
            port,
            "start",
            "--secure",
            "--partitions",
            "2",
            "--input-topic",
            pipeline.input_topic,
            "--output-topic",
            pipeline.output_topic,
            "--dlq-topic",
            pipeline.dlq_topic,
            "--group-id",
            pipeline.group_id,
            "--dashboard-group-id",
            pipeline.dashboard_group_id,
        )
        yield pipeline
    finally:
        pipeline.broker.stop()
        shutil.rmtree(pipeline.broker.instance, ignore_errors=True)


@pytest.fixture
def new_pipeline(secure_pipeline: SecurePipeline) -> Callable[..., SecurePipeline]:
    """A test's own topics and groups on the secure broker, with the pipeline's ACLs granted by the admin user."""

    def make(partitions: int = 2) -> SecurePipeline:
        suffix = uuid.uuid4().hex[:8]
        pipeline = replace(
            secure_pipeline,
            input_topic=f"sec-reviews-{suffix}",
            output_topic=f"sec-sentiment-{suffix}",
            dlq_topic=f"sec-dlq-{suffix}",
            group_id=f"sec-consumer-{suffix}",
            dashboard_group_id=f"sec-dashboard-{suffix}",
        )
        admin = pipeline.broker.client_config()
        create_topics(admin, [pipeline.input_topic, pipeline.output_topic, pipeline.dlq_topic], partitions)
        apply_acls(admin, pipeline_acls(pipeline.names()))
        return pipeline

    return make
