package com.gpuflow.agent.audit;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * The live WireGuard interface as the agent last read it, for {@code GET /v1/peers}. The wireguard
 * package provides the real one; without it, {@link LivePeersFallback} reports no peers.
 */
@FunctionalInterface
public interface LivePeers {

	List<Peer> peers();

	/** One peer as {@code wg show <if> dump} reports it; {@code allowedIps} in CIDR form (10.77.0.5/32). */
	record Peer(String publicKey, Optional<String> endpoint, List<String> allowedIps, Optional<Instant> latestHandshake,
			long rxBytes, long txBytes) {
	}

}
