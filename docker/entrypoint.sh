#!/bin/sh
# Starts gpuflow-agent. Every setting is an environment variable of the SPEC's table; this script
# adds HOST_ID_FILE, for the Helm chart's per-node host ids (when HOST_ID is unset, it is read from
# that file: one line, 0x + 64 hex), and the drop from root to the service user.
#
# Capabilities: Docker and Kubernetes give a non-root container process no ambient and no
# inheritable capabilities, whatever --cap-add or securityContext.capabilities.add say, and the
# ip, wg, nft and wireguard-go the agent starts need CAP_NET_ADMIN. So the image starts as root,
# makes the directories the service user writes its own, and re-executes itself as uid 10001 with
# NET_ADMIN as its only capability, kept ambient so the agent's children have it, and with
# no_new_privs so nothing it runs can gain more. Started as any other uid (e.g. a runtime that
# forces one) it runs as that uid, and the agent says at start whether NET_ADMIN reaches its
# children.
set -eu

AGENT_UID="${GPUFLOW_UID:-10001}"
AGENT_GID="${GPUFLOW_GID:-10001}"

if [ "$(id -u)" = 0 ]; then
	caps=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
	has_cap() { [ $(( (0x$caps >> $1) & 1 )) = 1 ]; }
	if ! has_cap 6 || ! has_cap 7; then
		echo "gpuflow-agent: started as root without CAP_SETUID/CAP_SETGID, so it cannot drop to uid $AGENT_UID;" \
			"grant them (Docker's defaults include them; Kubernetes: capabilities.add SETUID, SETGID)" >&2
		exit 1
	fi
	# The key directory (a volume) and wireguard-go's socket directory (a tmpfs under a read-only
	# root filesystem) may arrive owned by root.
	for dir in /var/lib/gpuflow /var/run/wireguard; do
		[ -d "$dir" ] || mkdir -p "$dir"
		if [ "$(stat -c %u:%g "$dir")" != "$AGENT_UID:$AGENT_GID" ]; then
			chown "$AGENT_UID:$AGENT_GID" "$dir" || {
				echo "gpuflow-agent: cannot hand $dir to uid $AGENT_UID (grant CAP_CHOWN or chown it)" >&2
				exit 1
			}
		fi
	done
	# wireguard-go opens /dev/net/tun as the agent's user. udev makes it 0666; a host without udev
	# leaves it 0600, and Docker and Kubernetes pass the host's mode on.
	if [ -c /dev/net/tun ] && ! setpriv --reuid "$AGENT_UID" --regid "$AGENT_GID" --clear-groups \
		sh -c '[ -r /dev/net/tun ] && [ -w /dev/net/tun ]'; then
		echo "gpuflow-agent: uid $AGENT_UID cannot open /dev/net/tun (mode $(stat -c %a /dev/net/tun) on this host);" \
			"userspace WireGuard needs it 0666, udev's default: chmod 0666 /dev/net/tun on the host" >&2
	fi
	# Shrinking the bounding set needs CAP_SETPCAP (Docker's defaults have it, a drop-ALL
	# securityContext does not); no_new_privs already stops any gain at exec.
	bounding=""
	if has_cap 8; then bounding="--bounding-set=-all,+net_admin"; fi
	# shellcheck disable=SC2086
	exec setpriv --reuid "$AGENT_UID" --regid "$AGENT_GID" --clear-groups \
		--inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin $bounding --no-new-privs \
		-- "$0" "$@"
fi

if [ -z "${HOST_ID:-}" ] && [ -n "${HOST_ID_FILE:-}" ]; then
	if [ ! -r "$HOST_ID_FILE" ]; then
		echo "gpuflow-agent: HOST_ID is not set and $HOST_ID_FILE does not exist: no host id for this node" >&2
		exit 1
	fi
	HOST_ID="$(tr -d ' \r\n' < "$HOST_ID_FILE")"
	export HOST_ID
fi

exec java -jar /opt/gpuflow/gpuflow-agent.jar "$@"
