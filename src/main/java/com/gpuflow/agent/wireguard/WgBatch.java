package com.gpuflow.agent.wireguard;

import java.util.ArrayList;
import java.util.List;

/**
 * Renders a {@link PeerPlan} into as few {@code wg} runs as possible. Forking {@code wg} costs
 * milliseconds per run (1,000 runs took 2.6 s where one run with 1,000 peers took 0.25 s), so
 * the whole plan goes into one {@code wg set} while its argument list fits. Beyond that (the
 * kernel's limit is 2 MB for arguments and environment together) removals and releases still go
 * through {@code wg set}, chunked (a config file cannot remove a peer), and additions and updates
 * through one {@code wg addconf} file. Never {@code setconf}/{@code syncconf}: replacing all peers
 * drops every tunnel.
 */
final class WgBatch {

	/**
	 * Bytes of argument list allowed per run, counted as the kernel does (string, terminating
	 * NUL, pointer); half the usual 2 MB so the environment and the command fit beside it.
	 */
	static final int DEFAULT_ARGUMENT_BUDGET = 1 << 20;

	private WgBatch() {
	}

	static List<WgInvocation> render(PeerPlan plan) {
		return render(plan, DEFAULT_ARGUMENT_BUDGET);
	}

	static List<WgInvocation> render(PeerPlan plan, int argumentBudget) {
		if (plan.isEmpty()) {
			return List.of();
		}
		List<List<String>> removeAndRelease = new ArrayList<>();
		for (Peer peer : plan.removals()) {
			removeAndRelease.add(List.of("peer", peer.publicKey(), "remove"));
		}
		for (Peer peer : plan.releases()) {
			removeAndRelease.add(List.of("peer", peer.publicKey(), "allowed-ips", String.join(",", peer.allowedIps())));
		}
		List<List<String>> configure = new ArrayList<>();
		List<List<String>> keepalives = new ArrayList<>();
		for (Peer peer : plan.additions()) {
			configure.add(configureArgs(peer, true));
			if (peer.keepalive() != 0) {
				keepalives.add(keepaliveArgs(peer));
			}
		}
		for (PeerPlan.PeerUpdate update : plan.updates()) {
			if (update.willChangeIps() || update.willChangeEndpoint()) {
				configure.add(configureArgs(update.to(), update.willChangeIps()));
			}
			if (update.willChangeKeepalive()) {
				keepalives.add(keepaliveArgs(update.to()));
			}
		}

		List<List<String>> all = new ArrayList<>(removeAndRelease);
		all.addAll(configure);
		// Keepalive last: setting it can send a keepalive (and so a handshake) at once, which
		// should go out with every other setting of the peer already in place.
		all.addAll(keepalives);
		if (cost(all) <= argumentBudget) {
			return List.of(new WgInvocation.Set(flatten(all)));
		}

		List<WgInvocation> invocations = new ArrayList<>(chunked(removeAndRelease, argumentBudget));
		List<Peer> configured = new ArrayList<>(plan.additions());
		for (PeerPlan.PeerUpdate update : plan.updates()) {
			configured.add(update.to());
		}
		if (!configured.isEmpty()) {
			invocations.add(new WgInvocation.AddConf(config(configured), configured.size()));
		}
		return invocations;
	}

	/**
	 * A config file's [Peer] section always replaces the peer's allowed IPs, so each section
	 * carries the full wanted state. Within a section the device applies the keepalive after the
	 * allowed IPs and endpoint, which keeps "keepalive last" per peer.
	 */
	static String config(List<Peer> peers) {
		StringBuilder text = new StringBuilder(peers.size() * 120);
		for (Peer peer : peers) {
			text.append("[Peer]\nPublicKey = ").append(peer.publicKey()).append('\n');
			text.append("AllowedIPs = ").append(String.join(", ", peer.allowedIps())).append('\n');
			peer.endpoint().ifPresent(endpoint -> text.append("Endpoint = ").append(endpoint).append('\n'));
			text.append("PersistentKeepalive = ")
				.append(peer.keepalive() == 0 ? "off" : Integer.toString(peer.keepalive()))
				.append("\n\n");
		}
		return text.toString();
	}

	private static List<String> configureArgs(Peer peer, boolean withIps) {
		List<String> args = new ArrayList<>(6);
		args.add("peer");
		args.add(peer.publicKey());
		if (withIps) {
			// An empty value clears the peer's allowed IPs; wg set always replaces them.
			args.add("allowed-ips");
			args.add(String.join(",", peer.allowedIps()));
		}
		peer.endpoint().ifPresent(endpoint -> {
			args.add("endpoint");
			args.add(endpoint);
		});
		return args;
	}

	private static List<String> keepaliveArgs(Peer peer) {
		return List.of("peer", peer.publicKey(), "persistent-keepalive",
				peer.keepalive() == 0 ? "off" : Integer.toString(peer.keepalive()));
	}

	private static List<WgInvocation> chunked(List<List<String>> groups, int budget) {
		List<WgInvocation> runs = new ArrayList<>();
		List<List<String>> current = new ArrayList<>();
		long used = 0;
		for (List<String> group : groups) {
			long cost = cost(List.of(group));
			if (!current.isEmpty() && used + cost > budget) {
				runs.add(new WgInvocation.Set(flatten(current)));
				current = new ArrayList<>();
				used = 0;
			}
			current.add(group);
			used += cost;
		}
		if (!current.isEmpty()) {
			runs.add(new WgInvocation.Set(flatten(current)));
		}
		return runs;
	}

	/** What the arguments take of the kernel's limit: bytes, a NUL and a pointer each. */
	static long cost(List<List<String>> groups) {
		long bytes = 0;
		for (List<String> group : groups) {
			for (String arg : group) {
				bytes += arg.length() + 1 + Long.BYTES;
			}
		}
		return bytes;
	}

	private static List<String> flatten(List<List<String>> groups) {
		List<String> args = new ArrayList<>(groups.size() * 4);
		groups.forEach(args::addAll);
		return args;
	}

}
