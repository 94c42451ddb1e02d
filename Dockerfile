FROM python:3.11-slim
WORKDIR /opt/lgsp-hub
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY connectors connectors
COPY streams streams
COPY warehouse warehouse
COPY quality quality
COPY hub hub
RUN pip install --no-cache-dir ".[postgres]"
RUN useradd --system --home /var/lib/lgsp lgsp && mkdir -p /var/lib/lgsp && chown lgsp /var/lib/lgsp
USER lgsp
ENV LGSP_WORKDIR=/var/lib/lgsp GX_ANALYTICS_ENABLED=False
ENTRYPOINT []
