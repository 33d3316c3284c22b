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
RUN pip install --no-cache-dir . && useradd --system --uid 10001 gongzhi \
    && mkdir -p /data && chown gongzhi /data
USER gongzhi
ENV GONGZHI_DATA_DIR=/data
# The detection rules' compiled code is cached here (the installed package is read-only to the
# user the processes run as).
ENV NUMBA_CACHE_DIR=/tmp/gongzhi-compiled
ENTRYPOINT ["gongzhi"]
