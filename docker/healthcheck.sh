#!/bin/sh
# The container's health, in one place for the image's HEALTHCHECK and docker-compose.yml: the
# agent's actuator health is UP. It asks the management port first (MANAGEMENT_PORT, default 9082,
# where the actuator lives when one is configured), then the renter port (SERVER_PORT), each over
# HTTPS (self-signed allowed: this is loopback) and then plain HTTP.
set -u
for port in "${MANAGEMENT_PORT:-9082}" "${SERVER_PORT:-8082}"; do
	for scheme in https http; do
		if curl -fsSk --max-time 3 "$scheme://127.0.0.1:$port/actuator/health" 2>/dev/null | grep -q '"status":"UP"'; then
			exit 0
		fi
	done
done
exit 1
