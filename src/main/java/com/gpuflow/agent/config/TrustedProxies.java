package com.gpuflow.agent.config;

import java.math.BigInteger;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * {@code GPUFLOW_TRUSTED_PROXIES}: the networks whose {@code X-Forwarded-For} / {@code X-Real-IP}
 * forward-auth believes. Pure: addresses are parsed as literals and never looked up, so neither a
 * setting nor a forged header can make the agent ask DNS anything.
 */
public final class TrustedProxies {

	public static final String DEFAULT = "127.0.0.1/32,::1/128";

	private static final Pattern OCTET = Pattern.compile("0|[1-9]\\d{0,2}");

	private static final Pattern IPV6 = Pattern.compile("[0-9a-fA-F:.]{2,45}");

	private record Network(byte[] base, int prefix) {

		boolean contains(byte[] address) {
			if (address.length != base.length) {
				return false;
			}
			int full = prefix / 8;
			for (int i = 0; i < full; i++) {
				if (address[i] != base[i]) {
					return false;
				}
			}
			int rest = prefix % 8;
			if (rest == 0) {
				return true;
			}
			int mask = (0xff << (8 - rest)) & 0xff;
			return (address[full] & mask) == (base[full] & mask);
		}

		@Override
		public String toString() {
			try {
				return InetAddress.getByAddress(base).getHostAddress() + "/" + prefix;
			}
			catch (UnknownHostException e) {
				throw new IllegalStateException(e);
			}
		}

	}

	private final List<Network> networks;

	private TrustedProxies(List<Network> networks) {
		this.networks = List.copyOf(networks);
	}

	/**
	 * Comma-separated CIDRs ({@code 10.0.0.0/8}) or single addresses; empty trusts nobody.
	 * @throws IllegalArgumentException naming the bad entry
	 */
	public static TrustedProxies parse(String value) {
		List<Network> networks = new ArrayList<>();
		for (String raw : value.split(",")) {
			String entry = raw.strip();
			if (entry.isEmpty()) {
				continue;
			}
			int slash = entry.indexOf('/');
			String addressPart = slash < 0 ? entry : entry.substring(0, slash);
			byte[] address = literal(addressPart)
				.orElseThrow(() -> new IllegalArgumentException("'" + entry + "' is not an IP address or CIDR"));
			int bits = address.length * 8;
			int prefix = bits;
			if (slash >= 0) {
				String length = entry.substring(slash + 1);
				if (!length.matches("\\d{1,3}") || Integer.parseInt(length) > bits) {
					throw new IllegalArgumentException("'" + entry + "' has a prefix length outside 0-" + bits);
				}
				prefix = Integer.parseInt(length);
			}
			// Host bits set (10.0.0.1/8) are most likely a typo for a single address: refuse rather than guess.
			BigInteger hostBits = new BigInteger(1, address).and(BigInteger.ONE.shiftLeft(bits - prefix).subtract(BigInteger.ONE));
			if (hostBits.signum() != 0) {
				throw new IllegalArgumentException("'" + entry + "' has bits set past its /" + prefix);
			}
			networks.add(new Network(address, prefix));
		}
		return new TrustedProxies(networks);
	}

	/** Whether {@code address} (a literal, IPv4, IPv6 or IPv4-mapped IPv6) lies in a trusted network. */
	public boolean trusts(InetAddress address) {
		byte[] bytes = normalize(address.getAddress());
		for (Network network : networks) {
			if (network.contains(bytes)) {
				return true;
			}
		}
		return false;
	}

	/**
	 * The client a request stands for: the first {@code X-Forwarded-For} entry, else {@code X-Real-IP},
	 * when the connection comes from a trusted proxy and the header is an address literal; else the
	 * connection's own address.
	 * @param forwardedFor the {@code X-Forwarded-For} header values (may be null or empty)
	 * @param realIp the {@code X-Real-IP} header (may be null)
	 */
	public InetAddress clientOf(InetAddress remote, List<String> forwardedFor, String realIp) {
		if (!trusts(remote)) {
			return remote;
		}
		if (forwardedFor != null && !forwardedFor.isEmpty()) {
			return address(forwardedFor.get(0).split(",", 2)[0].strip()).orElse(remote);
		}
		if (realIp != null) {
			return address(realIp.strip()).orElse(remote);
		}
		return remote;
	}

	/** {@link #literal} as an address. */
	public static Optional<InetAddress> address(String value) {
		return literal(value).map(bytes -> {
			try {
				return InetAddress.getByAddress(bytes);
			}
			catch (UnknownHostException e) {
				throw new IllegalStateException(e);
			}
		});
	}

	/**
	 * Parses an address literal without any name lookup: dotted IPv4 or IPv6 (an IPv4-mapped one
	 * becomes IPv4); empty for anything else, including host names.
	 */
	public static Optional<byte[]> literal(String value) {
		if (value == null || value.isEmpty()) {
			return Optional.empty();
		}
		if (value.indexOf(':') < 0) {
			String[] parts = value.split("\\.", -1);
			if (parts.length != 4) {
				return Optional.empty();
			}
			byte[] bytes = new byte[4];
			for (int i = 0; i < 4; i++) {
				if (!OCTET.matcher(parts[i]).matches() || Integer.parseInt(parts[i]) > 255) {
					return Optional.empty();
				}
				bytes[i] = (byte) Integer.parseInt(parts[i]);
			}
			return Optional.of(bytes);
		}
		String bare = value.startsWith("[") && value.endsWith("]") ? value.substring(1, value.length() - 1) : value;
		if (!IPV6.matcher(bare).matches()) {
			return Optional.empty();
		}
		try {
			// Only characters of an IPv6 literal reach here, and a literal with a colon is parsed, never looked up.
			return Optional.of(normalize(InetAddress.getByName(bare).getAddress()));
		}
		catch (UnknownHostException | IllegalArgumentException e) {
			return Optional.empty();
		}
	}

	/** The canonical text of an address literal (IPv4 dotted, IPv6 compressed lower case), if it is one. */
	public static Optional<String> canonical(String value) {
		return literal(value).map(bytes -> {
			try {
				return InetAddress.getByAddress(bytes).getHostAddress().toLowerCase(Locale.ROOT);
			}
			catch (UnknownHostException e) {
				throw new IllegalStateException(e);
			}
		});
	}

	private static byte[] normalize(byte[] address) {
		if (address.length == 16) {
			boolean mapped = address[10] == (byte) 0xff && address[11] == (byte) 0xff;
			for (int i = 0; i < 10 && mapped; i++) {
				mapped = address[i] == 0;
			}
			if (mapped) {
				return new byte[] { address[12], address[13], address[14], address[15] };
			}
		}
		return address;
	}

	@Override
	public String toString() {
		return networks.toString();
	}

}
