package com.gpuflow.agent.rental;

import java.time.Instant;

/**
 * A session that must have a peer: its key and its one tunnel address (no prefix), when it ends
 * (so the reconciler can still remove it on time while the database cannot be read), and where its
 * renter was last seen.
 *
 * @param lastEndpoint where the renter's side was last seen ({@code host:port}), or null: a peer put
 * back on the interface gets it, so the host starts the handshake instead of waiting for the renter
 */
public record DesiredPeer(long sessionId, String publicKey, String tunnelIp, Instant confirmedAt, Instant endsAt,
		String lastEndpoint) {
}
