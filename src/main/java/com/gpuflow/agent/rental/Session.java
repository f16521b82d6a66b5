package com.gpuflow.agent.rental;

import java.math.BigInteger;
import java.time.Instant;

/**
 * One confirmed appearance of a rental on this host: the only row type of the {@code sessions}
 * table. A rental id that a reorganisation removed and the chain later reused is a new session.
 *
 * @param keySource {@code RENTER} (the renter's own key from the chain) or {@code GENERATED}
 * @param peerPublicKey null while the session has no usable key (invalid or rejected renter key, or
 * none generated for want of the key-encryption key)
 * @param keyRejected why the renter's key was refused (it collides with another key), or null
 * @param tunnelIp the held /32 without prefix, null while waiting for an address or once over
 */
public record Session(long id, BigInteger rentalId, String renter, SessionState state, Instant startsAt,
		Instant endsAt, Instant endedAt, String endReason, String keySource, String peerPublicKey,
		boolean hasSealedKey, Instant configDeliveredAt, String tunnelIp, boolean poolExhausted, String keyRejected) {

	public boolean generatedKey() {
		return "GENERATED".equals(keySource);
	}

	/** Usable now by the agent's own clock: ACTIVE and before its end (the reconciler may not have expired it yet). */
	public boolean usableAt(Instant now) {
		return state == SessionState.ACTIVE && endsAt.isAfter(now);
	}

	Session with(SessionState state, Instant endsAt, Instant endedAt, String endReason) {
		return new Session(id, rentalId, renter, state, startsAt, endsAt, endedAt, endReason, keySource, peerPublicKey,
				hasSealedKey, configDeliveredAt, tunnelIp, poolExhausted, keyRejected);
	}

	Session withAddress(String tunnelIp, boolean poolExhausted) {
		return new Session(id, rentalId, renter, state, startsAt, endsAt, endedAt, endReason, keySource, peerPublicKey,
				hasSealedKey, configDeliveredAt, tunnelIp, poolExhausted, keyRejected);
	}

}
