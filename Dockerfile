# The interview-streams worker image (docker-compose.yml builds it for worker-1 and worker-2).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml ./
COPY app ./app
COPY agents ./agents
COPY tables ./tables
COPY models ./models
COPY streams_web ./streams_web
COPY domain ./domain
COPY local_kafka ./local_kafka
RUN pip install .

# Run as an unprivileged user; /data (the RocksDB tables) is owned by it, so a fresh named volume
# mounted there is too.
RUN useradd --create-home --uid 10001 worker && mkdir -p /data && chown worker /data
USER worker
WORKDIR /data

EXPOSE 6066
# The Faust way (SPEC section 8). --web-host must be the container's service name, so override CMD:
#   command: ["--web-port", "6066", "--web-host", "worker-1"]
ENTRYPOINT ["faust", "--datadir", "/data", "-A", "app", "worker", "-l", "info"]
CMD ["--web-port", "6066", "--web-host", "localhost"]
