# The live image: `rlscale operator` (and `rlscale run`, `rlscale serve`, `rlscale loadgen`,
# the sample service). No torch: learned policies run in numpy from their safetensors checkpoints.
# Build: docker build -t ghcr.io/rlscale/rlscale:0.1.0 .

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN /opt/venv/bin/pip install ".[live]" \
 && ! /opt/venv/bin/python -c "import torch" 2>/dev/null

FROM python:3.11-slim
LABEL org.opencontainers.image.title="rlscale" \
      org.opencontainers.image.description="RL autoscaler for Kubernetes: operator, controller, policy server" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
COPY examples/sample_service/app.py /app/sample_service.py
RUN groupadd --system --gid 10001 rlscale \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin rlscale
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["rlscale", "operator"]
