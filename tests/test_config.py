"""The configuration surface: CLI beats environment beats default, bad values fail early, secrets stay hidden."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from common import config

NAMES = ("bootstrap_servers", "input_topic", "max_batch", "max_wait_ms", "delivery", "metrics_port")


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    config.add_options(parser, NAMES)
    return parser.parse_args(argv)


def test_defaults_when_nothing_is_set():
    settings = config.resolve(NAMES, _parse([]), environ={})
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.max_batch == 256
    assert settings.delivery == "at-least-once"


def test_cli_wins_over_environment_which_wins_over_default():
    env = {"SENTIMENT_MAX_BATCH": "64", "SENTIMENT_INPUT_TOPIC": "from-env"}
    settings = config.resolve(NAMES, _parse(["--max-batch", "32"]), environ=env)
    assert settings.max_batch == 32
    assert settings.input_topic == "from-env"


@pytest.mark.parametrize(
    ("argv", "env", "fragment"),
    [
        (["--max-batch", "0"], {}, "--max-batch='0': must be a positive integer"),
        ([], {"SENTIMENT_MAX_WAIT_MS": "soon"}, "SENTIMENT_MAX_WAIT_MS='soon'"),
        (["--delivery", "maybe"], {}, "must be one of at-least-once, exactly-once"),
        (["--metrics-port", "70000"], {}, "TCP port"),
        (["--bootstrap-servers", "  "], {}, "must not be empty"),
    ],
)
def test_bad_values_fail_with_a_message_naming_the_source(argv, env, fragment):
    with pytest.raises(config.ConfigError) as info:
        config.resolve(NAMES, _parse(argv), environ=env)
    assert fragment in str(info.value)


def test_librdkafka_pass_through_from_env_and_flags():
    env = {"SENTIMENT_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "SENTIMENT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}
    settings = config.resolve(NAMES, _parse(["-X", "sasl.username=alice", "-X", "linger.ms=5"]), environ=env)
    assert settings.kafka_config(**{"group.id": "g"}) == {
        "bootstrap.servers": "127.0.0.1:9092",
        "sasl.mechanism": "SCRAM-SHA-512",
        "security.protocol": "SASL_SSL",
        "sasl.username": "alice",
        "linger.ms": "5",
        "group.id": "g",
    }


def test_malformed_pass_through_flag_is_rejected():
    with pytest.raises(config.ConfigError, match="PROPERTY=VALUE"):
        config.resolve(NAMES, _parse(["-X", "no-equals-sign"]), environ={})


def test_describe_masks_secrets_but_keeps_locations():
    env = {
        "SENTIMENT_KAFKA_SASL_PASSWORD": "hunter2",
        "SENTIMENT_KAFKA_SSL_KEY_PASSWORD": "s3cret",
        "SENTIMENT_KAFKA_SSL_KEY_LOCATION": "/etc/key.pem",
        "SENTIMENT_KAFKA_SASL_MECHANISM": "PLAIN",
    }
    shown = config.resolve(NAMES, _parse([]), environ=env).describe()
    assert "hunter2" not in repr(shown) and "s3cret" not in repr(shown)
    assert shown["kafka"]["ssl.key.location"] == "/etc/key.pem"
    assert shown["kafka"]["sasl.mechanism"] == "PLAIN"


def test_undeclared_setting_is_an_attribute_error():
    settings = config.resolve(("input_topic",), None, environ={})
    with pytest.raises(AttributeError, match="not declared"):
        _ = settings.max_batch


def test_every_option_has_one_env_name_and_flag():
    envs = [o.env for o in config.OPTIONS.values()]
    assert len(envs) == len(set(envs))
    assert not any(e.startswith(config.KAFKA_ENV_PREFIX) for e in envs), (
        "would collide with the librdkafka pass-through"
    )


@pytest.mark.parametrize(
    "command",
    [
        "sentiment-kafka",
        "sentiment-train",
        "sentiment-evaluate",
        "sentiment-consumer",
        "sentiment-producer",
        "sentiment-dashboard",
        "sentiment-model",
    ],
)
def test_every_command_has_help(command):
    exe = __import__("pathlib").Path(sys.executable).parent / command
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout and command in proc.stdout
