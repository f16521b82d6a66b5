#!/usr/bin/env bash
# Stand-in for debian:12.8-slim: `debootstrap --variant=minbase bookworm` from the Debian mirror,
# made the way the official image is (debuerreotype): no man pages, docs or locales installed by
# later packages, apt that keeps no .deb files, no package lists, no machine identity.
# Differs from the real image: today's bookworm packages rather than those of 12.8's day, and
# debuerreotype's reproducible timestamps are not reproduced. Usage: debian.sh IMAGE LABEL
set -euo pipefail
image=$1 label=$2
work=$(mktemp -d /var/tmp/gpuflow-standin-debian.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
debootstrap --variant=minbase bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 \
	|| { tail -20 "$work/debootstrap.log" >&2; exit 1; }
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
CFG
echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	>"$rootfs/etc/apt/sources.list.d/debian.sources"
rm -f "$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
	"$rootfs"/var/log/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
	"$rootfs"/usr/share/locale/* "$rootfs/etc/machine-id" "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"
: >"$rootfs/etc/machine-id"
tar --numeric-owner --xattrs -C "$rootfs" -c . \
	| podman import -q --change 'CMD ["bash"]' --change "LABEL gpuflow.standin.recipe=$label" - "$image" >/dev/null
