package com.gpuflow.agent.wireguard;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;

/**
 * The parsed output of {@code wg show <if> dump}. The first line describes the interface (private
 * key, public key, listen port, fwmark), every further line a peer (public key, preshared key,
 * endpoint, allowed ips, latest handshake, rx bytes, tx bytes, persistent keepalive), all
 * tab-separated. The interface's private key is dropped here, so no key material travels further.
 */
record WgDump(Optional<String> publicKey, int listenPort, List<LivePeer> peers) {

	static WgDump parse(String output) {
		String[] lines = output.split("\n");
		Optional<String> publicKey = Optional.empty();
		int listenPort = 0;
		List<LivePeer> peers = new ArrayList<>(Math.max(0, lines.length - 1));
		boolean sawInterface = false;
		for (int number = 0; number < lines.length; number++) {
			String line = lines[number];
			if (line.isBlank()) {
				continue;
			}
			String[] fields = line.split("\t", -1);
			if (!sawInterface) {
				if (fields.length != 4) {
					throw new IllegalArgumentException(
							"wg dump line 1 should describe the interface with 4 fields, has " + fields.length);
				}
				publicKey = none(fields[1]);
				listenPort = (int) number(fields[2], "listen port", number);
				sawInterface = true;
				continue;
			}
			if (fields.length != 8) {
				throw new IllegalArgumentException(
						"wg dump line " + (number + 1) + " should describe a peer with 8 fields, has " + fields.length);
			}
			peers.add(peer(fields, number));
		}
		if (!sawInterface) {
			throw new IllegalArgumentException("wg dump is empty");
		}
		return new WgDump(publicKey, listenPort, List.copyOf(peers));
	}

	List<Peer> configuredPeers() {
		return peers.stream().map(LivePeer::peer).toList();
	}

	private static LivePeer peer(String[] fields, int number) {
		String publicKey = fields[0];
		if (!Peer.isPublicKey(publicKey)) {
			throw new IllegalArgumentException("wg dump line " + (number + 1) + " has no valid public key");
		}
		Optional<String> endpoint = none(fields[2]);
		List<String> allowedIps = none(fields[3]).map(ips -> Arrays.asList(ips.split(","))).orElse(List.of());
		long handshake = number(fields[4], "latest handshake", number);
		long rx = number(fields[5], "rx bytes", number);
		long tx = number(fields[6], "tx bytes", number);
		int keepalive = "off".equals(fields[7]) ? 0 : (int) number(fields[7], "persistent keepalive", number);
		return LivePeer.of(new Peer(publicKey, new TreeSet<>(allowedIps), keepalive, endpoint), none(fields[1]).isPresent(),
				handshake, rx, tx);
	}

	private static Optional<String> none(String field) {
		return "(none)".equals(field) || field.isEmpty() ? Optional.empty() : Optional.of(field);
	}

	private static long number(String field, String what, int number) {
		try {
			long value = Long.parseLong(field);
			if (value < 0) {
				throw new NumberFormatException();
			}
			return value;
		}
		catch (NumberFormatException e) {
			throw new IllegalArgumentException("wg dump line " + (number + 1) + ": " + what + " is not a number");
		}
	}

}
