#!/usr/bin/env bash
# Makes the image's base, python:3.11-slim-bookworm, available to the local Docker engine.
#
# 1. Already there: nothing to do.
# 2. A registry answers: pull it (the real base, as on any machine that can pull).
# 3. Otherwise build a stand-in laid out like the official image: a minbase Debian bookworm
#    (debootstrap) with the official images' apt and dpkg settings, this machine's CPython 3.11
#    (standard library only, no site-packages) in /usr/local with pip from ensurepip, and the
#    shared libraries its extension modules link against. The machine's apt sources, CA
#    certificates and pip certificate setting are copied in, so `docker build --network host`
#    reaches the same package registries this machine reaches. The root file system is cached as
#    a tarball outside the repository and imported again when the engine has lost the image.
#
# Usage: scripts/base-image.sh [TAG]   (default python:3.11-slim-bookworm)
set -euo pipefail

tag=${1:-python:3.11-slim-bookworm}
cache=${PREVIEW_CACHE:-/var/cache/preview-screenshot-service}/base
python=${BASE_PYTHON:-python3}

# A stand-in carries the hash of the recipe that built it (this file), so editing the recipe
# builds it again; an image without the label (a pulled base) is kept as it is.
recipe=$(sha256sum "$0" | cut -c1-12)
label='org.preview-screenshot-service.stand-in'
if built=$(docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$tag" 2>/dev/null); then
  case "$built" in "$recipe" | "" | "<no value>") exit 0 ;; esac
fi
if timeout 30 docker pull -q "$tag" >/dev/null 2>&1; then
  echo "base-image: pulled $tag"
  exit 0
fi

prefix=$("$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version; print(sys.base_prefix)')
version=$("$python" -c 'import platform; print(platform.python_version())')
tarball="$cache/stand-in-bookworm-python-$version-$recipe.tar"
# What `docker import` records: the official image's environment and command.
changes=(
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change 'ENV LANG=C.UTF-8'
  --change "ENV PYTHON_VERSION=$version"
  --change 'CMD ["python3"]'
  --change "LABEL $label=$recipe"
)

if [ ! -f "$tarball" ]; then
  echo "base-image: no registry answered; building a stand-in for $tag (a few minutes, once)"
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  root="$work/root"
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log" \
    || { tail -20 "$work/debootstrap.log"; exit 1; }

  # The official images' slimming and apt settings (this machine carries the same files), then
  # this machine's apt sources and settings, CA certificates and pip's certificate setting.
  for file in /etc/apt/apt.conf.d/docker-* /etc/apt/apt.conf.d/99*; do
    [ -f "$file" ] && cp "$file" "$root/etc/apt/apt.conf.d/"
  done
  cp /etc/dpkg/dpkg.cfg.d/docker-* "$root/etc/dpkg/dpkg.cfg.d/" 2>/dev/null || true
  # What Debian's slim images leave out (debuerreotype's slimification), for later packages too.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
SLIM
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{info,man,groff,linda,lintian,locale}/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/apt/archives/*.deb
  rm -f "$root/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/"
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"

  # CPython as the official image lays it out: /usr/local/{bin,lib,include}, no site-packages,
  # and, as the official image removes them, no test packages, bytecode or static library.
  tar -C "$prefix" -cf - \
    --exclude='lib/python3.11/site-packages/*' --exclude='lib/python3.11/idlelib' \
    --exclude='lib/python3.11/tkinter' --exclude='_tkinter.*' \
    --exclude=test --exclude=tests --exclude=idle_test --exclude='__pycache__' --exclude='*.a' \
    bin/python3.11 lib/libpython3.11.so.1.0 lib/libpython3.11.so lib/libpython3.so \
    lib/python3.11 include/python3.11 \
    | tar -C "$root/usr/local" -xf -
  # Stripped, as the official image links it (LDFLAGS=-Wl,--strip-all).
  find "$root/usr/local" -type f \( -name '*.so*' -o -name python3.11 \) \
    -exec strip --strip-unneeded {} +
  ln -sf python3.11 "$root/usr/local/bin/python3"
  ln -sf python3 "$root/usr/local/bin/python"

  # The Debian packages that provide what CPython's extension modules link against here.
  mapfile -t libs < <(find "$prefix/lib/python3.11/lib-dynload" "$prefix/bin/python3.11" -type f -not -name '_tkinter*' \
    -exec ldd {} + 2>/dev/null | awk '/=> \// {print $3}' | sort -u)
  mapfile -t runtime_packages < <(for lib in "${libs[@]}"; do
    dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true
  done | cut -d: -f1 | sort -u)
  mount -t proc proc "$root/proc"
  trap 'umount "$root/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
  chroot "$root" /bin/sh -c "
    set -e
    export DEBIAN_FRONTEND=noninteractive PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    apt-get update -q
    apt-get install -y -q --no-install-recommends ca-certificates netbase tzdata ${runtime_packages[*]}
    update-ca-certificates >/dev/null
    ldconfig
    python3 -m ensurepip --default-pip >/dev/null
    rm -f /usr/local/bin/pip3.11 && ln -sf pip3 /usr/local/bin/pip
    python3 -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, venv, hashlib'
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /root/.cache
  " >"$work/chroot.log" 2>&1 || { tail -30 "$work/chroot.log"; exit 1; }
  umount "$root/proc"
  tar -C "$root" --numeric-owner -cf "$tarball.partial" .
  rm -f "$cache"/stand-in-*.tar
  mv "$tarball.partial" "$tarball"
fi

docker import "${changes[@]}" "$tarball" "$tag" >/dev/null
echo "base-image: imported the stand-in $tag from $tarball"
