package com.gpuflow.agent.wireguard;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The live interface as the last pass read it, joined with the sessions that want each peer: the
 * read model behind {@code GET /v1/peers}. A peer no session wants (added by hand, about to be
 * removed) has no session ids.
 */
public record PeerSnapshot(Instant readAt, List<Row> peers) {

	public static final PeerSnapshot NONE = new PeerSnapshot(Instant.EPOCH, List.of());

	public record Row(List<Long> sessionIds, String publicKey, Set<String> allowedIps, Optional<String> endpoint,
			Optional<Instant> latestHandshake, long rxBytes, long txBytes) {
	}

}
