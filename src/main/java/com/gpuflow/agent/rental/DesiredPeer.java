package com.gpuflow.agent.rental;

import java.time.Instant;

/** A session that must have a peer: its key and its one tunnel address (no prefix). */
public record DesiredPeer(long sessionId, String publicKey, String tunnelIp, Instant confirmedAt) {
}
