package com.gpuflow.agent.ipam;

import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.config.TunnelNetwork;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.stereotype.Component;

/**
 * Tunnel address leases in PostgreSQL. The exclusion constraint {@code leases_no_overlap} is the
 * guarantee that no two sessions hold one address at once and that a released address rests
 * {@link #REST} before reuse; the per-host advisory lock only keeps concurrent allocators from
 * colliding on it.
 */
@Component
public class Leases {

	public static final Duration REST = Duration.ofMinutes(10);

	private static final Logger log = LoggerFactory.getLogger(Leases.class);

	private final JdbcClient jdbc;

	private final String hostId;

	private final TunnelNetwork network;

	private final Counter poolExhausted;

	private Leases(JdbcClient jdbc, String hostId, TunnelNetwork network, Counter poolExhausted) {
		this.jdbc = jdbc;
		this.hostId = hostId;
		this.network = network;
		this.poolExhausted = poolExhausted;
	}

	/**
	 * The leases of another host of a shared database, from that host's own tunnel network: the
	 * chain reader allocates for every registered host.
	 */
	public Leases forHost(String otherHostId, TunnelNetwork otherNetwork) {
		if (otherHostId.equals(hostId) && otherNetwork.equals(network)) {
			return this;
		}
		return new Leases(jdbc, otherHostId, otherNetwork, poolExhausted);
	}

	@Autowired
	Leases(JdbcClient jdbc, AgentSettings settings, MeterRegistry meters) {
		this.jdbc = jdbc;
		this.hostId = settings.hostId();
		this.network = settings.wgCidr();
		this.poolExhausted = Counter.builder("gpuflow_address_pool_exhausted")
			.description("Allocations refused because every tunnel address was held or resting")
			.register(meters);
		// A supplier, not meters.gauge(name, number): that keeps only a weak reference to the boxed
		// number, which is collected and then reported as NaN.
		io.micrometer.core.instrument.Gauge.builder("gpuflow_address_pool_capacity", network::renterCapacity)
			.description("Tunnel addresses renters can hold")
			.register(meters);
	}

	/**
	 * Starts allocating inside the caller's transaction. The unavailable set is loaded once, at the
	 * first pick, so a batch of confirmations costs one query, not one per address.
	 */
	public Allocation begin(Instant now) {
		return new Allocation(now);
	}

	public class Allocation {

		private final Instant now;

		// Loaded (under the lock) at the first pick: most transactions that might allocate never do.
		private Set<Long> unavailable;

		private OptionalLong cursor;

		private final java.util.List<Long> leasedSessions = new java.util.ArrayList<>();

		private final java.util.List<String> leasedIps = new java.util.ArrayList<>();

		Allocation(Instant now) {
			this.now = now;
		}

		private void load() {
			jdbc.sql("select pg_advisory_xact_lock(hashtext('gpuflow-ipam:' || ?))").param(hostId).query().singleRow();
			unavailable = new HashSet<>();
			jdbc.sql("select host(ip) from leases where host_id = ? and reserved && tstzrange(?, null)")
				.params(hostId, Timestamp.from(now))
				.query(String.class)
				.list()
				.forEach(ip -> unavailable.add(TunnelNetwork.parseAddress(ip)));
			cursor = jdbc.sql("select host(last_ip) from ipam_cursor where host_id = ?")
				.param(hostId)
				.query(String.class)
				.optional()
				.map(ip -> OptionalLong.of(TunnelNetwork.parseAddress(ip)))
				.orElse(OptionalLong.empty());
		}

		/**
		 * Picks the session's address; the lease rows are written together by {@link #writePicked()}.
		 * @return the address leased to the session, empty when the pool is full
		 */
		public Optional<String> pick(long sessionId) {
			if (unavailable == null) {
				load();
			}
			OptionalLong next = AddressAllocator.next(network, cursor, unavailable::contains);
			if (next.isEmpty()) {
				poolExhausted.increment();
				log.warn("Tunnel address pool {} is full: session {} waits for an address (held or resting {} after release)",
						network, sessionId, REST);
				return Optional.empty();
			}
			String ip = TunnelNetwork.toDotted(next.getAsLong());
			unavailable.add(next.getAsLong());
			cursor = next;
			leasedSessions.add(sessionId);
			leasedIps.add(ip);
			return Optional.of(ip);
		}

		/**
		 * Writes the leases picked so far and the next-fit cursor. The lease rows refer to their
		 * sessions, so this comes after the sessions are stored and before anything may release one.
		 */
		public void writePicked() {
			if (leasedSessions.isEmpty()) {
				return;
			}
			jdbc.sql("""
					insert into leases (host_id, ip, session_id, held_from, reserved)
					select ?, ip::inet, session_id, ?, tstzrange(?, null)
					from unnest(?::text[], ?::bigint[]) as t(ip, session_id)""")
				.params(hostId, Timestamp.from(now), Timestamp.from(now), leasedIps.toArray(String[]::new),
						leasedSessions.toArray(Long[]::new))
				.update();
			jdbc.sql("""
					insert into ipam_cursor (host_id, last_ip) values (?, ?::inet)
					on conflict (host_id) do update set last_ip = excluded.last_ip""")
				.params(hostId, TunnelNetwork.toDotted(cursor.getAsLong()))
				.update();
			leasedSessions.clear();
			leasedIps.clear();
		}

	}

	/** How many addresses sessions of this host hold now. */
	public long heldNow() {
		return jdbc.sql("select count(*) from leases where host_id = ? and held_to is null")
			.param(hostId)
			.query(Long.class)
			.single();
	}

	/**
	 * The session whose lease held {@code ip} at {@code at}: held from {@code held_from} up to, not
	 * including, {@code held_to} (open while held). {@code ip} is an address literal.
	 */
	public Optional<Long> holderAt(String ip, Instant at) {
		return jdbc.sql("""
				select session_id from leases
				where host_id = ? and ip = ?::inet and held_from <= ? and (held_to is null or held_to > ?)
				order by held_from desc limit 1""")
			.params(hostId, ip, Timestamp.from(at), Timestamp.from(at))
			.query(Long.class)
			.optional();
	}

	/** Ends the session's open lease now; the address then rests {@link #REST}. */
	public void release(long sessionId, Instant now) {
		jdbc.sql("""
				update leases set held_to = ?, reserved = tstzrange(held_from, ?::timestamptz + make_interval(secs => ?))
				where session_id = ? and held_to is null""")
			.params(Timestamp.from(now), Timestamp.from(now), REST.toSeconds(), sessionId)
			.update();
	}

}
