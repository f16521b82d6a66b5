package com.gpuflow.agent.config;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Pattern;

import org.springframework.boot.convert.DurationStyle;

/**
 * Every setting of the SPEC, validated once at start. Each problem names the environment variable
 * an operator sets, so a bad value stops the start with one clear line.
 */
public record AgentSettings(String hostId, String rentalContract, URI chainRpcUrl, Optional<URI> chainWsUrl,
		int chainConfirmations, long chainStartBlock, Duration chainPollInterval, String wgInterface, int wgPort,
		TunnelNetwork wgCidr, HostPort wgEndpoint, WgImplementation wgImplementation, Path wgPrivateKeyFile,
		int wgKeepalive, Duration reconcileInterval, int serverPort, URI publicUrl, Optional<String> auditToken,
		Optional<byte[]> keyEncryptionKey, TrustedProxies trustedProxies) {

	public enum WgImplementation {

		KERNEL, USERSPACE, AUTO

	}

	public record HostPort(String host, int port) {

		@Override
		public String toString() {
			return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
		}

	}

	private static final Pattern BYTES32 = Pattern.compile("0x[0-9a-fA-F]{64}");

	private static final Pattern ADDRESS = Pattern.compile("0x[0-9a-fA-F]{40}");

	// Linux interface names: at most 15 bytes, no slash or whitespace.
	private static final Pattern INTERFACE = Pattern.compile("[A-Za-z0-9_.=+-]{1,15}");

	/**
	 * @param lookup gives the raw value of a Spring property name (relaxed binding maps the
	 * environment variable {@code CHAIN_RPC_URL} to {@code chain.rpc-url}), or null when unset
	 */
	public static AgentSettings from(Function<String, String> lookup) {
		Reader in = new Reader(lookup);
		String hostId = in.required("host-id", "HOST_ID");
		if (!BYTES32.matcher(hostId).matches()) {
			throw new InvalidSettingException("HOST_ID", "must be 0x followed by 64 hex digits (bytes32), was '" + hostId + "'");
		}
		String contract = in.required("rental-contract", "RENTAL_CONTRACT");
		if (!ADDRESS.matcher(contract).matches()) {
			throw new InvalidSettingException("RENTAL_CONTRACT", "must be an address: 0x followed by 40 hex digits, was '" + contract + "'");
		}
		URI rpc = in.uri("chain.rpc-url", "CHAIN_RPC_URL", "http://127.0.0.1:8545", "http", "https");
		Optional<URI> ws = Optional.ofNullable(in.raw("chain.ws-url"))
			.filter(v -> !v.isBlank())
			.map(v -> in.uri("chain.ws-url", "CHAIN_WS_URL", v, "ws", "wss"));
		int confirmations = in.integer("chain.confirmations", "CHAIN_CONFIRMATIONS", 2, 0, 10_000);
		long startBlock = in.longValue("chain.start-block", "CHAIN_START_BLOCK", 0);
		Duration poll = in.duration("chain.poll-interval", "CHAIN_POLL_INTERVAL", "1s");
		String wgInterface = in.optional("wg.interface", "wg0");
		if (!INTERFACE.matcher(wgInterface).matches()) {
			throw new InvalidSettingException("WG_INTERFACE", "'" + wgInterface + "' is not a valid interface name (1-15 of A-Z a-z 0-9 _ . = + -)");
		}
		int wgPort = in.integer("wg.port", "WG_PORT", 51820, 1, 65535);
		TunnelNetwork cidr;
		try {
			cidr = TunnelNetwork.parse(in.optional("wg.cidr", "10.77.0.0/16"));
		}
		catch (IllegalArgumentException e) {
			throw new InvalidSettingException("WG_CIDR", e.getMessage());
		}
		HostPort endpoint = hostPort(in.required("wg.endpoint", "WG_ENDPOINT"));
		WgImplementation implementation;
		String impl = in.optional("wg.implementation", "auto");
		try {
			implementation = WgImplementation.valueOf(impl.trim().toUpperCase(Locale.ROOT));
		}
		catch (IllegalArgumentException e) {
			throw new InvalidSettingException("WG_IMPLEMENTATION", "must be kernel, userspace or auto, was '" + impl + "'");
		}
		Path keyFile = Path.of(in.optional("wg.private-key-file", "/var/lib/gpuflow/server.key"));
		int keepalive = in.integer("wg.keepalive", "WG_KEEPALIVE", 25, 0, 65535);
		Duration reconcile = in.duration("reconcile.interval", "RECONCILE_INTERVAL", "5s");
		int serverPort = in.integer("server.port", "SERVER_PORT", 8082, 0, 65535);
		// HTTPS unless GPUFLOW_TLS=off (the tls package names a bad value of it at start).
		String scheme = "off".equalsIgnoreCase(String.valueOf(in.raw("gpuflow.tls")).trim()) ? "http://" : "https://";
		String defaultPublicUrl = scheme + (endpoint.host().contains(":") ? "[" + endpoint.host() + "]" : endpoint.host())
				+ ":" + serverPort;
		URI publicUrl = in.uri("gpuflow.public-url", "GPUFLOW_PUBLIC_URL", defaultPublicUrl, "http", "https");
		Optional<String> auditToken = Optional.ofNullable(in.raw("audit-token")).filter(t -> !t.isBlank());
		if (auditToken.isPresent() && auditToken.get().length() < 16) {
			throw new InvalidSettingException("AUDIT_TOKEN", "must be at least 16 characters");
		}
		Optional<byte[]> kek = Optional.ofNullable(in.raw("gpuflow.key-encryption-key"))
			.filter(v -> !v.isBlank())
			.map(AgentSettings::keyEncryptionKey);
		TrustedProxies trustedProxies;
		try {
			trustedProxies = TrustedProxies.parse(in.optional("gpuflow.trusted-proxies", TrustedProxies.DEFAULT));
		}
		catch (IllegalArgumentException e) {
			throw new InvalidSettingException("GPUFLOW_TRUSTED_PROXIES", e.getMessage());
		}
		return new AgentSettings(hostId.toLowerCase(Locale.ROOT), contract.toLowerCase(Locale.ROOT), rpc, ws,
				confirmations, startBlock, poll, wgInterface, wgPort, cidr, endpoint, implementation, keyFile, keepalive,
				reconcile, serverPort, publicUrl, auditToken, kek, trustedProxies);
	}

	static HostPort hostPort(String value) {
		String v = value.trim();
		int colon = v.lastIndexOf(':');
		if (colon <= 0 || colon == v.length() - 1) {
			throw new InvalidSettingException("WG_ENDPOINT", "must be host:port, was '" + value + "'");
		}
		String host = v.substring(0, colon);
		if (host.startsWith("[") && host.endsWith("]")) {
			host = host.substring(1, host.length() - 1);
		}
		else if (host.contains(":")) {
			throw new InvalidSettingException("WG_ENDPOINT", "an IPv6 endpoint needs brackets: [addr]:port, was '" + value + "'");
		}
		int port;
		try {
			port = Integer.parseInt(v.substring(colon + 1));
		}
		catch (NumberFormatException e) {
			throw new InvalidSettingException("WG_ENDPOINT", "port is not a number in '" + value + "'");
		}
		if (port < 1 || port > 65535 || host.isBlank() || host.matches(".*\\s.*")) {
			throw new InvalidSettingException("WG_ENDPOINT", "must be host:port with a port 1-65535, was '" + value + "'");
		}
		return new HostPort(host, port);
	}

	private static byte[] keyEncryptionKey(String base64) {
		byte[] key;
		try {
			key = Base64.getDecoder().decode(base64.trim());
		}
		catch (IllegalArgumentException e) {
			throw new InvalidSettingException("GPUFLOW_KEY_ENCRYPTION_KEY", "is not valid base64");
		}
		if (key.length != 32) {
			throw new InvalidSettingException("GPUFLOW_KEY_ENCRYPTION_KEY", "must be base64 of exactly 32 bytes, was " + key.length + " bytes");
		}
		return key;
	}

	/** The server's own tunnel address, for example 10.77.0.1. */
	public String serverTunnelIp() {
		return TunnelNetwork.toDotted(wgCidr.serverAddress());
	}

	@Override
	public String toString() {
		// Never print the token or the key-encryption key.
		return "AgentSettings[hostId=" + hostId + ", contract=" + rentalContract + ", rpc=" + chainRpcUrl + ", confirmations="
				+ chainConfirmations + ", interface=" + wgInterface + ", cidr=" + wgCidr + ", endpoint=" + wgEndpoint
				+ ", implementation=" + wgImplementation + "]";
	}

	record Reader(Function<String, String> lookup) {

		String raw(String property) {
			String value = lookup.apply(property);
			return value == null ? null : value.trim();
		}

		String required(String property, String key) {
			String value = raw(property);
			if (value == null || value.isEmpty()) {
				throw new InvalidSettingException(key, "is required");
			}
			return value;
		}

		String optional(String property, String fallback) {
			String value = raw(property);
			return value == null || value.isEmpty() ? fallback : value;
		}

		int integer(String property, String key, int fallback, int min, int max) {
			long value = longValue(property, key, fallback);
			if (value < min || value > max) {
				throw new InvalidSettingException(key, "must be between " + min + " and " + max + ", was " + value);
			}
			return (int) value;
		}

		long longValue(String property, String key, long fallback) {
			String value = raw(property);
			if (value == null || value.isEmpty()) {
				return fallback;
			}
			try {
				long parsed = Long.parseLong(value);
				if (parsed < 0) {
					throw new InvalidSettingException(key, "must not be negative, was " + value);
				}
				return parsed;
			}
			catch (NumberFormatException e) {
				throw new InvalidSettingException(key, "must be a whole number, was '" + value + "'");
			}
		}

		Duration duration(String property, String key, String fallback) {
			String value = optional(property, fallback);
			Duration duration;
			try {
				duration = DurationStyle.detectAndParse(value);
			}
			catch (IllegalArgumentException | DateTimeParseException e) {
				throw new InvalidSettingException(key, "must be a duration such as 500ms, 1s or 2m, was '" + value + "'");
			}
			if (duration.isNegative() || duration.isZero()) {
				throw new InvalidSettingException(key, "must be positive, was '" + value + "'");
			}
			return duration;
		}

		URI uri(String property, String key, String fallback, String... schemes) {
			String value = optional(property, fallback);
			URI uri;
			try {
				uri = URI.create(value);
			}
			catch (IllegalArgumentException e) {
				throw new InvalidSettingException(key, "is not a URL: '" + value + "'");
			}
			if (uri.getScheme() == null || uri.getHost() == null
					|| !java.util.Arrays.asList(schemes).contains(uri.getScheme().toLowerCase(Locale.ROOT))) {
				throw new InvalidSettingException(key, "must be a " + String.join(" or ", schemes) + " URL, was '" + value + "'");
			}
			return uri;
		}

	}

}
