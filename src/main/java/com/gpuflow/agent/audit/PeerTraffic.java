package com.gpuflow.agent.audit;

import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * The recent traffic of one live peer, for the dashboard's sparklines. The wireguard package
 * provides the real one; without it, {@link LivePeersFallback} reports none.
 */
@FunctionalInterface
public interface PeerTraffic {

	/** Oldest first, one bucket per step; empty when the peer is not live or moved no traffic yet. */
	History of(String publicKey);

	record History(Duration step, List<Bucket> buckets) {

		public static final History NONE = new History(Duration.ofSeconds(30), List.of());

	}

	/** Bytes received from and sent to the peer in [from, from + step). */
	record Bucket(Instant from, long rxBytes, long txBytes) {
	}

}
