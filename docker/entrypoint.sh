#!/bin/sh
# Starts gpuflow-agent. Every setting is an environment variable of the SPEC's table; this script
# only adds HOST_ID_FILE, for the Helm chart's per-node host ids: when HOST_ID is unset, it is read
# from that file (one line, 0x + 64 hex).
set -eu

if [ -z "${HOST_ID:-}" ] && [ -n "${HOST_ID_FILE:-}" ]; then
	if [ ! -r "$HOST_ID_FILE" ]; then
		echo "gpuflow-agent: HOST_ID is not set and $HOST_ID_FILE does not exist: no host id for this node" >&2
		exit 1
	fi
	HOST_ID="$(tr -d ' \r\n' < "$HOST_ID_FILE")"
	export HOST_ID
fi

exec java -jar /opt/gpuflow/gpuflow-agent.jar "$@"
