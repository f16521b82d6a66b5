package com.gpuflow.agent.rental;

import java.time.Instant;
import java.util.Optional;

/**
 * What the device reports for one peer. Counters restart at 0 when the peer is re-added or the
 * interface re-created; a value lower than the last one stored is such a reset, not a loss.
 *
 * @param latestHandshake absent while the renter has never completed a handshake
 */
public record PeerObservation(String publicKey, Optional<String> endpoint, Optional<Instant> latestHandshake,
		long rxBytes, long txBytes) {
}
