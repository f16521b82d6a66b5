package com.gpuflow.agent.ops;

import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

import com.gpuflow.agent.config.AgentSettings;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.dao.DataAccessException;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.scheduling.annotation.Scheduled;
import org.springframework.stereotype.Component;

/**
 * Session gauges for /actuator/prometheus: {@code gpuflow_sessions{state}}, {@code gpuflow_leases_held}
 * and {@code gpuflow_sessions_waiting_for_address}. Counted on a timer rather than per scrape, so a
 * scrape never waits on the database; while the database is away the last counts stay.
 */
@Component
class SessionGauges {

	private static final Logger log = LoggerFactory.getLogger(SessionGauges.class);

	static final List<String> STATES = List.of("ACTIVE", "ENDED", "EXPIRED", "REORGED_OUT");

	private final JdbcClient jdbc;

	private final String hostId;

	private final MultiGauge sessions;

	private final AtomicLong leasesHeld = new AtomicLong();

	private final AtomicLong waitingForAddress = new AtomicLong();

	SessionGauges(JdbcClient jdbc, AgentSettings settings, MeterRegistry meters) {
		this.jdbc = jdbc;
		this.hostId = settings.hostId();
		this.sessions = MultiGauge.builder("gpuflow_sessions").description("Sessions of this host by state").register(meters);
		Gauge.builder("gpuflow_leases_held", leasesHeld, AtomicLong::get)
			.description("Tunnel addresses held by sessions now")
			.register(meters);
		Gauge.builder("gpuflow_sessions_waiting_for_address", waitingForAddress, AtomicLong::get)
			.description("Active sessions without a tunnel address (pool exhausted)")
			.register(meters);
	}

	@Scheduled(initialDelay = 0, fixedDelayString = "${gpuflow.metrics.session-refresh-ms:5000}")
	void refresh() {
		try {
			Map<String, Long> byState = jdbc.sql("select state, count(*) from sessions where host_id = ? group by state")
				.param(hostId)
				.query((rs, n) -> Map.entry(rs.getString(1), rs.getLong(2)))
				.list()
				.stream()
				.collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
			sessions.register(STATES.stream()
				.map(state -> MultiGauge.Row.of(Tags.of("state", state), byState.getOrDefault(state, 0L)))
				.toList(), true);
			leasesHeld.set(jdbc.sql("select count(*) from leases where host_id = ? and held_to is null")
				.param(hostId)
				.query(Long.class)
				.single());
			waitingForAddress.set(jdbc.sql("""
					select count(*) from sessions where host_id = ? and state = 'ACTIVE' and tunnel_ip is null""")
				.param(hostId)
				.query(Long.class)
				.single());
		}
		catch (DataAccessException e) {
			log.debug("Session gauges not refreshed: {}", e.getMessage());
		}
	}

}
