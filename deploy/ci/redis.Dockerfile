# Stand-in for redis:7: Debian's redis-server, listening on the container's network as the
# official image does (no protected mode; data in /data).
FROM local/debian:bookworm
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir /data && chown redis:redis /data
USER redis
WORKDIR /data
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data"]
