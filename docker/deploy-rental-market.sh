#!/bin/sh
# One-shot deployer of docker-compose.yml: deploys contracts/out/RentalMarket.bin and registers
# HOST_ID at PRICE_PER_SECOND wei, from DEPLOYER_PRIVATE_KEY (anvil's dev account 0 by default,
# a public test key). Idempotent: on a chain that already has the contract (anvil restarted from
# its --state file) it only registers the host again, which the provider may always do.
#
# With TLS_DIR it also makes the agent's TLS certificate there once (tls.crt, tls.key; owner
# TLS_OWNER), and with GPUFLOW_PUBLIC_URL it publishes the host's endpoint on chain
# (setHostEndpoint: the URL and the SHA-256 of the certificate's public key, which renters pin).
#
# The agent's RENTAL_CONTRACT is fixed in docker-compose.yml: the first contract account 0 creates
# on a fresh chain is 0x5FbDB2315678afecb367f032d93F642f64180aa3 (address from sender and nonce 0).
set -eu

RPC="${CHAIN_RPC_URL:-http://anvil:8545}"
KEY="${DEPLOYER_PRIVATE_KEY:-0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80}"
EXPECTED="${RENTAL_CONTRACT:?RENTAL_CONTRACT (the expected contract address) is required}"
HOST="${HOST_ID:?HOST_ID is required}"
PRICE="${PRICE_PER_SECOND:-1000000000}"
BYTECODE_FILE="${BYTECODE_FILE:-/opt/contracts/out/RentalMarket.bin}"
TLS_DIR="${TLS_DIR:-}"
PUBLIC_URL="${GPUFLOW_PUBLIC_URL:-}"

for attempt in $(seq 1 60); do
	if cast chain-id --rpc-url "$RPC" >/dev/null 2>&1; then
		break
	fi
	[ "$attempt" = 60 ] && { echo "deployer: no chain at $RPC" >&2; exit 1; }
	sleep 1
done

DEPLOYER="$(cast wallet address --private-key "$KEY")"
if [ "$(cast code "$EXPECTED" --rpc-url "$RPC")" = "0x" ]; then
	NONCE="$(cast nonce "$DEPLOYER" --rpc-url "$RPC")"
	NEXT="$(cast compute-address "$DEPLOYER" --nonce "$NONCE" | awk '{print $NF}')"
	if [ "$(echo "$NEXT" | tr 'A-F' 'a-f')" != "$(echo "$EXPECTED" | tr 'A-F' 'a-f')" ]; then
		echo "deployer: $DEPLOYER at nonce $NONCE would create $NEXT, not RENTAL_CONTRACT=$EXPECTED;" \
			"start from a fresh chain or set RENTAL_CONTRACT" >&2
		exit 1
	fi
	cast send --rpc-url "$RPC" --private-key "$KEY" --create "$(cat "$BYTECODE_FILE")" >/dev/null
	[ "$(cast code "$EXPECTED" --rpc-url "$RPC")" != "0x" ] || { echo "deployer: deployment failed" >&2; exit 1; }
	echo "deployer: RentalMarket deployed at $EXPECTED"
else
	echo "deployer: RentalMarket already at $EXPECTED"
fi

cast send --rpc-url "$RPC" --private-key "$KEY" "$EXPECTED" "registerHost(bytes32,uint256)" "$HOST" "$PRICE" >/dev/null
echo "deployer: host $HOST registered at $PRICE wei/s, provider $DEPLOYER"

PIN="0x0000000000000000000000000000000000000000000000000000000000000000"
if [ -n "$TLS_DIR" ]; then
	if [ ! -s "$TLS_DIR/tls.crt" ] || [ ! -s "$TLS_DIR/tls.key" ]; then
		mkdir -p "$TLS_DIR"
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj /CN=gpuflow-agent \
			-keyout "$TLS_DIR/tls.key.new" -out "$TLS_DIR/tls.crt.new" 2>/dev/null
		mv "$TLS_DIR/tls.key.new" "$TLS_DIR/tls.key"
		mv "$TLS_DIR/tls.crt.new" "$TLS_DIR/tls.crt"
		[ -n "${TLS_OWNER:-}" ] && chown "$TLS_OWNER" "$TLS_DIR/tls.key" "$TLS_DIR/tls.crt"
		echo "deployer: made a self-signed TLS certificate in $TLS_DIR"
	fi
	PIN="0x$(openssl x509 -in "$TLS_DIR/tls.crt" -pubkey -noout | openssl pkey -pubin -outform der \
		| openssl dgst -sha256 -binary | od -An -tx1 | tr -d ' \n')"
fi
if [ -n "$PUBLIC_URL" ]; then
	cast send --rpc-url "$RPC" --private-key "$KEY" "$EXPECTED" "setHostEndpoint(bytes32,string,bytes32)" \
		"$HOST" "$PUBLIC_URL" "$PIN" >/dev/null
	echo "deployer: published $PUBLIC_URL with TLS pin $PIN"
fi
