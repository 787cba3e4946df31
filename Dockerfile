# lstm-serve: train and serve LSTM models over HTTP.
#   docker build -t lstm-serve .
#   docker run -p 8000:8000 -v lstm-data:/data lstm-serve
# Build stage: the locked dependencies first (a layer that code changes do not invalidate),
# then the project itself.
FROM python:3.11-slim-bookworm AS build
# Where pip finds CPU-only torch wheels; empty to use only the default index.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY requirements.lock ./
RUN pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} -r requirements.lock
COPY pyproject.toml README.md ./
COPY model ./model
COPY app ./app
RUN pip install --no-deps . && find /opt/venv -name __pycache__ -prune -exec rm -rf {} +

# Runtime stage: the virtual environment only, run as an unprivileged user.
FROM python:3.11-slim-bookworm
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /data --shell /usr/sbin/nologin lstm \
    && mkdir -p /data && chown lstm:lstm /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LSTM_SERVE_LOG_FORMAT=json \
    LSTM_SERVE_DATA_DIR=/data \
    LSTM_SERVE_HOST=0.0.0.0 \
    LSTM_SERVE_PORT=8000
# matplotlib's font cache (loss charts) in the container, never in the data volume.
ENV MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LSTM_SERVE_PORT', '8000'), timeout=2)"]
CMD ["lstm-serve", "serve", "--host", "0.0.0.0"]
