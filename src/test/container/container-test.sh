#!/usr/bin/env bash
# The container path with a real engine (rootful podman, runc), as a provider and a renter use it:
#
#   images        the project's images build on stand-ins of their base images (standins.sh),
#                 the chain image proving in its build that cast makes an RPC call
#   compose       docker-compose.yml, followed service by service (compose.py) under Docker's
#                 capability rules (docker-rules-runc), serves a rental end to end: rent through
#                 the chain image, SIWE-signed config fetch, a tunnel from a renter namespace to the
#                 agent container's published UDP port, a service inside the container reached
#                 through it, and the tunnel cut when the rental ends
#   kubernetes    the image under the Helm chart's securityContext (root start, drop ALL + NET_ADMIN
#                 SETUID SETGID CHOWN, read-only root, no privilege escalation, a root-owned
#                 hostPath key directory) comes UP with the agent as uid 10001 holding NET_ADMIN only
#   non-root      started as uid 10001 with NET_ADMIN under Docker's rules, the agent refuses with a
#                 message that says what to do (the defect the design avoids, shown to be real)
#
# Everything it creates carries its run id (gfct + 4 hex) and is removed on exit, also on failure;
# images are kept, they are the cache of the next run. Prints "container: N passed, M failed" and
# exits non-zero if any case failed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
cd "$ROOT"

RUN_ID="gfct$(printf '%04x' $((RANDOM % 65536)))"
PROJECT="$RUN_ID"
STATE="$(mktemp -d "/tmp/$RUN_ID.XXXXXX")"
COMPOSE=(/usr/bin/python3 "$HERE/compose.py" -f "$ROOT/docker-compose.yml" -p "$PROJECT")
export GFCOMPOSE_RUNTIME="$HERE/docker-rules-runc"
NET="${PROJECT}_default"
RENTER_NS="${RUN_ID}r"
VETH="${RUN_ID}v"
RENTER_WG="${RUN_ID}w"
SUBNET_OCTET=$((RANDOM % 200 + 20))
HOST_VETH_IP="10.231.$SUBNET_OCTET.1"
RENTER_VETH_IP="10.231.$SUBNET_OCTET.2"
K8S_CONTAINER="${RUN_ID}_k8s"
NONROOT_CONTAINER="${RUN_ID}_nonroot"
# anvil's well-known development key of account 1 (a public test key): the renter
RENTER_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
HOST_ID=0x00000000000000000000000000000000000000000000000000000000000000a1
CONTRACT=0x5FbDB2315678afecb367f032d93F642f64180aa3

bash "$HERE/setup-podman.sh"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
free_udp_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])'; }
export ANVIL_PORT AGENT_HTTP_PORT AGENT_WG_PORT WG_ENDPOINT GPUFLOW_PUBLIC_URL AUDIT_TOKEN POSTGRES_PASSWORD GPUFLOW_KEY_ENCRYPTION_KEY
ANVIL_PORT=$(free_port)
AGENT_HTTP_PORT=$(free_port)
AGENT_WG_PORT=$(free_udp_port)
WG_ENDPOINT="$HOST_VETH_IP:$AGENT_WG_PORT"
GPUFLOW_PUBLIC_URL="http://127.0.0.1:$AGENT_HTTP_PORT"
AUDIT_TOKEN=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
POSTGRES_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
GPUFLOW_KEY_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)

passed=0 failed=0
declare -A timings=()
say() { printf '[%s] container: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

cleanup() {
	set +e
	[ -f "$STATE/service.pid" ] && kill "$(cat "$STATE/service.pid")" 2>/dev/null
	if ip netns list | grep -qw "$RENTER_NS"; then
		ip netns pids "$RENTER_NS" | xargs -r kill 2>/dev/null
		sleep 0.2
		ip netns del "$RENTER_NS"
	fi
	ip link del "$VETH" 2>/dev/null
	rm -f "/var/run/wireguard/$RENTER_WG.sock"
	podman rm -f -v -t 5 "$K8S_CONTAINER" "$NONROOT_CONTAINER" >/dev/null 2>&1
	"${COMPOSE[@]}" down >/dev/null 2>&1
	rm -rf "$STATE"
	say "removed everything of run $RUN_ID"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_case NAME FUNCTION: the function runs in a subshell with -e; its failure is counted, not fatal.
run_case() {
	local name=$1 started=$SECONDS
	say "--- $name"
	if ( set -euo pipefail; "$2" ); then
		passed=$((passed + 1))
		say "PASS $name ($((SECONDS - started)) s)"
	else
		failed=$((failed + 1))
		say "FAIL $name ($((SECONDS - started)) s)"
	fi
	timings[$name]=$((SECONDS - started))
}

fail() { echo "container: $*" >&2; exit 1; }

wait_for() { # seconds description command...
	local seconds=$1 deadline=$((SECONDS + $1)) what=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || fail "$what (waited $seconds s)"
		sleep 0.5
	done
}

dump_logs() {
	for container in $(podman ps -a --format '{{.Names}}' --filter "label=com.docker.compose.project=$PROJECT") \
		"$K8S_CONTAINER" "$NONROOT_CONTAINER"; do
		podman container exists "$container" || continue
		echo "--- $container ($(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$container"))" >&2
		podman logs --tail 30 "$container" 2>&1 | sed 's/^/    /' >&2
	done
}

# The status of the agent's java process in a container: uid, capabilities, no_new_privs.
java_status() { # container
	podman exec "$1" sh -c 'for s in /proc/[0-9]*/status; do
		if grep -q "^Name:[[:space:]]*java$" "$s"; then grep -E "^(Uid|CapEff|CapAmb|NoNewPrivs):" "$s"; fi
	done' | awk '{print $1, $2}' | tr '\n' ' '
}

assert_dropped() { # container
	local status
	status=$(java_status "$1")
	echo "agent process in $1: $status"
	[ "$status" = "Uid: 10001 CapEff: 0000000000001000 CapAmb: 0000000000001000 NoNewPrivs: 1 " ] \
		|| fail "the agent in $1 is not uid 10001 with NET_ADMIN alone, ambient, and no_new_privs: $status"
}

healthy() { podman healthcheck run "$1"; }

# ---- images -------------------------------------------------------------------------------------
case_images() {
	# Every base image the Dockerfiles and the compose file name must have a stand-in: otherwise the
	# build would try a registry, and a renamed tag would be tested against nothing.
	local wanted standins
	standins=$(bash "$HERE/standins.sh" --names)
	wanted=$( (grep -h '^FROM ' Dockerfile docker/chain.Dockerfile | awk '{print $2}'
		/usr/bin/python3 -c 'import yaml,sys; d=yaml.safe_load(open("docker-compose.yml"))
built={s.get("image") for s in d["services"].values() if "build" in s}
print("\n".join(s["image"] for s in d["services"].values() if "build" not in s and s.get("image") not in built))') \
		| grep -v '^gpuflow-' | sort -u)
	for image in $wanted; do
		echo "$standins" | grep -qx "docker.io/library/$image" || fail "no stand-in for the base image $image"
	done
	bash "$HERE/standins.sh"
	# This machine's egress proxy re-signs TLS, so npm (in the chain image's build) is given this
	# machine's CA bundle and an npmrc naming it, through a build-time mount over the image's
	# existing, empty /usr/local/etc (npm's global config directory): a mount leaves nothing in a
	# layer, and cast's own check in that build sees only the image's CA store.
	mkdir -p "$STATE/npm-etc"
	cp /etc/ssl/certs/ca-certificates.crt "$STATE/npm-etc/host-ca.pem"
	printf 'cafile=/usr/local/etc/host-ca.pem\n' >"$STATE/npm-etc/npmrc"
	export GFCOMPOSE_BUILD_ARGS="-v $STATE/npm-etc:/usr/local/etc:ro"
	"${COMPOSE[@]}" build
	for image in gpuflow-chain:dev gpuflow-agent:dev; do
		podman run --rm --no-healthcheck --entrypoint sh "$image" -c '[ -z "$(ls -A /usr/local/etc)" ]' \
			|| fail "$image keeps the build's npm settings"
		for cert in /usr/local/share/ca-certificates/*.crt; do
			[ -e "$cert" ] || continue
			# the certificate's first base64 line, searched in every PEM file of the image
			line=$(sed -n '2p' "$cert")
			if podman run --rm --no-healthcheck --entrypoint sh "$image" -c \
				"grep -rlsF -- '$line' /etc /usr/local /opt /run 2>/dev/null | head -1" | grep -q .; then
				fail "$image trusts this machine's local CA $(basename "$cert")"
			fi
		done
		echo "$image: $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1 / 1e6}')," \
			"health check: $(podman image inspect --format '{{.Config.Healthcheck.Test}}' "$image")"
	done
	[ -n "$(podman image inspect --format '{{.Config.Healthcheck}}' gpuflow-agent:dev | grep healthcheck.sh)" ] \
		|| fail "the agent image has no HEALTHCHECK"
	podman run --rm --no-healthcheck --entrypoint sh gpuflow-agent:dev -c '[ -z "$(ls -A /var/lib/apt/lists 2>/dev/null)" ] && [ -z "$(ls /var/cache/apt/archives/*.deb 2>/dev/null)" ]' \
		|| fail "the agent image keeps apt lists or packages"
}

# ---- compose ------------------------------------------------------------------------------------
case_compose() {
	local started api agent pid message signature tunnel_ip reply
	started=$SECONDS
	"${COMPOSE[@]}" up --timeout 300
	agent="${PROJECT}_agent_1"
	wait_for 420 "the agent container is healthy" healthy "$agent"
	echo "agent UP $((SECONDS - started)) s after compose up started"
	assert_dropped "$agent"

	# The renter port: HTTPS when the agent serves TLS, else HTTP.
	if curl -sk --max-time 3 -o /dev/null "https://127.0.0.1:$AGENT_HTTP_PORT/actuator/health"; then
		api="https://127.0.0.1:$AGENT_HTTP_PORT"
	else
		api="http://127.0.0.1:$AGENT_HTTP_PORT"
	fi
	echo "renter API at $api"

	# A service of the GPU host inside the agent's network namespace, on the server's tunnel address.
	pid=$(podman inspect --format '{{.State.Pid}}' "$agent")
	wait_for 30 "wg0 has the server's tunnel address" nsenter -t "$pid" -n ip -4 addr show dev wg0 to 10.77.0.1
	cat >"$STATE/respond.sh" <<'SH'
#!/bin/sh
while IFS= read -r line; do
	case "$line" in '' | "$(printf '\r')") break ;; esac
done
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from inside the agent container\n'
SH
	chmod +x "$STATE/respond.sh"
	nsenter -t "$pid" -n socat TCP-LISTEN:8000,bind=10.77.0.1,fork,reuseaddr EXEC:"$STATE/respond.sh" 2>/dev/null &
	echo $! >"$STATE/service.pid"

	# The renter: its own network namespace, joined to the host by a veth pair.
	ip netns add "$RENTER_NS"
	ip link add "$VETH" type veth peer name "${VETH}n"
	ip link set "${VETH}n" netns "$RENTER_NS"
	ip addr add "$HOST_VETH_IP/30" dev "$VETH"
	ip link set "$VETH" up
	ip -n "$RENTER_NS" addr add "$RENTER_VETH_IP/30" dev "${VETH}n"
	ip -n "$RENTER_NS" link set "${VETH}n" up
	ip -n "$RENTER_NS" link set lo up

	# Rent 10 minutes through the chain image (an agent-generated key: zero renter key).
	podman exec "${PROJECT}_anvil_1" cast send --rpc-url http://127.0.0.1:8545 --private-key "$RENTER_KEY" \
		--value 600gwei "$CONTRACT" "rent(bytes32,uint64,bytes32)" "$HOST_ID" 600 "0x$(printf '0%.0s' {1..64})" >/dev/null
	rental_state() { curl -sfk "$api/v1/rentals/1" | jq -r .state; }
	is_state() { [ "$(rental_state)" = "$1" ]; }
	wait_for 60 "rental 1 is ACTIVE" is_state ACTIVE

	# The one-time config, for a SIWE message signed with the renter's wallet (cast in the chain image).
	message=$(curl -sfk -X POST "$api/v1/rentals/1/challenge" | jq -r .message)
	[ -n "$message" ] && [ "$message" != null ] || fail "no challenge for rental 1"
	signature=$(podman exec "${PROJECT}_anvil_1" cast wallet sign --private-key "$RENTER_KEY" "$message")
	jq -n --arg m "$message" --arg s "$signature" '{message: $m, signature: $s}' \
		| curl -sfk -X POST -H 'Content-Type: application/json' --data-binary @- "$api/v1/rentals/1/config" \
			-o "$STATE/gpuflow-1.conf" || fail "the signed config request was refused"
	grep -q "^Endpoint = $WG_ENDPOINT$" "$STATE/gpuflow-1.conf" || fail "the config does not dial $WG_ENDPOINT"

	# The tunnel, from the renter namespace to the container's published UDP port.
	tunnel_ip=$(sed -n 's/^Address = \(.*\)\/32/\1/p' "$STATE/gpuflow-1.conf")
	ip netns exec "$RENTER_NS" wireguard-go "$RENTER_WG" >/dev/null 2>&1
	wg-quick strip "$STATE/gpuflow-1.conf" >"$STATE/renter.conf"
	ip netns exec "$RENTER_NS" wg setconf "$RENTER_WG" "$STATE/renter.conf"
	ip -n "$RENTER_NS" addr add "$tunnel_ip/32" dev "$RENTER_WG"
	ip -n "$RENTER_NS" link set "$RENTER_WG" up
	ip -n "$RENTER_NS" route add 10.77.0.1/32 dev "$RENTER_WG"
	reach() { ip netns exec "$RENTER_NS" curl -sf --max-time 2 -o "$STATE/reply.txt" http://10.77.0.1:8000/; }
	wait_for 30 "the renter reaches the service in the agent container through the tunnel" reach
	reply=$(cat "$STATE/reply.txt")
	[ "$reply" = "hello from inside the agent container" ] || fail "unexpected reply: $reply"
	echo "renter $tunnel_ip reached 10.77.0.1:8000 in the agent container via $WG_ENDPOINT: $reply"

	# The rental ends on chain: the agent removes the peer and the tunnel is cut.
	podman exec "${PROJECT}_anvil_1" cast send --rpc-url http://127.0.0.1:8545 --private-key "$RENTER_KEY" \
		"$CONTRACT" "endRental(uint256)" 1 >/dev/null
	wait_for 60 "rental 1 is ENDED" is_state ENDED
	cut() { ! ip netns exec "$RENTER_NS" curl -sf --max-time 2 -o /dev/null http://10.77.0.1:8000/; }
	wait_for 30 "the tunnel is cut after the rental ended" cut
	echo "rental 1 ended: the tunnel is cut"
}

# ---- the Helm chart's securityContext, under Kubernetes' capability rules ----------------------
agent_env() { # database
	echo "-e SPRING_DATASOURCE_URL=jdbc:postgresql://postgres:5432/$1 -e SPRING_DATASOURCE_USERNAME=gpuflow"
	echo "-e SPRING_DATASOURCE_PASSWORD=$POSTGRES_PASSWORD -e CHAIN_RPC_URL=http://anvil:8545 -e RENTAL_CONTRACT=$CONTRACT"
	echo "-e HOST_ID=$HOST_ID -e WG_IMPLEMENTATION=userspace -e WG_ENDPOINT=127.0.0.1:51820 -e CHAIN_CONFIRMATIONS=0"
	echo "-e AUDIT_TOKEN=$AUDIT_TOKEN -e GPUFLOW_KEY_ENCRYPTION_KEY=$GPUFLOW_KEY_ENCRYPTION_KEY"
}

case_kubernetes() {
	local started
	podman exec "${PROJECT}_postgres_1" psql -q -U gpuflow -d gpuflow -c "create database gpuflow_k8s"
	mkdir -m 0755 "$STATE/hostpath-key" # a hostPath DirectoryOrCreate: root-owned
	started=$SECONDS
	# shellcheck disable=SC2046
	podman run -d --name "$K8S_CONTAINER" --runtime "$GFCOMPOSE_RUNTIME" --network "$NET" --user 0 \
		--cap-drop ALL --cap-add NET_ADMIN,SETUID,SETGID,CHOWN --security-opt no-new-privileges \
		--read-only --read-only-tmpfs=false --tmpfs /tmp --tmpfs /var/run/wireguard --device /dev/net/tun \
		-v "$STATE/hostpath-key:/var/lib/gpuflow" $(agent_env gpuflow_k8s) gpuflow-agent:dev >/dev/null
	wait_for 420 "the agent under the Helm securityContext is healthy" healthy "$K8S_CONTAINER"
	echo "agent UP $((SECONDS - started)) s after start"
	assert_dropped "$K8S_CONTAINER"
	[ "$(stat -c %u "$STATE/hostpath-key/server.key")" = 10001 ] || fail "the server key is not the agent user's"
}

# ---- non-root start under Docker's rules ---------------------------------------------------------
case_nonroot() {
	podman exec "${PROJECT}_postgres_1" psql -q -U gpuflow -d gpuflow -c "create database gpuflow_nonroot"
	# shellcheck disable=SC2046
	podman run -d --name "$NONROOT_CONTAINER" --runtime "$GFCOMPOSE_RUNTIME" --network "$NET" --user 10001:10001 \
		--cap-add NET_ADMIN --device /dev/net/tun $(agent_env gpuflow_nonroot) gpuflow-agent:dev >/dev/null
	refused() { podman logs "$NONROOT_CONTAINER" 2>&1 | grep -q "without CAP_NET_ADMIN in its ambient set"; }
	wait_for 300 "the agent started as uid 10001 says NET_ADMIN is not ambient" refused
	podman logs "$NONROOT_CONTAINER" 2>&1 | grep -m1 -o "Managing wg0 needs CAP_NET_ADMIN.*" | cut -c1-200
	! healthy "$NONROOT_CONTAINER" || fail "the agent without NET_ADMIN for its tools reports healthy"
}

total_started=$SECONDS
say "run $RUN_ID: podman $(podman --version | awk '{print $3}'), runtime wrapper $GFCOMPOSE_RUNTIME"
run_case images case_images
run_case compose case_compose
run_case kubernetes case_kubernetes
run_case non-root case_nonroot
[ $failed -eq 0 ] || dump_logs
say "timings (s): $(for k in "${!timings[@]}"; do printf '%s=%s ' "$k" "${timings[$k]}"; done)total=$((SECONDS - total_started))"
echo "container: $passed passed, $failed failed"
[ $failed -eq 0 ]
