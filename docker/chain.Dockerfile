# The dev chain (anvil) and the one-shot deployer of docker-compose.yml, from the same npm
# manifest as contracts/ (anvil and cast 1.7.1 as npm packages, so the versions match the tests).
FROM node:22.12.0-bookworm-slim
# cast refuses every RPC call, even plain http://, when the system has no CA store ("No CA
# certificates were loaded from the system"), and the slim Node image ships none. openssl: the
# deployer makes the agent's TLS certificate and computes its pin.
RUN apt-get update \
	&& apt-get install -y --no-install-recommends ca-certificates openssl \
	&& apt-get clean \
	&& rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
WORKDIR /opt/contracts
COPY contracts/package.json contracts/package-lock.json ./
# Link the platform binaries, not node_modules/.bin: those Node wrappers exit 0 even on failure.
RUN npm ci --no-audit --no-fund \
	&& npm cache clean --force \
	&& ln -s "$(ls -d /opt/contracts/node_modules/@foundry-rs/anvil-linux-*/bin/anvil | head -n 1)" /usr/local/bin/anvil \
	&& ln -s "$(ls -d /opt/contracts/node_modules/@foundry-rs/cast-linux-*/bin/cast | head -n 1)" /usr/local/bin/cast \
	&& anvil --version && cast --version
# The healthcheck's and the deployer's call, made here: `cast --version` passes without a CA store,
# an RPC call does not. A throwaway anvil answers it.
RUN anvil --port 18545 --silent & anvil_pid=$!; \
	ok=""; for i in $(seq 1 50); do \
		if cast chain-id --rpc-url http://127.0.0.1:18545 >/dev/null; then ok=1; break; fi; sleep 0.2; \
	done; \
	kill "$anvil_pid"; wait "$anvil_pid" 2>/dev/null; \
	[ -n "$ok" ] || { echo "cast cannot make an RPC call in this image" >&2; exit 1; }
COPY contracts/build.js ./
COPY contracts/src src
COPY contracts/out out
COPY docker/deploy-rental-market.sh /usr/local/bin/deploy-rental-market
EXPOSE 8545
HEALTHCHECK --interval=2s --timeout=3s --retries=30 CMD ["cast", "chain-id", "--rpc-url", "http://127.0.0.1:8545"]
CMD ["anvil", "--host", "0.0.0.0", "--port", "8545"]
