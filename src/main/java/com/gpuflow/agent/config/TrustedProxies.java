package com.gpuflow.agent.config;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * {@code GPUFLOW_TRUSTED_PROXIES}: the networks whose {@code X-Forwarded-For} / {@code X-Real-IP}
 * headers are believed. Anyone can write those headers, so a request's client address is the
 * address the connection came from unless that address is a trusted proxy; then it is the first
 * {@code X-Forwarded-For} entry (the client as the outermost proxy saw it), else {@code X-Real-IP}.
 * Only IP literals are read from headers: no name is ever resolved.
 */
public final class TrustedProxies {

	public static final String DEFAULT = "127.0.0.1/32,::1/128";

	// Digits, hex, dots and colons only: InetAddress.getByName then parses a literal and never asks DNS.
	private static final Pattern IP_LITERAL = Pattern.compile("[0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*");

	private record Network(byte[] prefix, int bits) {

		boolean contains(InetAddress address) {
			byte[] bytes = address.getAddress();
			if (bytes.length != prefix.length) {
				return false;
			}
			int whole = bits / 8;
			for (int i = 0; i < whole; i++) {
				if (bytes[i] != prefix[i]) {
					return false;
				}
			}
			int rest = bits % 8;
			if (rest == 0) {
				return true;
			}
			int mask = (0xff << (8 - rest)) & 0xff;
			return (bytes[whole] & mask) == (prefix[whole] & mask);
		}

	}

	private final List<Network> networks;

	private TrustedProxies(List<Network> networks) {
		this.networks = List.copyOf(networks);
	}

	/**
	 * @param text comma-separated CIDRs (a bare address is a /32 or /128); blank trusts nobody
	 * @throws InvalidSettingException naming {@code GPUFLOW_TRUSTED_PROXIES}
	 */
	public static TrustedProxies parse(String text) {
		List<Network> networks = new ArrayList<>();
		for (String part : text == null ? new String[0] : text.split(",")) {
			String cidr = part.trim();
			if (cidr.isEmpty()) {
				continue;
			}
			int slash = cidr.indexOf('/');
			InetAddress address = literal(slash < 0 ? cidr : cidr.substring(0, slash))
				.orElseThrow(() -> new InvalidSettingException("GPUFLOW_TRUSTED_PROXIES", "'" + cidr + "' is not a CIDR"));
			int max = address.getAddress().length * 8;
			int bits;
			try {
				bits = slash < 0 ? max : Integer.parseInt(cidr.substring(slash + 1));
			}
			catch (NumberFormatException e) {
				bits = -1;
			}
			if (bits < 0 || bits > max) {
				throw new InvalidSettingException("GPUFLOW_TRUSTED_PROXIES", "'" + cidr + "' has a prefix length outside 0-" + max);
			}
			networks.add(new Network(address.getAddress(), bits));
		}
		return new TrustedProxies(networks);
	}

	public boolean trusts(InetAddress address) {
		return address != null && networks.stream().anyMatch(n -> n.contains(address));
	}

	/**
	 * The client a request stands for.
	 * @param remote the address the connection came from
	 * @param forwardedFor the {@code X-Forwarded-For} header values (may be empty)
	 * @param realIp the {@code X-Real-IP} header (may be null)
	 */
	public InetAddress clientOf(InetAddress remote, List<String> forwardedFor, String realIp) {
		if (!trusts(remote)) {
			return remote;
		}
		if (forwardedFor != null && !forwardedFor.isEmpty()) {
			String first = forwardedFor.get(0).split(",", 2)[0].trim();
			return literal(first).orElse(remote);
		}
		if (realIp != null) {
			return literal(realIp.trim()).orElse(remote);
		}
		return remote;
	}

	/** An IP literal (IPv6 possibly in brackets), never resolved through DNS. */
	public static Optional<InetAddress> literal(String text) {
		String bare = text.startsWith("[") && text.endsWith("]") ? text.substring(1, text.length() - 1) : text;
		if (bare.isEmpty() || bare.length() > 45 || !IP_LITERAL.matcher(bare).matches()) {
			return Optional.empty();
		}
		try {
			return Optional.of(InetAddress.getByName(bare));
		}
		catch (UnknownHostException e) {
			return Optional.empty();
		}
	}

}
