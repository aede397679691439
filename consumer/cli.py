"""``sentiment-consumer``: score reviews from the input topic in micro-batches and publish results.

Start-up checks everything that can be checked before consuming (librdkafka
accepts the properties, model loads and scores, broker answers, topics exist, a
full batch fits in max.poll.interval.ms) and fails with one line: exit 1 when the
broker does not answer (a restart may find it), exit 2 for anything else. SIGTERM or
SIGINT finish the batch in hand, commit and exit 0; a second signal, or a
shutdown that outlasts its grace period, exits 1 at once (nothing is lost:
uncommitted reviews are read again on restart). SIGHUP, or a new version in
the model folder, reloads the model between batches (consumer.model_reload).
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from common import cli, logs
from common.broker_check import check_client_config
from common.config import ConfigError, Settings, add_options, resolve
from consumer.metrics import ConsumerMetrics, HealthServer
from consumer.model_reload import ModelWatcher
from consumer.service import (
    InstanceFenced,
    ScoringService,
    ServiceConfig,
    check_poll_interval,
    check_topics,
    measure_batch_seconds,
)

log = logging.getLogger("consumer")

# A graceful stop may take --shutdown-timeout plus this before the watchdog exits 1; orchestrators must wait longer.
SHUTDOWN_WATCHDOG_SLACK_S = 15.0

OPTION_NAMES = (
    "bootstrap_servers",
    "input_topic",
    "output_topic",
    "dlq_topic",
    "group_id",
    "model_dir",
    "shadow_model_dir",
    "engine",
    "metrics_port",
    "metrics_host",
    "max_batch",
    "max_wait_ms",
    "batch_policy",
    "max_text_bytes",
    "delivery",
    "commit_interval_ms",
    "instance_id",
    "membership",
    "threads",
    "shutdown_timeout",
    "stall_timeout",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentiment-consumer",
        description="Score reviews from the input topic in micro-batches through the sentiment model and "
        "publish one result per review to the output topic (bad messages go to the dead-letter topic).",
    )
    add_options(parser, OPTION_NAMES)
    parser.add_argument(
        "--model-poll-seconds",
        type=float,
        default=10.0,
        help="how often to check --model-dir for a new model version (0: only on SIGHUP; default 10)",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    return parser


def service_config(settings: Settings) -> ServiceConfig:
    """The service's configuration from the shared configuration surface."""
    return ServiceConfig(
        kafka=settings.kafka_config(),
        input_topic=settings.input_topic,
        output_topic=settings.output_topic,
        dlq_topic=settings.dlq_topic,
        group_id=settings.group_id,
        max_batch=settings.max_batch,
        max_wait_ms=settings.max_wait_ms,
        batch_policy=settings.batch_policy,
        max_text_bytes=settings.max_text_bytes,
        delivery=settings.delivery,
        commit_interval_ms=settings.commit_interval_ms,
        instance_id=settings.instance_id,
        membership=settings.membership,
        shutdown_timeout=settings.shutdown_timeout,
    )


def load_predictor(settings: Settings, threads: int | None, model_dir: Path | None = None):
    """The serving model on --engine (never TensorFlow in this process); ConfigError when it does not load."""
    from model import fused
    from model.predictor import ModelLoadError, Predictor

    folder = model_dir or settings.model_dir
    backend = settings.engine
    if backend == "auto":
        backend = "fused" if fused.available() else "onnxruntime"
    try:
        return Predictor.load(folder, backend=backend, threads=threads)
    except (ModelLoadError, OSError) as exc:
        raise ConfigError(f"model at {folder} does not load: {exc}") from None


def start_health_server(metrics: ConsumerMetrics, settings: Settings) -> HealthServer | None:
    """/metrics, /healthz and /readyz on --metrics-host:--metrics-port; None when the port is 0."""
    if not settings.metrics_port:
        return None
    try:
        return HealthServer(metrics, settings.metrics_port, settings.metrics_host).start()
    except OSError as exc:  # the port is taken, or the host is no address of this machine
        raise ConfigError(
            f"--metrics-host {settings.metrics_host} --metrics-port {settings.metrics_port}: {exc.strerror or exc}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.setup(args.log_level)
    settings = resolve(OPTION_NAMES, args)
    log.info("configuration", extra={"config": settings.describe()})
    config = service_config(settings)
    check_client_config(config.consumer_config(), "consumer", settings.kafka_sources)
    check_client_config(config.producer_config(), "producer", settings.kafka_sources)

    predictor = load_predictor(settings, settings.threads)
    batch_seconds = measure_batch_seconds(predictor, config.max_batch)
    log.info("model loaded", extra={"version": predictor.version, "full_batch_ms": round(batch_seconds * 1000, 1)})
    check_poll_interval(config.consumer_config(), batch_seconds, config.max_wait_ms)
    check_topics(config.kafka, [config.input_topic, config.output_topic, config.dlq_topic])

    metrics = ConsumerMetrics()
    server = start_health_server(metrics, settings)
    watcher = ModelWatcher(
        settings.model_dir,
        predictor,
        lambda folder: load_predictor(settings, settings.threads, folder),
        args.model_poll_seconds,
    ).start()
    shadow = _shadow_watcher(settings, metrics, args.model_poll_seconds)
    service = ScoringService(config, watcher.current, metrics, shadow.current if shadow else lambda: None)
    _install_signal_handlers(service, watcher, grace=config.shutdown_timeout + SHUTDOWN_WATCHDOG_SLACK_S)
    if settings.stall_timeout > 0:
        threading.Thread(
            target=_stall_watchdog, args=(service, settings.stall_timeout), name="stall-watchdog", daemon=True
        ).start()
    try:
        service.run()
    except InstanceFenced as exc:
        raise ConfigError(str(exc)) from None
    except Exception:
        log.exception("consumer stopped on a fatal error; uncommitted reviews will be read again on restart")
        return 1
    finally:
        watcher.stop()
        if shadow is not None:
            shadow.stop()
        if server is not None:
            server.stop()
    return 0


def _shadow_watcher(settings: Settings, metrics: ConsumerMetrics, poll_seconds: float) -> ModelWatcher | None:
    """The shadow candidate, followed like the served model; one that does not load is logged and left out."""
    folder = settings.shadow_model_dir
    if folder is None:
        return None
    try:
        candidate = load_predictor(settings, settings.threads, folder)
    except ConfigError as exc:
        metrics.shadow_failures.labels(stage="load").inc()
        log.error("shadow model failed to load; the consumer runs without it", extra={"error": str(exc)[:500]})
        return None
    metrics.shadow_info.info({"version": candidate.version, "model_dir": str(folder)})
    log.info("shadow model loaded", extra={"version": candidate.version, "model_dir": str(folder)})
    return ModelWatcher(
        folder, candidate, lambda f: load_predictor(settings, settings.threads, f), poll_seconds
    ).start()


def _install_signal_handlers(service: ScoringService, watcher: ModelWatcher, grace: float) -> None:
    """First SIGTERM/SIGINT: graceful stop with a watchdog; second: exit at once. SIGHUP: check for a new model."""
    stopping = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stopping.is_set():
            log.warning("second signal: exiting without waiting", extra={"signal": name})
            os._exit(1)
        stopping.set()
        log.info("shutting down: finishing the batch in hand", extra={"signal": name})
        service.stop()
        watchdog = threading.Timer(grace, _give_up, args=(grace,))
        watchdog.daemon = True
        watchdog.start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGHUP, lambda _signum, _frame: watcher.request())
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 PID: every thread's stack on stderr


def _stall_watchdog(service: ScoringService, timeout: float) -> None:
    """Exit when the loop is stuck: a librdkafka transactional call can block past its own timeout when the
    coordinator broker went away (librdkafka issues 5456 and 5511). Signal handlers cannot run then (the main
    thread is inside C), so only another thread can end the process; committed offsets make that safe."""
    while True:
        time.sleep(min(5.0, timeout / 4))
        stalled = time.monotonic() - service.last_progress
        if stalled > timeout:
            log.error(
                "no progress; exiting so a restart resumes from the committed offsets",
                extra={"stalled_seconds": round(stalled, 1)},
            )
            logging.shutdown()
            os._exit(70)


def _give_up(grace: float) -> None:
    log.error("graceful shutdown took longer than its grace period; exiting", extra={"grace_seconds": grace})
    logging.shutdown()
    os._exit(1)


def entry() -> None:
    cli.run(main)
