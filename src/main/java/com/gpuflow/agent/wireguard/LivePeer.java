package com.gpuflow.agent.wireguard;

import java.time.Instant;
import java.util.Optional;

/**
 * One peer line of {@code wg show <if> dump}: the peer as configured plus what the device
 * observed. The preshared key is reduced to whether one is set, so no secret leaves the parser.
 */
record LivePeer(Peer peer, boolean hasPresharedKey, Optional<Instant> latestHandshake, long rxBytes, long txBytes) {

	/** From what the device reports: a latest handshake of 0 seconds means "never". */
	static LivePeer of(Peer peer, boolean hasPresharedKey, long latestHandshakeSeconds, long rxBytes, long txBytes) {
		Optional<Instant> latest = latestHandshakeSeconds == 0 ? Optional.empty()
				: Optional.of(Instant.ofEpochSecond(latestHandshakeSeconds));
		return new LivePeer(peer, hasPresharedKey, latest, rxBytes, txBytes);
	}

	String publicKey() {
		return peer.publicKey();
	}

}
