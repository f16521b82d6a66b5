package com.gpuflow.agent.wireguard;

import java.time.Instant;
import java.util.Optional;

/**
 * One peer line of {@code wg show <if> dump}: the peer as configured plus what the device
 * observed. The preshared key is reduced to whether one is set, so no secret leaves the parser.
 */
record LivePeer(Peer peer, boolean hasPresharedKey, Optional<Instant> latestHandshake, long rxBytes, long txBytes) {

	String publicKey() {
		return peer.publicKey();
	}

}
