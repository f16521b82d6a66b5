package com.gpuflow.agent.wireguard;

import java.util.Collection;
import java.util.Collections;
import java.util.Optional;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * A peer as WireGuard holds it: what the diff compares. Allowed IPs are a set (order on the
 * interface means nothing), normalised to CIDR form so {@code 10.0.0.5} equals
 * {@code 10.0.0.5/32}. A keepalive of 0 means off.
 */
record Peer(String publicKey, SortedSet<String> allowedIps, int keepalive, Optional<String> endpoint) {

	private static final Pattern KEY = Pattern.compile("[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=");

	Peer {
		if (publicKey == null || !KEY.matcher(publicKey).matches()) {
			throw new IllegalArgumentException("not a WireGuard public key: '" + publicKey + "'");
		}
		if (keepalive < 0 || keepalive > 65535) {
			throw new IllegalArgumentException("keepalive must be 0-65535, was " + keepalive);
		}
		allowedIps = normalise(allowedIps);
		endpoint = endpoint == null ? Optional.empty() : endpoint;
	}

	static Peer of(String publicKey, Collection<String> allowedIps, int keepalive) {
		return new Peer(publicKey, new TreeSet<>(allowedIps), keepalive, Optional.empty());
	}

	Peer withAllowedIps(Collection<String> ips) {
		return new Peer(publicKey, new TreeSet<>(ips), keepalive, endpoint);
	}

	static boolean isPublicKey(String value) {
		return value != null && KEY.matcher(value).matches();
	}

	private static SortedSet<String> normalise(Collection<String> ips) {
		TreeSet<String> normalised = new TreeSet<>();
		if (ips != null) {
			for (String ip : ips) {
				normalised.add(cidr(ip));
			}
		}
		return Collections.unmodifiableSortedSet(normalised);
	}

	/** {@code 10.0.0.5} → {@code 10.0.0.5/32}; {@code fd00::1} → {@code fd00::1/128}. */
	static String cidr(String ip) {
		String trimmed = ip.trim();
		if (trimmed.isEmpty() || trimmed.contains(",") || trimmed.contains(" ")) {
			throw new IllegalArgumentException("not an allowed IP: '" + ip + "'");
		}
		if (trimmed.contains("/")) {
			return trimmed;
		}
		return trimmed + (trimmed.contains(":") ? "/128" : "/32");
	}

}
