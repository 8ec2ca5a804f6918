# roughcut: one image for every node and for the one-shot `roughcut migrate`.

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Runtime dependencies only (not the [dev] extra), at the versions pinned in requirements.lock.
# This layer is rebuilt only when the dependencies or their pins change.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > runtime.txt \
    && pip install -r runtime.txt -c requirements.lock
COPY README.md ./
COPY roughcut ./roughcut
RUN pip install --no-deps .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home roughcut \
    && mkdir -p /data && chown roughcut:roughcut /data
# ffmpeg/ffprobe: video posters and metadata (roughcut/storage/media.py)
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
COPY --from=builder /opt/venv /opt/venv
USER roughcut
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"]
CMD ["roughcut", "serve", "--host", "0.0.0.0", "--port", "8080"]
