"""``sentiment-dashboard``: serve the live sentiment dashboard (default http://127.0.0.1:8050)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal

from common import cli, config, logs
from common.broker_check import check_client_config
from common.config import ConfigError
from dashboard.aggregates import LiveStats
from dashboard.analysis import DEFAULT_MAX_ROWS, DEFAULT_MAX_UPLOAD_MB, Limits
from dashboard.stream import StreamReader, parse_start

log = logging.getLogger("dashboard")

OPTIONS = (
    "bootstrap_servers",
    "output_topic",
    "dashboard_group_id",
    "dashboard_host",
    "dashboard_port",
    "model_dir",
    "dashboard_results_mb",
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sentiment-dashboard",
        description="Serve the live sentiment dashboard: the output topic's live distribution, "
        "analysis of one review or a CSV with the model in-process, and the model's report.",
        epilog="It binds to 127.0.0.1 by default. To expose it, put it behind a reverse proxy that "
        "adds TLS and login (see dashboard/README.md).",
    )
    p.add_argument(
        "--start",
        default="latest",
        help="where the live view starts reading: latest, beginning or minutes:N [default latest]",
    )
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=DEFAULT_MAX_UPLOAD_MB,
        help=f"largest CSV upload in MB [default {DEFAULT_MAX_UPLOAD_MB}]",
    )
    p.add_argument(
        "--max-rows",
        type=int,
        default=DEFAULT_MAX_ROWS,
        help=f"most rows of an uploaded CSV [default {DEFAULT_MAX_ROWS}]",
    )
    p.add_argument("--threads", type=int, default=8, help="web server threads [default 8]")
    p.add_argument("--log-level", default="INFO", help="log level [default INFO]")
    config.add_options(p, OPTIONS)
    return p


def _limits(args: argparse.Namespace) -> Limits:
    if not 0 < args.max_upload_mb <= 1024:
        raise ConfigError(f"--max-upload-mb={args.max_upload_mb}: must be more than 0 and at most 1024")
    if args.max_rows < 1:
        raise ConfigError(f"--max-rows={args.max_rows}: must be a positive integer")
    if args.threads < 1:
        raise ConfigError(f"--threads={args.threads}: must be a positive integer")
    return Limits(max_bytes=int(args.max_upload_mb * 1024 * 1024), max_rows=args.max_rows)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = config.resolve(OPTIONS, args)
    reader_config = settings.kafka_config(**{"group.id": settings.dashboard_group_id})
    check_client_config(reader_config, "consumer", settings.kafka_sources)
    start = parse_start(args.start)
    limits = _limits(args)
    logs.setup(args.log_level)

    from model.predictor import ModelLoadError, Predictor

    try:
        predictor = Predictor.load(settings.model_dir)
    except ModelLoadError as exc:
        raise ConfigError(f"cannot load the model from {settings.model_dir}: {exc}") from None

    from dashboard.app import create_app, serve

    stats = LiveStats()
    app = create_app(
        stats,
        topic=settings.output_topic,
        start=str(start),
        scorer=predictor,
        model_dir=settings.model_dir,
        limits=limits,
        job_options={"max_result_bytes": settings.dashboard_results_mb * 1024 * 1024},
    )
    reader = StreamReader(reader_config, settings.output_topic, stats, start).start()
    if not _is_loopback(settings.dashboard_host):
        log.warning(
            "the dashboard listens beyond this machine with no login of its own; "
            "put a reverse proxy with TLS and login in front",
            extra={"host": settings.dashboard_host},
        )
    log.info(
        "dashboard",
        extra={
            "url": f"http://{settings.dashboard_host}:{settings.dashboard_port}/",
            "model": predictor.version,
            "config": settings.describe(),
            "start": str(start),
        },
    )
    signal.signal(signal.SIGTERM, _stop_serving)
    try:
        serve(app, settings.dashboard_host, settings.dashboard_port, limits, threads=args.threads)  # returns on SIGTERM
    finally:
        reader.stop()
    log.info("stopped")
    return 0


def _stop_serving(signum: int, frame: object) -> None:
    """SIGTERM (docker stop, systemd) leaves waitress' loop as Ctrl-C
    does (it catches SystemExit), so the reader closes cleanly.
    """
    raise SystemExit(0)


def entry() -> None:
    cli.run(main)
