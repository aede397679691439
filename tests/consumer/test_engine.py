"""--engine / SENTIMENT_ENGINE: which engine the consumer scores with (no broker needed)."""

from __future__ import annotations

import pytest

from common.config import ConfigError, resolve
from consumer import cli
from model import fused


def _load(argv: list[str], environ: dict[str, str]):
    settings = resolve(cli.OPTION_NAMES, cli.build_parser().parse_args(argv), environ=environ)
    return cli.load_predictor(settings, threads=1)


@pytest.mark.parametrize(
    ("argv", "environ", "backend"),
    [
        ([], {}, "fused"),
        (["--engine", "onnxruntime"], {}, "onnxruntime"),
        ([], {"SENTIMENT_ENGINE": "onnxruntime"}, "onnxruntime"),
        (["--engine", "fused"], {"SENTIMENT_ENGINE": "onnxruntime"}, "fused"),
    ],
)
def test_the_engine_comes_from_the_flag_else_the_environment_else_fused(argv, environ, backend) -> None:
    assert _load(argv, environ).backend == backend


def test_an_unknown_engine_is_a_configuration_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="SENTIMENT_ENGINE='tensorflow': must be one of auto, fused, onnxruntime"):
        _load([], {"SENTIMENT_ENGINE": "tensorflow"})


def test_without_the_kernel_auto_is_onnxruntime_and_fused_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fused, "kernel", None)
    assert _load([], {}).backend == "onnxruntime"
    with pytest.raises(ConfigError, match="kernel is not built"):
        _load(["--engine", "fused"], {})
