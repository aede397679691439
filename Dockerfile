# syntax=docker/dockerfile:1
# One image for every sentiment-* command (consumer, dashboard, producer, create-topics), the default model inside.
# Serving runs on onnxruntime: the project is installed without its [train] extra, so no TensorFlow.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# gcc compiles the fused engine's kernel (model/_fused_lstm.c) into the venv; the final stage needs only libc.
# hadolint ignore=DL3008
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY common ./common
COPY localkafka ./localkafka
COPY model ./model
COPY consumer ./consumer
COPY producer ./producer
COPY dashboard ./dashboard
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /app
# Fail the build, not the deployment, when the model is missing, would need TensorFlow, or the kernel did not build.
RUN python -c "import importlib.util as u; from common.config import DEFAULT_MODEL_DIR as d; from model.predictor import Predictor; \
assert u.find_spec('tensorflow') is None, 'TensorFlow must not be in the serving image'; \
p = Predictor.load(d); assert p.backend == 'fused', p.backend; \
print('model', p.version, p.backend, Predictor.load(d, backend='onnxruntime').version)"
EXPOSE 8000 8050
CMD ["sentiment-consumer"]
