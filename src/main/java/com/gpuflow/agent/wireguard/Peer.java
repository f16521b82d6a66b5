package com.gpuflow.agent.wireguard;

import java.util.Collection;
import java.util.Collections;
import java.util.Optional;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * A peer as WireGuard holds it: what the diff compares. Allowed IPs are a set (order on the
 * interface means nothing), normalised to CIDR form so {@code 10.0.0.5} equals
 * {@code 10.0.0.5/32}. A keepalive of 0 means off.
 */
record Peer(String publicKey, SortedSet<String> allowedIps, int keepalive, Optional<String> endpoint) {

	Peer {
		if (!isPublicKey(publicKey)) {
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

	Peer withEndpoint(String hostPort) {
		return new Peer(publicKey, allowedIps, keepalive, Optional.of(hostPort));
	}

	Peer withAllowedIps(Collection<String> ips) {
		return new Peer(publicKey, new TreeSet<>(ips), keepalive, endpoint);
	}

	/**
	 * Base64 of 32 bytes: 43 characters, the last carrying only 4 bits, then '='. Checked by hand
	 * rather than by a regex: it runs for every peer of every pass.
	 */
	static boolean isPublicKey(String value) {
		if (value == null || value.length() != 44 || value.charAt(43) != '=') {
			return false;
		}
		for (int i = 0; i < 43; i++) {
			char c = value.charAt(i);
			boolean base64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+'
					|| c == '/';
			if (!base64) {
				return false;
			}
		}
		return "AEIMQUYcgkosw048".indexOf(value.charAt(42)) >= 0;
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
