package com.gpuflow.agent.rental;

import java.math.BigInteger;
import java.time.Instant;

/** The row of a session, as the lifecycle logic needs it. */
public record Session(long id, BigInteger rentalId, String renter, SessionState state, Instant endsAt,
		String keySource, String peerPublicKey, boolean hasSealedKey, String tunnelIp) {
}
