# The production image: `tawasul serve` (web) and `tawasul worker` run from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TAWASUL_LOCALES_DIR=/app/locales \
    TAWASUL_PROFILE=/app/profiles/example.yaml \
    TAWASUL_VAR_DIR=/var/lib/tawasul

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY channels ./channels
COPY handlers ./handlers
COPY worker ./worker
COPY locales ./locales
COPY profiles ./profiles

RUN pip install --no-cache-dir . \
    && pybabel compile -d locales -D tawasul \
    && useradd --system --home /var/lib/tawasul tawasul \
    && mkdir -p /var/lib/tawasul && chown tawasul /var/lib/tawasul

USER tawasul
EXPOSE 8080
CMD ["tawasul", "serve", "--host", "0.0.0.0", "--port", "8080"]
