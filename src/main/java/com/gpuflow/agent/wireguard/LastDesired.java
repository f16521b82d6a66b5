package com.gpuflow.agent.wireguard;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import com.gpuflow.agent.rental.DesiredPeer;

/**
 * The wanted peers as the last successful read of the database gave them, with their endsAt: what
 * the reconciler goes by while the database cannot be read. Only one kind of change follows from
 * it, removing what has ended by the agent's clock; nothing is added or changed on its word, since
 * a session could have ended on chain meanwhile and been recorded nowhere yet. Pure: no I/O.
 */
final class LastDesired {

	private List<DesiredPeer> peers = List.of();

	private boolean known;

	void remember(List<DesiredPeer> wanted) {
		peers = List.copyOf(wanted);
		known = true;
	}

	/** False until the first successful read (an agent started while the database is down). */
	boolean known() {
		return known;
	}

	/** The earliest endsAt among the remembered peers, passed or not. */
	Optional<Instant> earliestEnd() {
		return peers.stream().map(DesiredPeer::endsAt).min(Instant::compareTo);
	}

	/** The earliest endsAt after {@code now}: when the next removal is due. */
	Optional<Instant> nextEnd(Instant now) {
		return peers.stream().map(DesiredPeer::endsAt).filter(end -> end.isAfter(now)).min(Instant::compareTo);
	}

	/** Sessions whose endsAt is at or before {@code now}: the database would expire them. */
	List<DesiredPeer> ended(Instant now) {
		return peers.stream().filter(peer -> !peer.endsAt().isAfter(now)).toList();
	}

	/** Stops remembering these (their peers are gone). */
	void forget(Collection<DesiredPeer> gone) {
		Set<Long> ids = new java.util.HashSet<>();
		gone.forEach(peer -> ids.add(peer.sessionId()));
		peers = peers.stream().filter(peer -> !ids.contains(peer.sessionId())).toList();
	}

	/**
	 * The interface as it should be once the ended sessions' addresses are gone from it, and nothing
	 * else changed: a live peer loses the addresses of its ended sessions and goes when none is left.
	 * Diffed against {@code live}, this plans only removals and address updates.
	 */
	static List<Peer> withoutEnded(Collection<Peer> live, Collection<DesiredPeer> ended) {
		Map<String, Set<String>> endedIps = new HashMap<>();
		for (DesiredPeer peer : ended) {
			endedIps.computeIfAbsent(peer.publicKey(), k -> new LinkedHashSet<>()).add(Peer.cidr(peer.tunnelIp()));
		}
		List<Peer> kept = new ArrayList<>(live.size());
		for (Peer peer : live) {
			Set<String> gone = endedIps.get(peer.publicKey());
			if (gone == null) {
				kept.add(peer);
				continue;
			}
			Set<String> remaining = new LinkedHashSet<>(peer.allowedIps());
			remaining.removeAll(gone);
			if (!remaining.isEmpty()) {
				kept.add(peer.withAllowedIps(remaining));
			}
		}
		return kept;
	}

}
