# One image for the platform, the gateway and the simulator (the command picks the part).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY core core
COPY devices devices
COPY gateway gateway
COPY platform platform
COPY simulators simulators
COPY telemetry telemetry
COPY evaluation evaluation
COPY deploy deploy
# The detection rules are compiled into the image (seconds at every start otherwise), in a
# cache the processes' user may add to (the installed package is read-only to it).
ENV NUMBA_CACHE_DIR=/var/cache/gongzhi-compiled
RUN pip install --no-cache-dir . && useradd --system --uid 10001 gongzhi \
    && mkdir -p /data && chown gongzhi /data \
    && python -c "from gongzhi.gateway.detection.warm import compile_rules; compile_rules()" \
    && chown -R gongzhi "$NUMBA_CACHE_DIR"
USER gongzhi
ENV GONGZHI_DATA_DIR=/data
ENTRYPOINT ["gongzhi"]
