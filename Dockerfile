# syntax=docker/dockerfile:1
# chronohook: one image for all four services (ingest, timer, executor, projector).
# Pick the service with the command, e.g. `docker run IMAGE serve timer`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CHRONOHOOK_DATA_DIR=/data \
    CHRONOHOOK_API_HOST=0.0.0.0 \
    CHRONOHOOK_API_PORT=8000

WORKDIR /app

# Project metadata first, then the source packages.
COPY pyproject.toml README.md ./
COPY chronohook/ ./chronohook/
COPY schemas/ ./schemas/
COPY services/ ./services/
# The Python client: the CLI's verbs (`chronohook jobs ...`, `chronohook receiver`) use it.
COPY clients/python/ ./clients/python/

RUN pip install . ./clients/python \
    && rm -rf build *.egg-info clients/python/build clients/python/*.egg-info

RUN groupadd --system --gid 10001 chronohook \
    && useradd --system --uid 10001 --gid chronohook --home-dir /data --no-create-home chronohook \
    && mkdir -p /data \
    && chown chronohook:chronohook /data

USER chronohook
VOLUME ["/data"]
EXPOSE 8000

ENTRYPOINT ["chronohook"]
CMD ["serve", "ingest"]
