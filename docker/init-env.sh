#!/bin/sh
# Writes the secrets docker-compose.yml needs into .env beside it (or into the file named as the
# first argument): a random AUDIT_TOKEN and GPUFLOW_KEY_ENCRYPTION_KEY (base64 of 32 bytes). A key
# already in the file is kept, so running it again changes nothing: a new key-encryption key would
# make undelivered generated renter keys unreadable. The file is readable by its owner only.
set -eu
env_file="${1:-$(cd "$(dirname "$0")/.." && pwd)/.env}"
umask 077
touch "$env_file"
chmod 600 "$env_file"
random_base64() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }
has() { grep -q "^$1=" "$env_file"; }
added=""
if ! has AUDIT_TOKEN; then
	# URL-safe, no padding: 32 random bytes
	echo "AUDIT_TOKEN=$(random_base64 32 | tr '+/' '-_' | tr -d '=')" >>"$env_file"
	added="$added AUDIT_TOKEN"
fi
if ! has GPUFLOW_KEY_ENCRYPTION_KEY; then
	echo "GPUFLOW_KEY_ENCRYPTION_KEY=$(random_base64 32)" >>"$env_file"
	added="$added GPUFLOW_KEY_ENCRYPTION_KEY"
fi
if [ -n "$added" ]; then
	echo "wrote$added to $env_file"
else
	echo "$env_file already holds AUDIT_TOKEN and GPUFLOW_KEY_ENCRYPTION_KEY; nothing changed"
fi
