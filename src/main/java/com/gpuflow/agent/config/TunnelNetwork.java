package com.gpuflow.agent.config;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * An IPv4 tunnel network such as {@code 10.77.0.0/16}. Addresses are handled as unsigned 32-bit
 * values in a {@code long}, so arithmetic on them needs no byte juggling.
 */
public record TunnelNetwork(long base, int prefixLength) {

	public TunnelNetwork {
		if (prefixLength < 8 || prefixLength > 30) {
			throw new IllegalArgumentException("prefix length must be between /8 and /30, was /" + prefixLength);
		}
		if ((base & ~mask(prefixLength)) != 0) {
			throw new IllegalArgumentException(toDotted(base) + "/" + prefixLength + " has host bits set");
		}
	}

	public static TunnelNetwork parse(String cidr) {
		if (cidr == null || !cidr.matches("\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}")) {
			throw new IllegalArgumentException("'" + cidr + "' is not an IPv4 CIDR such as 10.77.0.0/16");
		}
		String[] parts = cidr.split("/");
		return new TunnelNetwork(parseAddress(parts[0]), Integer.parseInt(parts[1]));
	}

	/** The server's own tunnel address: the first host address. */
	public long serverAddress() {
		return base + 1;
	}

	public long firstRenterAddress() {
		return base + 2;
	}

	/** The last usable host address (the broadcast address is excluded). */
	public long lastRenterAddress() {
		return base + size() - 2;
	}

	public long size() {
		return 1L << (32 - prefixLength);
	}

	public int renterCapacity() {
		return (int) (lastRenterAddress() - firstRenterAddress() + 1);
	}

	public boolean contains(long address) {
		return (address & mask(prefixLength)) == base;
	}

	public String cidr() {
		return toDotted(base) + "/" + prefixLength;
	}

	@Override
	public String toString() {
		return cidr();
	}

	public static long parseAddress(String dotted) {
		String[] octets = dotted.split("\\.", -1);
		if (octets.length != 4) {
			throw new IllegalArgumentException("'" + dotted + "' is not an IPv4 address");
		}
		long value = 0;
		for (String octet : octets) {
			if (!octet.matches("\\d{1,3}")) {
				throw new IllegalArgumentException("'" + dotted + "' is not an IPv4 address");
			}
			int part = Integer.parseInt(octet);
			if (part > 255) {
				throw new IllegalArgumentException("'" + dotted + "' is not an IPv4 address");
			}
			value = (value << 8) | part;
		}
		return value;
	}

	public static String toDotted(long address) {
		return ((address >> 24) & 0xff) + "." + ((address >> 16) & 0xff) + "." + ((address >> 8) & 0xff) + "."
				+ (address & 0xff);
	}

	public static InetAddress toInetAddress(long address) {
		try {
			return Inet4Address.getByAddress(new byte[] { (byte) (address >> 24), (byte) (address >> 16),
					(byte) (address >> 8), (byte) address });
		}
		catch (UnknownHostException impossible) {
			throw new IllegalStateException(impossible);
		}
	}

	private static long mask(int prefixLength) {
		return (0xffffffffL << (32 - prefixLength)) & 0xffffffffL;
	}

}
