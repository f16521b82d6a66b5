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
# The agent runs as the unprivileged user gpuflow (uid 10001). Only ip, wg, nft and wireguard-go
# get CAP_NET_ADMIN, as file capabilities; they take effect when the container is granted
# NET_ADMIN (docker --cap-add, Kubernetes securityContext.capabilities.add) and privilege
# escalation is allowed (no `no-new-privileges`, Kubernetes allowPrivilegeEscalation: true),
# because a file capability is a gain of privilege at exec. Where that is not allowed, run as root
# with NET_ADMIN only: `--user 0` (docker) or runAsUser: 0 (Helm value securityContext).

# ---- build: Maven on JDK 21 -------------------------------------------------------------------
FROM maven:3.9-eclipse-temurin-21 AS build
WORKDIR /build
# Dependencies first, so a source change does not download them again.
COPY pom.xml .
RUN --mount=type=cache,target=/root/.m2 mvn -B -q dependency:go-offline
COPY src src
COPY db db
# The compiled contract is committed, so the Java build needs no Node.js.
COPY contracts/out contracts/out
RUN --mount=type=cache,target=/root/.m2 mvn -B -q -DskipTests package \
	&& cp target/gpuflow-agent.jar /gpuflow-agent.jar

# ---- the JRE, taken from the official Temurin image --------------------------------------------
FROM eclipse-temurin:21-jre AS jre

# ---- run ---------------------------------------------------------------------------------------
FROM debian:bookworm-slim
# /var/lib/gpuflow holds the server key (WG_PRIVATE_KEY_FILE); /var/run/wireguard holds
# wireguard-go's control socket. /usr/sbin/ip is a link to /usr/bin/ip (merged /usr).
RUN apt-get update \
	&& apt-get install -y --no-install-recommends \
		wireguard-go wireguard-tools nftables iproute2 libcap2-bin ca-certificates tini \
	&& rm -rf /var/lib/apt/lists/* \
	&& setcap cap_net_admin+ep /usr/bin/wireguard-go \
	&& setcap cap_net_admin+ep /usr/bin/wg \
	&& setcap cap_net_admin+ep /usr/sbin/nft \
	&& setcap cap_net_admin+ep /usr/bin/ip \
	&& groupadd --system --gid 10001 gpuflow \
	&& useradd --system --uid 10001 --gid gpuflow --home-dir /var/lib/gpuflow --shell /usr/sbin/nologin gpuflow \
	&& install -d -o gpuflow -g gpuflow -m 0700 /var/lib/gpuflow \
	&& install -d -o gpuflow -g gpuflow -m 0755 /var/run/wireguard

ENV JAVA_HOME=/opt/java/openjdk \
	PATH=/opt/java/openjdk/bin:$PATH \
	JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=75 -XX:+ExitOnOutOfMemoryError"
COPY --from=jre /opt/java/openjdk /opt/java/openjdk
COPY --from=build /gpuflow-agent.jar /opt/gpuflow/gpuflow-agent.jar
COPY docker/entrypoint.sh /opt/gpuflow/entrypoint.sh

USER 10001:10001
WORKDIR /var/lib/gpuflow
VOLUME /var/lib/gpuflow
EXPOSE 51820/udp 8082/tcp
# tini reaps the wireguard-go daemon the agent starts, and forwards SIGTERM to the JVM.
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/gpuflow/entrypoint.sh"]
