package com.gpuflow.agent.ops;

import java.util.concurrent.atomic.AtomicLong;

import com.gpuflow.agent.ipam.Leases;
import com.gpuflow.agent.rental.SessionCounts;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.dao.DataAccessException;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

/**
 * Session gauges for /actuator/prometheus: {@code gpuflow_sessions{state}}, {@code gpuflow_leases_held}
 * {@code gpuflow_sessions_waiting_for_address} and {@code gpuflow_peers_connected}. Counted on a timer rather than per scrape, so a
 * scrape never waits on the database; while the database is away the last counts stay.
 */
@Component
class SessionGauges {

	private static final Logger log = LoggerFactory.getLogger(SessionGauges.class);

	private final SessionCounts counts;

	private final Leases leases;

	private final MultiGauge sessions;

	private final AtomicLong leasesHeld = new AtomicLong();

	private final AtomicLong waitingForAddress = new AtomicLong();

	private final AtomicLong peersConnected = new AtomicLong();

	SessionGauges(SessionCounts counts, Leases leases, MeterRegistry meters) {
		this.counts = counts;
		this.leases = leases;
		this.sessions = MultiGauge.builder("gpuflow_sessions").description("Sessions of this host by state").register(meters);
		Gauge.builder("gpuflow_leases_held", leasesHeld, AtomicLong::get)
			.description("Tunnel addresses held by sessions now")
			.register(meters);
		Gauge.builder("gpuflow_sessions_waiting_for_address", waitingForAddress, AtomicLong::get)
			.description("Active sessions without a tunnel address (pool exhausted)")
			.register(meters);
		Gauge.builder("gpuflow_peers_connected", peersConnected, AtomicLong::get)
			.description("Active sessions whose latest handshake is within GPUFLOW_CONNECTION_LOST_AFTER")
			.register(meters);
	}

	@Scheduled(initialDelay = 0, fixedDelayString = "${gpuflow.metrics.session-refresh-ms:5000}")
	void refresh() {
		try {
			sessions.register(counts.byState()
				.entrySet()
				.stream()
				.map(e -> MultiGauge.Row.of(Tags.of("state", e.getKey().name()), e.getValue()))
				.toList(), true);
			leasesHeld.set(leases.heldNow());
			waitingForAddress.set(counts.waitingForAddress());
			peersConnected.set(counts.connected());
		}
		catch (DataAccessException e) {
			log.debug("Session gauges not refreshed: {}", e.getMessage());
		}
	}

}
