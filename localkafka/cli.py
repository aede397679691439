"""``sentiment-kafka``: start, stop and inspect the local broker, and create the pipeline's topics."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import cli, config
from common.broker_check import check_client_config, cluster_metadata
from localkafka.broker import DEFAULT_HOME, KAFKA_VERSION, BrokerError, LocalKafka
from localkafka.secure import SECURE_OPTIONS, SECURE_PORT, USERS, SecureLocalKafka, client_env, secure_setup
from localkafka.topics import create_topics

TOPIC_OPTIONS = ("bootstrap_servers", "input_topic", "output_topic", "dlq_topic", "partitions")
_SECURE_HELP = f"the secure profile: SASL_SSL + SCRAM users + ACLs, default port {SECURE_PORT}, its own data folder"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentiment-kafka",
        description=f"Run a real single-node Apache Kafka {KAFKA_VERSION} broker (KRaft) on 127.0.0.1, "
        "its jars fetched from Maven Central with mvn, for tests, benchmarks and the demo.",
    )
    parser.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help=f"cache of jars, data and logs [{DEFAULT_HOME}]"
    )
    parser.add_argument(
        "--port", type=int, default=None, help=f"broker port on 127.0.0.1 [9092; {SECURE_PORT} with --secure]"
    )
    parser.add_argument("--controller-port", type=int, default=None, help="KRaft controller port [port+1]")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    start = commands.add_parser("start", help="fetch jars if needed, format storage once, start; returns when ready")
    start.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the broker [90]")
    start.add_argument(
        "--secure",
        action="store_true",
        help=_SECURE_HELP + "; also creates the topics and the ACLs of the options below",
    )
    config.add_options(start, SECURE_OPTIONS, kafka=False)
    stop = commands.add_parser("stop", help="stop the broker this folder started (by pid file)")
    status = commands.add_parser("status", help="say whether the broker runs and answers; exit 0 when it does")
    for command in (stop, status):
        command.add_argument("--secure", action="store_true", help=_SECURE_HELP)
    env = commands.add_parser("print-env", help="print a secure-broker user's client settings as SENTIMENT_* lines")
    env.add_argument("user", choices=USERS, help="whose credentials: " + ", ".join(USERS))
    topics = commands.add_parser(
        "create-topics",
        help="create the input, output and dead-letter topics on the broker of --port, else of --bootstrap-servers",
    )
    topics.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the broker [30]")
    config.add_options(topics, TOPIC_OPTIONS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    secure = getattr(args, "secure", False) or args.command == "print-env"
    port = args.port or (SECURE_PORT if secure else 9092)
    kind = SecureLocalKafka if secure else LocalKafka
    broker = kind(home=args.home, port=port, controller_port=args.controller_port or port + 1)
    try:
        if args.command == "start":
            began = time.monotonic()
            started = broker.start(timeout=args.timeout)
            state = "started" if started else "already running"
            print(
                f"Kafka {broker.version} {state} on {broker.bootstrap} ({time.monotonic() - began:.1f} s); "
                f"logs in {broker.log_file.parent}"
            )
            if isinstance(broker, SecureLocalKafka):
                print(secure_setup(broker, config.resolve(SECURE_OPTIONS, args)))
        elif args.command == "stop":
            print("stopped" if broker.stop() else "no broker started from this folder is running")
        elif args.command == "status":
            ready, pid = broker.is_ready(), broker.pid()
            print(
                f"broker on {broker.bootstrap}: {'ready' if ready else 'not answering'}"
                + (f", pid {pid}" if pid else ", not started from this folder")
            )
            return 0 if ready else 1
        elif args.command == "print-env":
            assert isinstance(broker, SecureLocalKafka)  # print-env always opens the secure broker
            print("\n".join(client_env(broker.user_config(args.user))))
        else:
            settings = config.resolve(TOPIC_OPTIONS, args)
            kafka = _topics_kafka_config(settings, args, broker)
            check_client_config(kafka, "admin", settings.kafka_sources)
            cluster_metadata(kafka, args.timeout)  # an absent broker is one line and exit 1, not a timeout traceback
            names = [settings.input_topic, settings.output_topic, settings.dlq_topic]
            for name, outcome in create_topics(kafka, names, settings.partitions, timeout=args.timeout).items():
                print(f"{name}: {outcome}")
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _topics_kafka_config(settings: config.Settings, args: argparse.Namespace, broker: LocalKafka) -> dict:
    """create-topics' client configuration: ``--port`` names the local broker, so it wins over
    SENTIMENT_BOOTSTRAP_SERVERS; with a --bootstrap-servers naming another broker it is ambiguous."""
    if args.port is None:
        return settings.kafka_config()
    if args.bootstrap_servers is not None and args.bootstrap_servers.strip() != broker.bootstrap:
        raise config.ConfigError(
            f"--port {args.port} and --bootstrap-servers {args.bootstrap_servers} name different "
            "brokers; give one of them"
        )
    return settings.kafka_config(**{"bootstrap.servers": broker.bootstrap})


def entry() -> None:
    cli.run(main)
