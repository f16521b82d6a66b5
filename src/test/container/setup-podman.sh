#!/usr/bin/env bash
# Installs and configures the container engine the container test uses: rootful podman from Debian
# 12 with runc (crun refuses this kind of machine's cgroup layout) and default ulimits the machine
# can grant (its hard limits cannot be raised, and podman's defaults ask for more). Idempotent: it
# installs only what is missing and adds a containers.conf setting only when it is not set already.
set -euo pipefail

packages=(podman runc netavark aardvark-dns slirp4netns uidmap fuse-overlayfs debootstrap
	python3-yaml jq socat wireguard-tools wireguard-go iproute2 curl ca-certificates)
missing=()
for package in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup-podman: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# containers.conf: add a key to a [section] only when the file does not set it already.
conf=/etc/containers/containers.conf
mkdir -p /etc/containers
touch "$conf"
ensure_setting() { # section key value
	local section=$1 key=$2 value=$3
	if awk -v s="[$section]" -v k="$key" '
			/^[[:space:]]*\[/ { in_s = ($0 ~ "^[[:space:]]*\\[" substr(s, 2, length(s) - 2) "\\]") }
			in_s && $0 ~ "^[[:space:]]*" k "[[:space:]]*=" { found = 1 }
			END { exit found ? 0 : 1 }' "$conf"; then
		return
	fi
	if grep -q "^[[:space:]]*\[$section\]" "$conf"; then
		sed -i "/^[[:space:]]*\[$section\]/a $key = $value" "$conf"
	else
		printf '\n[%s]\n%s = %s\n' "$section" "$key" "$value" >>"$conf"
	fi
	echo "setup-podman: $conf [$section] $key = $value"
}
ensure_setting engine runtime '"runc"'
ensure_setting containers default_ulimits '["nofile=20000:20000", "nproc=32768:32768"]'
# netavark, not CNI: Debian installs a CNI config but, without recommends, not the CNI plugins.
ensure_setting network network_backend '"netavark"'
# What udev's default rule does on a usual host (this kind of machine has no udev and leaves the
# node 0600): the agent's wireguard-go opens /dev/net/tun as uid 10001, and containers get the
# host's mode.
if [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
	chmod 0666 /dev/net/tun
	echo "setup-podman: /dev/net/tun made 0666 (udev's default)"
fi
podman info --format '{{.Host.OCIRuntime.Name}}' | grep -qx runc || {
	echo "setup-podman: podman does not use runc; check $conf" >&2
	exit 1
}
