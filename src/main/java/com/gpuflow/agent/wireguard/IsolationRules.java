package com.gpuflow.agent.wireguard;

import java.util.stream.Collectors;

import com.gpuflow.agent.config.TunnelNetwork;

/**
 * The agent's nftables table for one interface, as text: pure, so every rule is unit-tested and
 * the reconciler compares the same rendering every pass.
 *
 * <p>
 * What arrives from the tunnel may reach the server's tunnel address and nothing else of the host
 * (not its other addresses, not the management port on the tunnel address), and nothing is
 * forwarded out of or into the tunnel, whatever {@code net.ipv4.ip_forward} says. Its source must
 * lie in the tunnel network and not be the server's address; WireGuard's cryptokey routing already
 * drops a packet whose source is not in its peer's AllowedIPs (the renter's own /32), so together a
 * renter can only send as itself. Replies to connections the host opened still pass.
 *
 * <p>
 * Drops in a base chain are final for the packet even when another table accepts it; an accept
 * here ends only this table's verdict. The agent's rules are therefore a floor other firewall
 * tables can add to but not open.
 */
final class IsolationRules {

	/**
	 * @param table the nftables table (family inet), unique per interface
	 * @param interfaceName the agent's WireGuard interface
	 * @param serverAddress the server's tunnel address with the network's prefix, e.g. 10.77.0.1/16
	 * @param managementPort MANAGEMENT_PORT: never reachable from the tunnel
	 */
	record Spec(String table, String interfaceName, String serverAddress, int managementPort) {

		Spec {
			if (!table.matches("[A-Za-z0-9_]+") || !interfaceName.matches("[A-Za-z0-9_.-]+")) {
				throw new IllegalArgumentException("unsafe nft name: " + table + " / " + interfaceName);
			}
		}

		String serverIp() {
			return serverAddress.substring(0, serverAddress.indexOf('/'));
		}

		/** The tunnel network, e.g. 10.77.0.0/16 for 10.77.0.1/16. */
		String network() {
			int prefix = Integer.parseInt(serverAddress.substring(serverAddress.indexOf('/') + 1));
			long mask = prefix == 0 ? 0 : (0xFFFFFFFFL << (32 - prefix)) & 0xFFFFFFFFL;
			return TunnelNetwork.toDotted(TunnelNetwork.parseAddress(serverIp()) & mask) + "/" + prefix;
		}

	}

	private IsolationRules() {
	}

	/**
	 * One nft transaction that replaces the table whole: it creates the table if missing (so the
	 * delete cannot fail), deletes it and adds it again with every rule. nft applies the file
	 * atomically, so packets see either the old rules or the new ones, never none.
	 */
	static String replacement(Spec spec) {
		return """
				table inet %1$s {}
				delete table inet %1$s
				%2$s""".formatted(spec.table(), table(spec));
	}

	/** The table with its rules, in nft's input syntax. */
	static String table(Spec spec) {
		return """
				table inet %1$s {
					chain input {
						type filter hook input priority filter; policy accept;
						iifname "%2$s" meta nfproto != ipv4 counter drop comment "the tunnel carries IPv4 only"
						iifname "%2$s" ip saddr != %3$s counter drop comment "source outside the tunnel network"
						iifname "%2$s" ip saddr %4$s counter drop comment "source claims the server address"
						iifname "%2$s" ct state established,related accept comment "replies to the host's own connections"
						iifname "%2$s" ip daddr %4$s tcp dport %5$d counter drop comment "not the management port"
						iifname "%2$s" ip daddr %4$s accept comment "renters reach the server's tunnel address"
						iifname "%2$s" counter drop comment "and no other address of the host"
					}
					chain forward {
						type filter hook forward priority filter; policy accept;
						iifname "%2$s" counter drop comment "nothing from the tunnel is forwarded, not even to another renter"
						oifname "%2$s" counter drop comment "nothing is forwarded into the tunnel"
					}
				}
				""".formatted(spec.table(), spec.interfaceName(), spec.network(), spec.serverIp(), spec.managementPort());
	}

	/**
	 * What of {@code nft list table} must not change: counters count and handles are nft's, so both
	 * are dropped; indentation and blank lines too.
	 */
	static String normalize(String listing) {
		return listing.lines()
			.map(line -> line.replaceAll("counter packets \\d+ bytes \\d+", "counter").replaceAll("\\s*# handle \\d+", "").strip())
			.filter(line -> !line.isEmpty())
			.collect(Collectors.joining("\n"));
	}

}
