"""README's exit codes, as every command's user meets them: a refused Kafka property is one line and exit 2
(bad configuration); a broker that does not answer is one line and exit 1 (transient: restart me)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from common.broker_check import check_client_config
from common.config import ConfigError

BIN = Path(sys.executable).parent


def _run(
    command: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    return subprocess.run(
        [str(BIN / command), *args], capture_output=True, text=True, timeout=timeout, env={**environ, **(env or {})}
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed once the block ends: nothing listens there


def _assert_one_error_line(proc: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert proc.returncode == code, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and all(f in last for f in fragments), last


@pytest.mark.parametrize(
    ("command", "args", "env", "named"),
    [
        ("sentiment-producer", ["--text", "x", "-X", "linger.ms=abc"], {}, "-X linger.ms='abc'"),
        ("sentiment-producer", ["--text", "x", "-X", "no.such.property=1"], {}, "-X no.such.property='1'"),
        (
            "sentiment-consumer",
            ["--metrics-port", "0"],
            {"SENTIMENT_KAFKA_NO_SUCH": "1"},
            "SENTIMENT_KAFKA_NO_SUCH='1'",
        ),
        (
            "sentiment-consumer",
            ["--metrics-port", "0"],
            {"SENTIMENT_KAFKA_SESSION_TIMEOUT_MS": "abc"},
            "SENTIMENT_KAFKA_SESSION_TIMEOUT_MS='abc'",
        ),
        ("sentiment-dashboard", ["-X", "fetch.wait.max.ms=soon"], {}, "-X fetch.wait.max.ms='soon'"),
        ("sentiment-kafka", ["create-topics", "-X", "no.such.property=1"], {}, "-X no.such.property='1'"),
    ],
)
def test_a_refused_kafka_property_stops_the_command_with_one_line_naming_it(command, args, env, named):
    # Nothing listens on the bootstrap address: the check must come before any connection attempt.
    proc = _run(command, *args, "--bootstrap-servers", f"127.0.0.1:{_closed_port()}", env=env)
    _assert_one_error_line(proc, 2, named)


def test_the_demo_checks_the_properties_of_its_parts_before_starting_anything(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "localkafka.demo",
            "--log-dir",
            str(tmp_path),
            "-X",
            "no.such.property=1",
            "--bootstrap-servers",
            f"127.0.0.1:{_closed_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    _assert_one_error_line(proc, 2, "-X no.such.property='1'")
    assert not any(tmp_path.iterdir()), "no part was started"


def test_an_alias_and_a_combination_are_both_traced_to_the_setting():
    # librdkafka refuses linger.ms under its alias queue.buffering.max.ms, and a CA file only with TLS on.
    sources = {
        "linger.ms": "-X linger.ms",
        "ssl.ca.location": "SENTIMENT_KAFKA_SSL_CA_LOCATION",
        "security.protocol": "SENTIMENT_KAFKA_SECURITY_PROTOCOL",
        "sasl.password": "SENTIMENT_KAFKA_SASL_PASSWORD",
    }
    with pytest.raises(ConfigError, match=r"^-X linger\.ms='abc': .*queue\.buffering\.max\.ms"):
        check_client_config({"linger.ms": "abc"}, "producer", sources)
    tls = {"security.protocol": "SSL", "ssl.ca.location": "/no/such/ca.pem", "sasl.password": "hunter2"}
    with pytest.raises(ConfigError, match=r"^SENTIMENT_KAFKA_SSL_CA_LOCATION='/no/such/ca\.pem': ") as info:
        check_client_config(tls, "consumer", sources)
    assert "hunter2" not in str(info.value)
    check_client_config(
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "u",
            "sasl.password": "hunter2",
            "linger.ms": "5",
        },
        "producer",
        sources,
    )


def test_a_combination_no_single_setting_explains_is_reported_as_librdkafka_says():
    with pytest.raises(ConfigError, match="the Kafka client configuration is refused: .*transactional.id"):
        check_client_config({"transactional.id": "t", "enable.idempotence": "false"}, "producer", {})


@pytest.mark.parametrize(
    ("command", "args", "timeout_flag"),
    [
        ("sentiment-producer", ["--text", "x"], ["--connect-timeout", "2"]),
        ("sentiment-kafka", ["create-topics"], ["--timeout", "2"]),
        ("sentiment-consumer", ["--metrics-port", "0"], []),  # waits its fixed 15 s for the broker
    ],
)
def test_an_unreachable_broker_is_exit_1_in_every_command(command, args, timeout_flag):
    port = _closed_port()
    proc = _run(command, *args, *timeout_flag, "--bootstrap-servers", f"127.0.0.1:{port}")
    _assert_one_error_line(proc, 1, f"cannot reach the Kafka broker at 127.0.0.1:{port}")
