# The Model Monitor exporter. Runs the demo by default; pass `serve --config FILE` for your models.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN pip install . && useradd --system --uid 10001 --home-dir /data monitor && mkdir -p /data && chown monitor /data
USER monitor
WORKDIR /data
EXPOSE 9108
ENTRYPOINT ["model-monitor"]
CMD ["demo", "--host", "0.0.0.0", "--port", "9108", "--dir", "/data/demo"]
