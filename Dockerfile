# carebot for container hosts: slim, non-root, installed the way README "Deploy" says
# (`pip install .`), healthy when GET /healthz is (database reachable, scheduler ticking).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000 CAREBOT_FILES_DIR=/app/var/files
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY messages ./messages
RUN pip install . \
    && useradd --create-home --uid 10001 carebot \
    && mkdir -p /app/var/files && chown -R carebot /app/var
USER carebot

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["carebot", "run"]
