package com.gpuflow.agent.rental;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

import com.gpuflow.agent.audit.AuditKind;
import com.gpuflow.agent.keys.RenterKeyVault;
import com.gpuflow.agent.keys.WireGuardKeys;

/**
 * The rules of a session's life, free of I/O: given a session (or a confirmed RentalCreated) and
 * an event or a moment, what the session becomes, what happens to its key and its address, and
 * what the audit trail says. {@link SessionRows} reads and writes the rows; keeping the decisions
 * here lets every transition be tested one at a time without a database.
 */
final class SessionRules {

	private SessionRules() {
	}

	/** One line of the audit trail a transition writes. */
	record Note(AuditKind kind, String detail) {
	}

	/**
	 * What a transition does.
	 * @param next the session afterwards (equal to the one before when nothing changes)
	 * @param releasesAddress the open lease ends now, and the address then rests
	 * @param needsAddress the session is usable again and needs a fresh address
	 * @param destroysSealedKey an undelivered generated private key is destroyed
	 * @param notes the audit lines, in order
	 * @param peersMayChange the peers the interface should carry may differ afterwards
	 */
	record Transition(Session next, boolean releasesAddress, boolean needsAddress, boolean destroysSealedKey,
			List<Note> notes, boolean peersMayChange) {

		static Transition none(Session session) {
			return new Transition(session, false, false, false, List.of(), false);
		}

		static Transition noted(Session session, Note note) {
			return new Transition(session, false, false, false, List.of(note), false);
		}

		/** Whether the row itself changes (not only the audit trail). */
		boolean changesRow(Session before) {
			return !next.equals(before) || destroysSealedKey || needsAddress;
		}

	}

	/**
	 * A session about to be stored for a confirmed RentalCreated.
	 * @param publicKey the peer's key, null when the session can have no peer (its CREATED line says why)
	 * @param sealedPrivateKey the generated private key, sealed, until it is delivered
	 * @param keyRejected why the renter's key was refused for colliding with another, or null
	 * @param needsAddress the session is active and must hold a tunnel address
	 */
	record NewSession(long id, long createdEventId, RentalEvent.Created event, SessionState state, String keySource, String publicKey,
			byte[] sealedPrivateKey, String keyRejected, boolean needsAddress, List<Note> notes) {
	}

	/**
	 * Everything the key decision of a new session needs besides the event.
	 * @param generated the pair made for this session in advance, null if none was made
	 * @param canGenerate whether the agent holds the key-encryption key
	 * @param taken keys no new session may use: the server's, and those of this host's sessions not over
	 */
	record KeyContext(RenterKeyVault.SealedPair generated, boolean canGenerate, Predicate<String> taken) {
	}

	static NewSession created(long id, long createdEventId, RentalEvent.Created event, String origin, Instant now,
			KeyContext keys) {
		boolean active = event.endsAt().isAfter(now);
		String keySource;
		String publicKey = null;
		byte[] sealed = null;
		String keyProblem = null;
		String rejected = null;
		if (event.renterGaveKey()) {
			keySource = "RENTER";
			try {
				publicKey = WireGuardKeys.validatePublicKey(event.renterKey());
			}
			catch (IllegalArgumentException e) {
				keyProblem = "renter key rejected: " + e.getMessage();
			}
			if (publicKey != null && active && keys.taken().test(publicKey)) {
				// The same key twice would merge two renters into one peer (and the server's own key
				// can never be a peer): refuse it, keep the address for a rekey.
				rejected = "the renter key is the server's or that of another session of this host";
				keyProblem = "renter key rejected: " + rejected;
				publicKey = null;
			}
		}
		else {
			keySource = "GENERATED";
			if (active && keys.canGenerate() && keys.generated() != null) {
				publicKey = keys.generated().publicKey();
				sealed = keys.generated().sealedPrivateKey();
			}
			else if (active) {
				keyProblem = "no key generated: GPUFLOW_KEY_ENCRYPTION_KEY is not set";
			}
		}
		List<Note> notes = new ArrayList<>(4);
		notes.add(new Note(AuditKind.CREATED, origin + " renter " + event.renter() + " ends " + event.endsAt()
				+ (keyProblem == null ? "" : "; " + keyProblem)));
		notes.add(new Note(AuditKind.CONFIRMED, ""));
		if (!active) {
			notes.add(new Note(AuditKind.EXPIRED, "already over when confirmed"));
		}
		if (rejected != null) {
			notes.add(new Note(AuditKind.KEY_REJECTED, rejected));
		}
		return new NewSession(id, createdEventId, event, active ? SessionState.ACTIVE : SessionState.EXPIRED, keySource, publicKey,
				sealed, rejected, active, List.copyOf(notes));
	}

	/** A confirmed RentalExtended. */
	static Transition extended(Session session, Instant newEndsAt, Instant now) {
		if (!newEndsAt.isAfter(session.endsAt())) {
			return Transition.none(session);
		}
		Note extended = new Note(AuditKind.EXTENDED, "ends " + newEndsAt);
		if (session.state() == SessionState.EXPIRED && newEndsAt.isAfter(now)) {
			// Our clock passed the old end before the extension was confirmed; the chain says it runs on.
			return reopen(session, newEndsAt, List.of(extended));
		}
		return new Transition(session.with(session.state(), newEndsAt, session.endedAt(), session.endReason()), false,
				false, false, List.of(extended), true);
	}

	/** A confirmed RentalEnded. */
	static Transition ended(Session session, Instant endedOnChain, Instant now) {
		if (session.state() == SessionState.EXPIRED && endedOnChain.isBefore(session.endsAt())) {
			// The chain ended it before its endsAt, but the event reached us only after our clock had
			// expired it (a slow or failing node). Access is already gone; the record follows the chain.
			return new Transition(session.with(SessionState.ENDED, session.endsAt(), session.endedAt(), "ended"), false,
					false, false, List.of(new Note(AuditKind.ENDED,
							"on chain at " + endedOnChain + ", before ends_at; learned after local expiry")),
					true);
		}
		if (session.state() != SessionState.ACTIVE) {
			return Transition.noted(session, new Note(AuditKind.ENDED,
					"on chain at " + endedOnChain + ", already " + session.state().name().toLowerCase()));
		}
		return close(session, SessionState.ENDED, "ended", now, new Note(AuditKind.ENDED, "on chain at " + endedOnChain));
	}

	/** The agent's clock reached the session's end: no block is needed for a rental to expire. */
	static Transition due(Session session, Instant now) {
		if (session.state() != SessionState.ACTIVE || session.endsAt().isAfter(now)) {
			return Transition.none(session);
		}
		return close(session, SessionState.EXPIRED, "expired", session.endsAt(),
				new Note(AuditKind.EXPIRED, "ends_at " + session.endsAt()));
	}

	/** The RentalCreated that made this session was on blocks a reorganisation dropped. */
	static Transition createdOrphaned(Session session, Instant now) {
		if (session.state() == SessionState.REORGED_OUT) {
			return Transition.none(session);
		}
		return close(session, SessionState.REORGED_OUT, "reorged_out", now,
				new Note(AuditKind.REORGED_OUT, "RentalCreated orphaned"));
	}

	/**
	 * A RentalExtended of this rental was on dropped blocks.
	 * @param liveEndsAt the latest end among the rental's events still on the chain
	 */
	static Transition extensionOrphaned(Session session, Optional<Instant> liveEndsAt) {
		Instant endsAt = liveEndsAt.orElse(session.endsAt());
		// An ACTIVE session whose end moved into the past expires at the next settling.
		return new Transition(session.with(session.state(), endsAt, session.endedAt(), session.endReason()), false, false,
				false, List.of(new Note(AuditKind.REORGED_OUT, "RentalExtended orphaned; ends " + endsAt)), true);
	}

	/** A RentalEnded of this rental was on dropped blocks. */
	static Transition endOrphaned(Session session, Instant now) {
		if (session.state() != SessionState.ENDED) {
			return Transition.none(session);
		}
		Note orphaned = new Note(AuditKind.REORGED_OUT, "RentalEnded orphaned");
		if (session.endsAt().isAfter(now)) {
			return reopen(session, session.endsAt(), List.of(orphaned));
		}
		return new Transition(session.with(SessionState.EXPIRED, session.endsAt(), session.endsAt(), "expired"), false,
				false, false, List.of(orphaned), true);
	}

	/**
	 * The renter asked for a new agent-generated key pair. Its private key is served in the same
	 * response and never stored, so a sealed key still waiting for delivery is destroyed.
	 * @return empty when the session is no longer usable
	 */
	static Optional<Transition> rekeyed(Session session, String newPublicKey, Instant now) {
		if (!session.usableAt(now)) {
			return Optional.empty();
		}
		Session next = new Session(session.id(), session.rentalId(), session.renter(), session.state(),
				session.startsAt(), session.endsAt(), session.endedAt(), session.endReason(), "GENERATED", newPublicKey,
				false, now, session.tunnelIp(), session.poolExhausted(), null);
		List<Note> notes = new ArrayList<>(3);
		notes.add(new Note(AuditKind.REKEYED, "new peer public key " + newPublicKey));
		if (session.hasSealedKey()) {
			notes.add(new Note(AuditKind.KEY_DESTROYED, "replaced by rekey before delivery"));
		}
		notes.add(new Note(AuditKind.CONFIG_DELIVERED, "generated key, rekey"));
		return Optional.of(new Transition(next, false, false, session.hasSealedKey(), List.copyOf(notes), true));
	}

	/** The one-time config of a generated key was served: its private key is gone with it. */
	static List<Note> generatedKeyDelivered() {
		return List.of(new Note(AuditKind.CONFIG_DELIVERED, "generated key"),
				new Note(AuditKind.KEY_DESTROYED, "served once"));
	}

	/** A config for the renter's own key was served; only the first delivery is a fact worth keeping. */
	static List<Note> ownKeyDelivered(Session session) {
		return session.configDeliveredAt() == null ? List.of(new Note(AuditKind.CONFIG_DELIVERED, "renter's own key"))
				: List.of();
	}

	/**
	 * Ends access: the lease is released (the address then rests), an undelivered generated key is
	 * destroyed, and the peer goes because the session is no longer wanted.
	 */
	private static Transition close(Session session, SessionState state, String reason, Instant endedAt, Note why) {
		List<Note> notes = session.hasSealedKey()
				? List.of(new Note(AuditKind.KEY_DESTROYED, "undelivered generated key"), why) : List.of(why);
		return new Transition(session.with(state, session.endsAt(), endedAt, reason), true, false, session.hasSealedKey(),
				notes, true);
	}

	private static Transition reopen(Session session, Instant endsAt, List<Note> notes) {
		return new Transition(session.with(SessionState.ACTIVE, endsAt, null, null).withAddress(null, false), false, true,
				false, notes, true);
	}

}
