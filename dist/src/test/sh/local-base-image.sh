#!/usr/bin/env bash
# Makes a local stand-in for debian:bookworm-slim where no container registry is reachable:
# debootstrap's minimal Debian, trimmed like the slim image (no apt lists or caches, docs, man pages
# or locales), imported into podman. Reused when it already exists.
#   local-base-image.sh IMAGE_NAME WORK_DIR
set -euo pipefail
image="$1"
work="$2"
if podman image exists "$image"; then
  exit 0
fi
mkdir -p "$work"
rootfs="$(mktemp -d "$work/rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
  || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
