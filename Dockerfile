# syntax=docker/dockerfile:1
# iGot: one image for every way to run it.
#   docker run -p 8080:8080 -v igot-data:/data igot:latest            # standalone (the default command)
#   docker run igot:latest serve gateway|auth|dispatcher              # one service, distributed mode
#   docker run -e IGOT_MODE=distributed igot:latest migrate           # indexes and queues, once per database

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/igot
WORKDIR /src
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
COPY igot ./igot
RUN /opt/igot/bin/pip install . \
    && /opt/igot/bin/python -m compileall -q /opt/igot

FROM ${PYTHON_IMAGE}
# A fixed numeric user, so that Kubernetes can check `runAsNonRoot` without looking the name up.
RUN groupadd --system --gid 10001 igot \
    && useradd --system --uid 10001 --gid igot --home-dir /home/igot --create-home --shell /usr/sbin/nologin igot \
    && mkdir -p /data \
    && chown igot:igot /data
COPY --from=build /opt/igot /opt/igot
ENV PATH=/opt/igot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IGOT_HTTP_HOST=0.0.0.0 \
    IGOT_HTTP_PORT=8080 \
    IGOT_DATA_DIR=/data
USER 10001:10001
WORKDIR /home/igot
VOLUME ["/data"]
EXPOSE 8080
# Liveness only: /readyz also needs the store and the bus, which an orchestrator checks on its own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('IGOT_HTTP_PORT', '8080'), timeout=4)"]
# Processes drain on SIGTERM for up to 30 s: give `docker stop` a little more (`--time 40`).
STOPSIGNAL SIGTERM
ENTRYPOINT ["igot"]
CMD ["standalone"]
