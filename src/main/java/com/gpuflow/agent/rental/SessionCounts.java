package com.gpuflow.agent.rental;

import java.util.EnumMap;
import java.util.Map;

import com.gpuflow.agent.config.AgentSettings;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;

/** Figures about this host's sessions, for metrics. */
@Component
public class SessionCounts {

	private final JdbcClient jdbc;

	private final String hostId;

	SessionCounts(JdbcClient jdbc, AgentSettings settings) {
		this.jdbc = jdbc;
		this.hostId = settings.hostId();
	}

	/** Every state, zero where no session is in it. */
	public Map<SessionState, Long> byState() {
		Map<SessionState, Long> counts = new EnumMap<>(SessionState.class);
		for (SessionState state : SessionState.values()) {
			counts.put(state, 0L);
		}
		jdbc.sql("select state, count(*) from sessions where host_id = ? group by state")
			.param(hostId)
			.query((rs, n) -> counts.put(SessionState.valueOf(rs.getString(1)), rs.getLong(2)))
			.list();
		return counts;
	}

	/** Active sessions whose peer is connected: its latest handshake is recent (see ConnectionRules). */
	public long connected() {
		return jdbc.sql("select count(*) from sessions where host_id = ? and state = 'ACTIVE' and connection_state = 'connected'")
			.param(hostId)
			.query(Long.class)
			.single();
	}

	/** Active sessions without a tunnel address: the pool was full when they needed one. */
	public long waitingForAddress() {
		return jdbc.sql("select count(*) from sessions where host_id = ? and state = 'ACTIVE' and tunnel_ip is null")
			.param(hostId)
			.query(Long.class)
			.single();
	}

}
