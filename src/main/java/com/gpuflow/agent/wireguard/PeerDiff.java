package com.gpuflow.agent.wireguard;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Compares the wanted peers with the live ones and plans only what differs. Pure: no I/O, so the
 * whole behaviour is unit-tested. Peers are indexed by public key and compared field by field
 * (allowed IPs as sets), so a peer that matches is never touched: re-sending it would cost time
 * at scale and, for keepalive, could trigger handshakes.
 */
final class PeerDiff {

	private PeerDiff() {
	}

	/**
	 * @param desired the wanted peers; one per public key
	 * @param actual the peers on the live interface
	 */
	static PeerPlan between(Collection<Peer> desired, Collection<Peer> actual) {
		Map<String, Peer> live = index(actual, "live");
		Map<String, Peer> wanted = index(desired, "wanted");
		List<PeerPlan.Conflict> conflicts = new ArrayList<>();
		wanted = withoutConflicts(wanted, live, conflicts);

		List<Peer> removals = new ArrayList<>();
		for (Peer peer : live.values()) {
			if (!wanted.containsKey(peer.publicKey())) {
				removals.add(peer);
			}
		}

		List<Peer> additions = new ArrayList<>();
		List<PeerPlan.PeerUpdate> updates = new ArrayList<>();
		for (Peer peer : wanted.values()) {
			Peer current = live.get(peer.publicKey());
			if (current == null) {
				additions.add(peer);
				continue;
			}
			PeerPlan.PeerUpdate update = new PeerPlan.PeerUpdate(current, peer);
			if (update.willChangeIps() || update.willChangeKeepalive() || update.willChangeEndpoint()) {
				updates.add(update);
			}
		}

		return new PeerPlan(removals, releases(wanted, live), additions, updates, conflicts);
	}

	/**
	 * Staying peers that hold an address another wanted peer is about to take. They give it up
	 * first, so at no moment do two peers hold it. Removed peers need no release: removals run
	 * first anyway.
	 */
	private static List<Peer> releases(Map<String, Peer> wanted, Map<String, Peer> live) {
		Map<String, String> holderOf = new HashMap<>();
		for (Peer peer : live.values()) {
			for (String ip : peer.allowedIps()) {
				holderOf.put(ip, peer.publicKey());
			}
		}
		Map<String, Set<String>> givenUp = new LinkedHashMap<>();
		for (Peer peer : wanted.values()) {
			for (String ip : peer.allowedIps()) {
				String holder = holderOf.get(ip);
				boolean heldByAnotherStayingPeer = holder != null && !holder.equals(peer.publicKey())
						&& wanted.containsKey(holder);
				if (heldByAnotherStayingPeer) {
					givenUp.computeIfAbsent(holder, k -> new TreeSet<>()).add(ip);
				}
			}
		}
		List<Peer> releases = new ArrayList<>();
		givenUp.forEach((key, ips) -> {
			Peer current = live.get(key);
			Set<String> kept = new TreeSet<>(current.allowedIps());
			kept.removeAll(ips);
			releases.add(current.withAllowedIps(kept));
		});
		return releases;
	}

	/**
	 * The database never lets two sessions hold one address, so a clash here is a bug upstream.
	 * Recover instead of failing the whole pass: the peer that already holds the address live
	 * keeps it (no flapping), otherwise the first one listed.
	 */
	private static Map<String, Peer> withoutConflicts(Map<String, Peer> wanted, Map<String, Peer> live,
			List<PeerPlan.Conflict> conflicts) {
		Map<String, String> claimedBy = new HashMap<>();
		for (Peer peer : wanted.values()) {
			Peer current = live.get(peer.publicKey());
			if (current != null) {
				for (String ip : peer.allowedIps()) {
					if (current.allowedIps().contains(ip)) {
						claimedBy.putIfAbsent(ip, peer.publicKey());
					}
				}
			}
		}
		for (Peer peer : wanted.values()) {
			for (String ip : peer.allowedIps()) {
				claimedBy.putIfAbsent(ip, peer.publicKey());
			}
		}
		Map<String, Peer> result = new LinkedHashMap<>();
		for (Peer peer : wanted.values()) {
			Set<String> kept = new TreeSet<>();
			for (String ip : peer.allowedIps()) {
				String owner = claimedBy.get(ip);
				if (owner.equals(peer.publicKey())) {
					kept.add(ip);
				}
				else {
					conflicts.add(new PeerPlan.Conflict(ip, owner, peer.publicKey()));
				}
			}
			if (kept.size() == peer.allowedIps().size()) {
				result.put(peer.publicKey(), peer);
			}
			else if (!kept.isEmpty()) {
				result.put(peer.publicKey(), peer.withAllowedIps(kept));
			}
			// A peer left with no address is not added at all: it could reach nothing.
		}
		return result;
	}

	private static Map<String, Peer> index(Collection<Peer> peers, String what) {
		Map<String, Peer> byKey = new LinkedHashMap<>();
		for (Peer peer : peers) {
			if (byKey.put(peer.publicKey(), peer) != null) {
				throw new IllegalArgumentException(what + " peers list public key " + peer.publicKey() + " twice");
			}
		}
		return byKey;
	}

}
