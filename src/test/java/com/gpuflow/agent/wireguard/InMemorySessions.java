package com.gpuflow.agent.wireguard;

import com.gpuflow.agent.rental.SessionPort;
import com.gpuflow.agent.rental.DesiredPeer;
import com.gpuflow.agent.rental.PeerObservation;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

/** A {@link SessionPort} in memory, with a switch that makes it fail like an unreachable database. */
final class InMemorySessions implements SessionPort {

	record Session(DesiredPeer peer, Instant endsAt) {
	}

	private final List<Session> sessions = new CopyOnWriteArrayList<>();

	volatile boolean databaseDown;

	final List<DesiredPeer> added = new CopyOnWriteArrayList<>();

	final List<String> removed = new CopyOnWriteArrayList<>();

	final List<PeerObservation> observations = new CopyOnWriteArrayList<>();

	/** Keys removed while the database was down, with when, as reported once it was back. */
	final java.util.Map<String, Instant> removedWhileUnreachable = new java.util.concurrent.ConcurrentHashMap<>();

	/** How long a read of the wanted peers takes (a database that answers slowly, or not at all). */
	volatile java.time.Duration readDelay = java.time.Duration.ZERO;

	InMemorySessions add(long sessionId, String publicKey, String tunnelIp, Instant confirmedAt, Instant endsAt) {
		sessions.add(new Session(new DesiredPeer(sessionId, publicKey, tunnelIp, confirmedAt, endsAt), endsAt));
		return this;
	}

	/** An extension: the session's peer gets a later endsAt. */
	void extend(long sessionId, Instant endsAt) {
		for (Session session : sessions) {
			if (session.peer().sessionId() == sessionId) {
				DesiredPeer p = session.peer();
				sessions.set(sessions.indexOf(session),
						new Session(new DesiredPeer(p.sessionId(), p.publicKey(), p.tunnelIp(), p.confirmedAt(), endsAt), endsAt));
			}
		}
	}

	void end(long sessionId) {
		sessions.removeIf(s -> s.peer().sessionId() == sessionId);
	}

	void clear() {
		sessions.clear();
	}

	@Override
	public List<DesiredPeer> desiredPeers(Instant now) {
		if (!readDelay.isZero()) {
			try {
				Thread.sleep(readDelay);
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
		}
		failIfDown();
		List<DesiredPeer> wanted = new ArrayList<>();
		for (Session session : sessions) {
			if (session.endsAt().isAfter(now)) {
				wanted.add(session.peer());
			}
		}
		return wanted;
	}

	@Override
	public Optional<Instant> nextDeadline(Instant now) {
		failIfDown();
		return sessions.stream().map(Session::endsAt).filter(end -> end.isAfter(now)).min(Instant::compareTo);
	}

	@Override
	public void peersAdded(Collection<DesiredPeer> peers, Instant at) {
		failIfDown();
		added.addAll(peers);
	}

	@Override
	public void peersRemoved(Collection<String> publicKeys, Instant at) {
		failIfDown();
		removed.addAll(publicKeys);
	}

	@Override
	public void peersRemovedWhileUnreachable(Collection<String> publicKeys, Instant at) {
		failIfDown();
		publicKeys.forEach(key -> removedWhileUnreachable.put(key, at));
	}

	@Override
	public void observed(Collection<PeerObservation> changed, Instant at) {
		failIfDown();
		observations.addAll(changed);
	}

	private void failIfDown() {
		if (databaseDown) {
			throw new IllegalStateException("Connection to 127.0.0.1:5432 refused (simulated)");
		}
	}

}
