#!/usr/bin/env bash
# Build local/debian:bookworm without a container registry: debootstrap a minimal Debian root
# from the mirror apt already uses (read from the apt sources now, never stored), then import
# it. Cached: nothing happens when the image exists; the root tarball is kept in CACHE.
# Usage: deploy/ci/base-image.sh   (needs root, debootstrap and a running Docker engine)
set -euo pipefail
IMAGE=local/debian:bookworm
CACHE=${LWD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lightweight-django}
TARBALL=$CACHE/debian-bookworm-minbase.tar

apt_mirror() {
    # The first Debian archive (not -security) that apt is configured with.
    local files=() f
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && files+=("$f")
    done
    [ ${#files[@]} -gt 0 ] || return 0
    awk '$1 == "URIs:" || $1 == "deb" { for (i = 2; i <= NF; i++)
        if ($i ~ /^https?:/ && $i !~ /-security/) { print $i; exit } }' "${files[@]}"
}

slim() {
    # As Debian's slim images: no manuals, documentation or translations, now or later.
    local root=${1:?slim needs the root folder}
    [ "$root" != / ] || exit 1
    printf 'path-exclude /usr/share/%s/*\n' doc man info locale lintian \
        >"$root/etc/dpkg/dpkg.cfg.d/slim"
    echo 'path-include /usr/share/doc/*/copyright' >>"$root/etc/dpkg/dpkg.cfg.d/slim"
    find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
        "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
}

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "base image: $IMAGE already built"
    exit 0
fi
if [ ! -s "$TARBALL" ]; then
    mirror=$(apt_mirror)
    [ -n "$mirror" ] || { echo "base image: no Debian mirror found in the apt sources" >&2; exit 1; }
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    echo "base image: debootstrap --variant=minbase bookworm (mirror from the apt sources)"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 \
        || { tail -n 30 "$root.log" >&2; exit 1; }
    # The image's apt must find the same mirror; it is written only inside the image.
    echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
    slim "$root"
    mkdir -p "$CACHE"
    tar -C "$root" -cf "$TARBALL.part" . && mv "$TARBALL.part" "$TARBALL"
    rm -f "$root.log"
fi
docker import "$TARBALL" "$IMAGE" >/dev/null
echo "base image: $IMAGE imported"
