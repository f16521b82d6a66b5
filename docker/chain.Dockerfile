# The dev chain (anvil) and the one-shot deployer of docker-compose.yml, from the same npm
# manifest as contracts/ (anvil and cast 1.7.1 as npm packages, so the versions match the tests).
FROM node:22-bookworm-slim
# openssl: the deployer makes the agent's TLS certificate and computes its pin
RUN apt-get update && apt-get install -y --no-install-recommends openssl ca-certificates \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /opt/contracts
COPY contracts/package.json contracts/package-lock.json ./
# Link the platform binaries, not node_modules/.bin: those Node wrappers exit 0 even on failure.
RUN npm ci --no-audit --no-fund \
	&& ln -s "$(ls -d /opt/contracts/node_modules/@foundry-rs/anvil-linux-*/bin/anvil | head -n 1)" /usr/local/bin/anvil \
	&& ln -s "$(ls -d /opt/contracts/node_modules/@foundry-rs/cast-linux-*/bin/cast | head -n 1)" /usr/local/bin/cast \
	&& anvil --version && cast --version
COPY contracts/build.js ./
COPY contracts/src src
COPY contracts/out out
COPY docker/deploy-rental-market.sh /usr/local/bin/deploy-rental-market
EXPOSE 8545
CMD ["anvil", "--host", "0.0.0.0", "--port", "8545"]
