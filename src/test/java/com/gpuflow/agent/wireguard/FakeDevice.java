package com.gpuflow.agent.wireguard;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * A model of a WireGuard device that interprets rendered {@code wg set} arguments and
 * {@code addconf} files the way wireguard-go and the kernel do, including the trap: giving an
 * address to one peer silently strips it from the peer that held it. Every such strip is recorded
 * so tests can assert the plan never relies on it.
 */
final class FakeDevice {

	private final Map<String, Peer> peers = new LinkedHashMap<>();

	final List<String> silentStrips = new ArrayList<>();

	final List<String> touched = new ArrayList<>();

	FakeDevice(Collection<Peer> initial) {
		initial.forEach(peer -> peers.put(peer.publicKey(), peer));
	}

	List<Peer> peers() {
		return List.copyOf(peers.values());
	}

	void apply(List<WgInvocation> invocations) {
		for (WgInvocation invocation : invocations) {
			switch (invocation) {
				case WgInvocation.Set set -> applySet(set.args());
				case WgInvocation.AddConf conf -> applyConf(conf.config());
			}
		}
	}

	private void applySet(List<String> args) {
		int i = 0;
		while (i < args.size()) {
			if (!"peer".equals(args.get(i))) {
				throw new AssertionError("expected 'peer' at argument " + i + ", got " + args.get(i));
			}
			String key = args.get(i + 1);
			touched.add(key);
			i += 2;
			Peer peer = peers.getOrDefault(key, Peer.of(key, List.of(), 0));
			boolean removed = false;
			while (i < args.size() && !"peer".equals(args.get(i))) {
				switch (args.get(i)) {
					case "remove" -> {
						removed = true;
						i += 1;
					}
					case "allowed-ips" -> {
						String value = args.get(i + 1);
						peer = assign(peer, value.isEmpty() ? List.of() : List.of(value.split(",")));
						i += 2;
					}
					case "endpoint" -> {
						peer = new Peer(key, peer.allowedIps(), peer.keepalive(), Optional.of(args.get(i + 1)));
						i += 2;
					}
					case "persistent-keepalive" -> {
						String value = args.get(i + 1);
						peer = new Peer(key, peer.allowedIps(), "off".equals(value) ? 0 : Integer.parseInt(value),
								peer.endpoint());
						i += 2;
					}
					default -> throw new AssertionError("unknown wg set option " + args.get(i));
				}
			}
			if (removed) {
				peers.remove(key);
			}
			else {
				peers.put(key, peer);
			}
		}
	}

	private void applyConf(String config) {
		for (String section : config.split("\\[Peer\\]\n")) {
			if (section.isBlank()) {
				continue;
			}
			Map<String, String> fields = new LinkedHashMap<>();
			for (String line : section.split("\n")) {
				if (!line.isBlank()) {
					String[] kv = line.split(" = ", 2);
					fields.put(kv[0], kv[1]);
				}
			}
			String key = fields.get("PublicKey");
			touched.add(key);
			Peer peer = peers.getOrDefault(key, Peer.of(key, List.of(), 0));
			// A config section always replaces the allowed IPs, even when it lists none.
			String ips = fields.getOrDefault("AllowedIPs", "");
			peer = assign(peer, ips.isEmpty() ? List.of() : List.of(ips.split(", ")));
			String keepalive = fields.getOrDefault("PersistentKeepalive", "off");
			Optional<String> endpoint = Optional.ofNullable(fields.get("Endpoint")).or(peer::endpoint);
			peer = new Peer(key, peer.allowedIps(), "off".equals(keepalive) ? 0 : Integer.parseInt(keepalive), endpoint);
			peers.put(key, peer);
		}
	}

	private Peer assign(Peer peer, List<String> ips) {
		for (String ip : ips) {
			String cidr = Peer.cidr(ip);
			for (Peer other : List.copyOf(peers.values())) {
				if (!other.publicKey().equals(peer.publicKey()) && other.allowedIps().contains(cidr)) {
					silentStrips.add(cidr + " taken from " + other.publicKey());
					TreeSet<String> left = new TreeSet<>(other.allowedIps());
					left.remove(cidr);
					peers.put(other.publicKey(), other.withAllowedIps(left));
				}
			}
		}
		return peer.withAllowedIps(ips);
	}

}
