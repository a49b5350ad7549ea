# The bot as a container: non-root, its data on a volume, the config mounted read-only.
#   docker build -t serang-bot .      (Podman: podman build --format docker -t serang-bot .,
#                                      or its OCI format drops the HEALTHCHECK)
#   docker run -d --name serang-bot --env-file .env -v serang-bot-data:/data \
#     -v "$PWD/config.yaml:/app/config.yaml:ro" -p 127.0.0.1:8080:8080 serang-bot
# See docs/DEPLOY.md (compose.yaml does the same with PostgreSQL beside it).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md config.yaml ./
COPY bot ./bot
COPY catalog ./catalog
COPY faq ./faq
COPY screening ./screening
COPY store ./store
COPY desk ./desk
RUN pip install . \
    && python -m bot --config /app/config.yaml check \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin bot \
    && mkdir -p /data && chown bot:bot /data && chmod 0700 /data

# Webhook mode listens here when BOT_WEBHOOK_URL is set; in polling mode the same port serves
# /healthz, /readyz and /metrics. Publish it to 127.0.0.1 only: TLS is the proxy's job.
ENV BOT_CONFIG=/app/config.yaml \
    BOT_DATA_DIR=/data \
    MPLCONFIGDIR=/tmp/matplotlib \
    BOT_WEBHOOK_LISTEN=0.0.0.0:8080 \
    BOT_METRICS_LISTEN=0.0.0.0:8080
EXPOSE 8080
VOLUME ["/data"]
USER bot
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]
