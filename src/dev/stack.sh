#!/usr/bin/env bash
# The local stack behind `gpuflow-dev run|demo`: anvil, RentalMarket, a registered host and the agent
# on a userspace WireGuard interface. Everything it starts is stopped on exit (also on Ctrl-C).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
MODE=${1:-run}

ANVIL="$ROOT/contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
CAST="$ROOT/contracts/node_modules/@foundry-rs/cast-linux-amd64/bin/cast"
RUN_ID=$(printf '%04x' $((RANDOM % 65536)))
STATE_DIR=$(mktemp -d /tmp/gpuflow-dev.XXXXXX)
CHAIN_PORT=${CHAIN_PORT:-8545}
HTTP_PORT=${SERVER_PORT:-8082}
RPC="http://127.0.0.1:$CHAIN_PORT"
API="http://127.0.0.1:$HTTP_PORT"
WG_IF=${WG_INTERFACE:-wg0}
# anvil's well-known development keys: account 0 is the provider, account 1 the renter
PROVIDER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
RENTER_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
RENTER_NS="gfdemo$RUN_ID"
RENTER_IF="gfr$RUN_ID"
VETH="gfv$RUN_ID"

pids=()
step() { printf '\n\033[1;36m[%s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*"; }
fail() { printf '\033[1;31mFAILED: %s\033[0m\n' "$*" >&2; exit 1; }

cleanup() {
	set +e
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
	if ip netns list | grep -qw "$RENTER_NS"; then
		ip netns pids "$RENTER_NS" | xargs -r kill 2>/dev/null
		ip netns del "$RENTER_NS"
	fi
	ip link del "$VETH" 2>/dev/null
	ip link del "$RENTER_IF" 2>/dev/null
	ip link del "$WG_IF" 2>/dev/null
	nft delete table inet "gpuflow_$WG_IF" 2>/dev/null
	rm -f "/tmp/gpuflow-wireguard-go-$WG_IF.log" # the agent's java.io.tmpdir
	rm -rf "$STATE_DIR"
	echo "stopped everything this run started"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # seconds, description, command...
	local seconds=$1 deadline=$((SECONDS + $1)) what=$2; shift 2
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			[ -f "$STATE_DIR/agent.log" ] && { echo "--- agent log (last 40 lines)"; tail -40 "$STATE_DIR/agent.log"; }
			fail "$what (waited $seconds s)"
		fi
		sleep 0.2
	done
}

step "building the agent (mvn package)"
mvn -B -q -ntp -DskipTests package

step "starting anvil on $RPC"
"$ANVIL" --port "$CHAIN_PORT" --silent >"$STATE_DIR/anvil.log" 2>&1 &
pids+=($!)
wait_for 20 "anvil answers" "$CAST" block-number --rpc-url "$RPC"

step "deploying RentalMarket and registering this host"
CONTRACT=$("$CAST" send --rpc-url "$RPC" --private-key "$PROVIDER_KEY" --json \
	--create "0x$(tr -d '\n' <contracts/out/RentalMarket.bin)" | jq -r .contractAddress)
HOST_ID=$("$CAST" keccak "gpuflow-dev-$(hostname)")
"$CAST" send --rpc-url "$RPC" --private-key "$PROVIDER_KEY" "$CONTRACT" \
	"registerHost(bytes32,uint256)" "$HOST_ID" 1000000000 >/dev/null
echo "RentalMarket $CONTRACT, host $HOST_ID at 1 gwei/s"

if [ "$MODE" = demo ]; then
	# The renter lives in its own network namespace, joined to this host by a veth pair.
	ip netns add "$RENTER_NS"
	ip link add "$VETH" type veth peer name "${VETH}n"
	ip link set "${VETH}n" netns "$RENTER_NS"
	ip addr add 10.254.17.1/30 dev "$VETH"
	ip link set "$VETH" up
	ip -n "$RENTER_NS" addr add 10.254.17.2/30 dev "${VETH}n"
	ip -n "$RENTER_NS" link set "${VETH}n" up
	ip -n "$RENTER_NS" link set lo up
	ENDPOINT_DEFAULT=10.254.17.1:51820
else
	ENDPOINT_DEFAULT=127.0.0.1:51820
fi

step "starting the agent (userspace WireGuard on $WG_IF, PostgreSQL database gpuflow_dev)"
runuser -u postgres -- psql -qc "drop database if exists gpuflow_dev" -c "create database gpuflow_dev owner gpuflow"
export SPRING_DATASOURCE_URL=jdbc:postgresql://127.0.0.1:5432/gpuflow_dev SPRING_DATASOURCE_USERNAME=gpuflow \
	SPRING_DATASOURCE_PASSWORD=gpuflow CHAIN_RPC_URL="$RPC" RENTAL_CONTRACT="$CONTRACT" HOST_ID="$HOST_ID" \
	CHAIN_CONFIRMATIONS=${CHAIN_CONFIRMATIONS:-0} WG_INTERFACE="$WG_IF" WG_IMPLEMENTATION=${WG_IMPLEMENTATION:-userspace} \
	WG_ENDPOINT=${WG_ENDPOINT:-$ENDPOINT_DEFAULT} WG_PRIVATE_KEY_FILE=${WG_PRIVATE_KEY_FILE:-/var/lib/gpuflow/server.key} \
	SERVER_PORT="$HTTP_PORT" AUDIT_TOKEN=${AUDIT_TOKEN:-$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')} \
	GPUFLOW_KEY_ENCRYPTION_KEY=${GPUFLOW_KEY_ENCRYPTION_KEY:-$(head -c 32 /dev/urandom | base64)}
"$JAVA_HOME/bin/java" -jar target/gpuflow-agent.jar >"$STATE_DIR/agent.log" 2>&1 &
AGENT_PID=$!
pids+=($AGENT_PID)
MANAGEMENT="http://127.0.0.1:${MANAGEMENT_PORT:-9082}"
wait_for 90 "the agent is healthy" curl -sf "$MANAGEMENT/actuator/health"
echo "agent up: $API (dashboard at $API/ with AUDIT_TOKEN=$AUDIT_TOKEN); health and metrics at $MANAGEMENT/actuator"

fetch_config() { # rental id, output file
	local message signature
	message=$(curl -sf -X POST "$API/v1/rentals/$1/challenge" | jq -r .message)
	signature=$("$CAST" wallet sign --private-key "$RENTER_KEY" "$message")
	jq -n --arg m "$message" --arg s "$signature" '{message: $m, signature: $s}' |
		curl -sf -X POST -H 'Content-Type: application/json' --data-binary @- "$API/v1/rentals/$1/config" -o "$2"
}

if [ "$MODE" = run ]; then
	cat <<EOT

The agent is running (log: $STATE_DIR/agent.log). A renter now does:

  CAST=$CAST
  # 1. rent 10 minutes (1 gwei/s); a zero key lets the agent generate the renter's key pair
  \$CAST send --rpc-url $RPC --private-key $RENTER_KEY --value 600gwei $CONTRACT \\
      'rent(bytes32,uint64,bytes32)' $HOST_ID 600 0x$(printf '0%.0s' {1..64})
  # 2. see it, get a challenge, sign it with the wallet, fetch the config (once)
  curl $API/v1/rentals/1
  MSG=\$(curl -s -X POST $API/v1/rentals/1/challenge | jq -r .message)
  SIG=\$(\$CAST wallet sign --private-key $RENTER_KEY "\$MSG")
  jq -n --arg m "\$MSG" --arg s "\$SIG" '{message:\$m,signature:\$s}' | \\
      curl -s -X POST -H 'Content-Type: application/json' --data-binary @- $API/v1/rentals/1/config -o gpuflow-1.conf
  # 3. operators: curl -H "Authorization: Bearer $AUDIT_TOKEN" $API/v1/peers

Ctrl-C stops anvil and the agent and removes the interface.
EOT
	wait "$AGENT_PID"
	exit $?
fi

# --- demo: a renter goes all the way ------------------------------------------------------------
step "a service of the GPU host listens on the server's tunnel address 10.77.0.1:8000"
wait_for 20 "the server's tunnel address is up" ip -4 addr show dev "$WG_IF"
# The request is read to its blank line before the answer: a connection closed with request bytes
# still unread is reset, and curl then sees an empty reply (seen once in CI: curl exit 52).
cat >"$STATE_DIR/respond.sh" <<'SH'
#!/bin/sh
while IFS= read -r line; do
	case "$line" in '' | "$(printf '\r')") break ;; esac
done
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from the GPU host\n'
SH
chmod +x "$STATE_DIR/respond.sh"
socat TCP-LISTEN:8000,bind=10.77.0.1,fork,reuseaddr EXEC:"$STATE_DIR/respond.sh" 2>/dev/null &
pids+=($!)

step "the renter rents for 10 minutes on chain (agent-generated key)"
"$CAST" send --rpc-url "$RPC" --private-key "$RENTER_KEY" --value 600gwei "$CONTRACT" \
	"rent(bytes32,uint64,bytes32)" "$HOST_ID" 600 "0x$(printf '0%.0s' {1..64})" >/dev/null
state() { curl -sf "$API/v1/rentals/1" | jq -r .state; }
is_state() { [ "$(state)" = "$1" ]; }
wait_for 20 "rental 1 is ACTIVE" is_state ACTIVE
curl -s "$API/v1/rentals/1"; echo

step "the renter signs a challenge with its wallet and fetches its one-time config"
fetch_config 1 "$STATE_DIR/gpuflow-1.conf"
sed 's/^PrivateKey = .*/PrivateKey = (hidden)/' "$STATE_DIR/gpuflow-1.conf"
second=$(fetch_config 1 /dev/null 2>&1 && echo served || echo refused)
[ "$second" = refused ] || fail "a second fetch of a generated key's config was served"
echo "a second fetch is refused (410 already_delivered)"

step "the renter brings the tunnel up with the config as served"
TUNNEL_IP=$(sed -n 's/^Address = \(.*\)\/32/\1/p' "$STATE_DIR/gpuflow-1.conf")
ip netns exec "$RENTER_NS" wireguard-go "$RENTER_IF" >/dev/null 2>&1
wg-quick strip "$STATE_DIR/gpuflow-1.conf" >"$STATE_DIR/renter.conf"
ip netns exec "$RENTER_NS" wg setconf "$RENTER_IF" "$STATE_DIR/renter.conf"
ip -n "$RENTER_NS" addr add "$TUNNEL_IP/32" dev "$RENTER_IF"
ip -n "$RENTER_NS" link set "$RENTER_IF" up
ip -n "$RENTER_NS" route add 10.77.0.1/32 dev "$RENTER_IF"
reach_host() { ip netns exec "$RENTER_NS" curl -sf --max-time 2 -o "$STATE_DIR/reply.txt" http://10.77.0.1:8000/; }
wait_for 20 "the renter reaches the GPU host through the tunnel" reach_host
cat "$STATE_DIR/reply.txt"
echo "reached 10.77.0.1:8000 from $TUNNEL_IP"

step "the renter ends the rental on chain"
"$CAST" send --rpc-url "$RPC" --private-key "$RENTER_KEY" "$CONTRACT" "endRental(uint256)" 1 >/dev/null
ended_at=$SECONDS
wait_for 10 "rental 1 is ENDED" is_state ENDED
peer_gone() { [ -z "$(wg show "$WG_IF" peers)" ]; }
wait_for 5 "the peer is removed" peer_gone
echo "peer removed $((SECONDS - ended_at)) s after the end was sent"
if ip netns exec "$RENTER_NS" curl -sf --max-time 3 http://10.77.0.1:8000/ >/dev/null 2>&1; then
	fail "the tunnel still works after the rental ended"
fi
echo "the tunnel is cut: the service is unreachable from the renter"

step "audit trail of rental 1"
curl -sf -H "Authorization: Bearer $AUDIT_TOKEN" "$API/v1/audit/sessions/1/events" | jq -r '.events[] | "\(.at)  \(.kind)  \(.detail)"'
step "demo complete"
