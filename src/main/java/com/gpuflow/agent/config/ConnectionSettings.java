package com.gpuflow.agent.config;

import java.time.Duration;
import java.util.function.Function;

/**
 * How connection quality is judged. Apart from {@link AgentSettings} so that adding it touches no
 * other setting's code.
 *
 * @param lostAfter a connected peer whose latest handshake is older than this is lost
 * ({@code GPUFLOW_CONNECTION_LOST_AFTER}, default 180 s: WireGuard's reject-after time, so a
 * healthy peer that re-handshakes every 2 minutes is never judged lost)
 */
public record ConnectionSettings(Duration lostAfter) {

	public static ConnectionSettings from(Function<String, String> lookup) {
		AgentSettings.Reader in = new AgentSettings.Reader(lookup);
		return new ConnectionSettings(
				in.duration("gpuflow.connection-lost-after", "GPUFLOW_CONNECTION_LOST_AFTER", "180s"));
	}

}
