package com.gpuflow.agent.rental;

import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * What the reconciler needs from the session side (implemented over the database elsewhere).
 * Any method may throw when the database is unreachable; the reconciler then leaves the
 * interface exactly as it is.
 */
public interface SessionPort {

	/**
	 * Active sessions that must have a peer at {@code now} (ends_at > now); expires due sessions
	 * first. Two sessions may share a public key (a renter's own key used twice): they become one
	 * peer with both addresses. Throws on database failure.
	 */
	List<DesiredPeer> desiredPeers(Instant now);

	/** Earliest ends_at after now among active sessions, if any. */
	Optional<Instant> nextDeadline(Instant now);

	/**
	 * Sessions whose address just became live on the interface (first time, or restored after the
	 * peer vanished): records peer_added. Called once per such event, after the device accepted it.
	 */
	void peersAdded(Collection<DesiredPeer> added, Instant at);

	/** Peers (by public key) just removed from the interface: records peer_removed for their sessions. */
	void peersRemoved(Collection<String> publicKeys, Instant at);

	/**
	 * Peers the reconciler removed while the database could not be read, because their sessions'
	 * last known endsAt had passed: recorded like {@link #peersRemoved}, once the database is back,
	 * with {@code at} the time they really went.
	 */
	default void peersRemovedWhileUnreachable(Collection<String> publicKeys, Instant at) {
		peersRemoved(publicKeys, at);
	}

	/** Per peer, what the device saw, only for peers whose figures changed since the last call. */
	void observed(Collection<PeerObservation> observations, Instant at);

}
