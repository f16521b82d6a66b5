package com.gpuflow.agent.wireguard;

import java.util.List;

/**
 * What one pass changes on the interface, in the order it must happen: removals first, then
 * releases (a staying peer gives up an address another peer is about to take), then additions
 * and updates, and keepalives last. Peers that match are in none of the lists.
 *
 * @param removals live peers no longer wanted
 * @param releases staying peers with the allowed IPs they keep until their own update, so an
 * address never has two holders (the device would silently strip the older one)
 * @param additions wanted peers not on the interface
 * @param updates peers on the interface whose allowed IPs, keepalive or endpoint differ
 * @param conflicts addresses two wanted peers claimed; the live holder (or the first) keeps it
 */
record PeerPlan(List<Peer> removals, List<Peer> releases, List<Peer> additions, List<PeerUpdate> updates,
		List<Conflict> conflicts) {

	static final PeerPlan EMPTY = new PeerPlan(List.of(), List.of(), List.of(), List.of(), List.of());

	PeerPlan {
		removals = List.copyOf(removals);
		releases = List.copyOf(releases);
		additions = List.copyOf(additions);
		updates = List.copyOf(updates);
		conflicts = List.copyOf(conflicts);
	}

	/**
	 * The same plan with each added peer given its endpoint from {@code endpoints} (by public key),
	 * if any. Peers that stay are never given one: the device keeps what it learned.
	 */
	PeerPlan withAddedEndpoints(java.util.Map<String, String> endpoints) {
		if (endpoints.isEmpty()) {
			return this;
		}
		List<Peer> added = additions.stream()
			.map(peer -> endpoints.containsKey(peer.publicKey()) ? peer.withEndpoint(endpoints.get(peer.publicKey())) : peer)
			.toList();
		return new PeerPlan(removals, releases, added, updates, conflicts);
	}

	/** True when the interface already matches: nothing to run. */
	boolean isEmpty() {
		return removals.isEmpty() && releases.isEmpty() && additions.isEmpty() && updates.isEmpty();
	}

	int size() {
		return removals.size() + additions.size() + updates.size();
	}

	/** A change to a peer that stays. */
	record PeerUpdate(Peer from, Peer to) {

		boolean willChangeIps() {
			return !from.allowedIps().equals(to.allowedIps());
		}

		boolean willChangeKeepalive() {
			return from.keepalive() != to.keepalive();
		}

		/** Only a wanted endpoint counts: renters roam, and the device learns theirs. */
		boolean willChangeEndpoint() {
			return to.endpoint().isPresent() && !to.endpoint().equals(from.endpoint());
		}

	}

	/** Two wanted peers claimed one address; only {@code keptBy} gets it. */
	record Conflict(String allowedIp, String keptBy, String refused) {
	}

}
