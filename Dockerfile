# syntax=docker/dockerfile:1
#
# gpuflow-agent image: the Spring Boot jar on a Temurin 21 JRE, on Debian bookworm because Debian
# packages wireguard-go (the userspace WireGuard used when the kernel module is missing),
# wireguard-tools (wg), nftables (the renter-isolation rule) and iproute2 (ip link).
#
# Build:  docker build -t gpuflow-agent .
# Run:    the container needs CAP_NET_ADMIN and, for userspace WireGuard, /dev/net/tun:
#   docker run --cap-add NET_ADMIN --device /dev/net/tun -p 51820:51820/udp -p 8082:8082 \
#     -e SPRING_DATASOURCE_URL=... -e RENTAL_CONTRACT=0x... -e HOST_ID=0x... -e WG_ENDPOINT=host:51820 \
#     -v gpuflow-key:/var/lib/gpuflow gpuflow-agent
#
# Capabilities (README "Container"): the image starts as root and its entrypoint drops to the
# unprivileged user gpuflow (uid 10001) with NET_ADMIN as its only capability, kept ambient so the
# ip, wg, nft and wireguard-go the agent starts have it, and with no_new_privs. Docker and
# Kubernetes give a container started as non-root no ambient capabilities, so `--user 10001` would
# leave the agent's tools without NET_ADMIN. Root needs SETUID and SETGID (and CHOWN for a volume
# that arrives root-owned) for the drop; Docker's default capabilities include them.
#
# Base images are pinned by tag; pin them by digest where your registry is reachable
# (docker buildx imagetools inspect <image>:<tag>).

# ---- build: Maven on JDK 21 -------------------------------------------------------------------
FROM maven:3.9.9-eclipse-temurin-21 AS build
WORKDIR /build
# Maven's repository is a build cache, not a layer: dependencies are downloaded once per builder.
COPY pom.xml .
COPY src/main src/main
COPY db db
# The compiled contract is committed, so the Java build needs no Node.js.
COPY contracts/out contracts/out
RUN --mount=type=cache,target=/root/.m2 mvn -B -q -ntp -Dmaven.test.skip=true package \
	&& cp target/gpuflow-agent.jar /gpuflow-agent.jar

# ---- the JRE, taken from the official Temurin image --------------------------------------------
FROM eclipse-temurin:21.0.5_11-jre AS jre

# ---- run ---------------------------------------------------------------------------------------
FROM debian:12.8-slim
# /var/lib/gpuflow holds the server key (WG_PRIVATE_KEY_FILE); /var/run/wireguard holds
# wireguard-go's control socket. setpriv (util-linux, essential) does the drop to uid 10001; curl
# is for the HEALTHCHECK. Set-id bits are removed: nothing in the agent's container needs them.
RUN apt-get update \
	&& apt-get install -y --no-install-recommends \
		wireguard-go wireguard-tools nftables iproute2 ca-certificates tini curl \
	&& apt-get clean \
	&& rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
	&& find / -xdev -perm /6000 -type f -exec chmod a-s {} + \
	&& command -v setpriv \
	&& groupadd --system --gid 10001 gpuflow \
	&& useradd --system --uid 10001 --gid gpuflow --home-dir /var/lib/gpuflow --shell /usr/sbin/nologin gpuflow \
	&& install -d -o gpuflow -g gpuflow -m 0700 /var/lib/gpuflow \
	&& install -d -o gpuflow -g gpuflow -m 0755 /var/run/wireguard

ENV JAVA_HOME=/opt/java/openjdk \
	PATH=/opt/java/openjdk/bin:$PATH \
	JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=75 -XX:+ExitOnOutOfMemoryError"
COPY --from=jre /opt/java/openjdk /opt/java/openjdk
COPY --from=build /gpuflow-agent.jar /opt/gpuflow/gpuflow-agent.jar
COPY docker/entrypoint.sh docker/healthcheck.sh /opt/gpuflow/

WORKDIR /var/lib/gpuflow
VOLUME /var/lib/gpuflow
EXPOSE 51820/udp 8082/tcp
# The one health check of the image and of docker-compose.yml: docker/healthcheck.sh.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["/opt/gpuflow/healthcheck.sh"]
# tini reaps the wireguard-go daemon the agent starts, and forwards SIGTERM to the JVM.
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/gpuflow/entrypoint.sh"]
