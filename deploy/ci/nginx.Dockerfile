# Stand-in for nginx:1.27: Debian's nginx in the foreground, logging to the container's output,
# reading /etc/nginx/conf.d/*.conf and caching under /var/cache/nginx as the official image does.
FROM local/debian:bookworm
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx-light \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
    && mkdir -p /var/cache/nginx \
    && ln -sf /dev/stdout /var/log/nginx/access.log \
    && ln -sf /dev/stderr /var/log/nginx/error.log
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
