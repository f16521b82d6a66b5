package com.gpuflow.agent.rental;

import java.time.Instant;

/**
 * A session that must have a peer: its key and its one tunnel address (no prefix), and when it
 * ends, so the reconciler can still remove it on time while the database cannot be read.
 */
public record DesiredPeer(long sessionId, String publicKey, String tunnelIp, Instant confirmedAt, Instant endsAt) {
}
