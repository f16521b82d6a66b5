package com.gpuflow.agent.ipam;

import java.math.BigDecimal;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import org.springframework.dao.DataIntegrityViolationException;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.transaction.support.TransactionTemplate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Address leases on the real PostgreSQL: the database itself refuses overlaps and early reuse. */
class LeasesTest {

	static final String HOST = "0x" + "5a".repeat(32);

	AgentContext agent;

	JdbcClient jdbc;

	Leases leases;

	TransactionTemplate transactions;

	long nextRental = 1;

	@BeforeEach
	void startAgentWithoutChainOrInterface() {
		TestDatabase.Connection database = TestDatabase.create();
		Map<String, Object> properties = new HashMap<>();
		properties.put("spring.datasource.url", database.url());
		properties.put("spring.datasource.username", database.username());
		properties.put("spring.datasource.password", database.password());
		properties.put("host-id", HOST);
		properties.put("rental-contract", "0x" + "00".repeat(19) + "01");
		properties.put("wg.endpoint", "127.0.0.1:51820");
		// a /29: five renter addresses (.2 to .6), so the pool runs full quickly
		properties.put("wg.cidr", "10.99.0.0/29");
		properties.put("server.port", "0");
		properties.put("management.server.port", "0");
		agent = AgentContext.start(properties);
		jdbc = agent.jdbc();
		leases = agent.bean(Leases.class);
		transactions = agent.bean(TransactionTemplate.class);
	}

	@AfterEach
	void stop() {
		agent.close();
	}

	long session() {
		long rental = nextRental++;
		long event = jdbc.sql("""
				insert into chain_events (host_id, contract, block_number, block_hash, tx_hash, log_index, kind, rental_id, payload)
				values (?, 'c', 1, '0xb', ?, 0, 'RentalCreated', ?, '{}') returning id""")
			.params(HOST, "0xtx" + rental, BigDecimal.valueOf(rental))
			.query(Long.class)
			.single();
		return jdbc.sql("""
				insert into sessions (host_id, contract, rental_id, renter, state, starts_at, ends_at, created_event_id,
				                      key_source, created_at, confirmed_at)
				values (?, 'c', ?, '0xr', 'ACTIVE', now(), now() + interval '1 hour', ?, 'RENTER', now(), now()) returning id""")
			.params(HOST, BigDecimal.valueOf(rental), event)
			.query(Long.class)
			.single();
	}

	Optional<String> lease(long session, Instant at) {
		return transactions.execute(status -> {
			Leases.Allocation allocation = leases.begin(at);
			Optional<String> ip = allocation.lease(session);
			allocation.finish();
			return ip;
		});
	}

	void release(long session, Instant at) {
		transactions.executeWithoutResult(status -> leases.release(session, at));
	}

	@Test
	void theDatabaseRefusesTwoHoldersOfOneAddress() {
		Instant now = Instant.now();
		String ip = lease(session(), now).orElseThrow();
		long other = session();
		assertThatThrownBy(() -> jdbc.sql("""
				insert into leases (host_id, ip, session_id, held_from, reserved) values (?, ?::inet, ?, ?, tstzrange(?, null))""")
			.params(HOST, ip, other, Timestamp.from(now.plusSeconds(60)), Timestamp.from(now.plusSeconds(60)))
			.update()).isInstanceOf(DataIntegrityViolationException.class).hasMessageContaining("leases_no_overlap");
	}

	@Test
	void aReleasedAddressRestsTenMinutesBeforeReuse() {
		Instant start = Instant.now();
		List<Long> sessions = new ArrayList<>();
		List<String> ips = new ArrayList<>();
		for (int i = 0; i < 5; i++) {
			long session = session();
			sessions.add(session);
			ips.add(lease(session, start).orElseThrow());
		}
		assertThat(ips).containsExactly("10.99.0.2", "10.99.0.3", "10.99.0.4", "10.99.0.5", "10.99.0.6");
		release(sessions.get(1), start.plusSeconds(60));

		long waiting = session();
		assertThat(lease(waiting, start.plus(Duration.ofMinutes(10)))).as("9 minutes after the release").isEmpty();
		assertThat(lease(waiting, start.plus(Duration.ofMinutes(11)).plusSeconds(1))).contains("10.99.0.3");

		// The database refuses an early reuse even if an allocator got it wrong.
		long sneaky = session();
		assertThatThrownBy(() -> jdbc.sql("""
				insert into leases (host_id, ip, session_id, held_from, reserved) values (?, '10.99.0.3', ?, ?, tstzrange(?, null))""")
			.params(HOST, sneaky, Timestamp.from(start.plusSeconds(120)), Timestamp.from(start.plusSeconds(120)))
			.update()).isInstanceOf(DataIntegrityViolationException.class);
	}

	@Test
	void aFullPoolIsVisibleAndTheWaitingSessionGetsTheFirstAddressThatRested() {
		Instant start = Instant.now();
		List<Long> sessions = new ArrayList<>();
		for (int i = 0; i < 5; i++) {
			long session = session();
			sessions.add(session);
			jdbc.sql("update sessions set tunnel_ip = ?::inet where id = ?").params(lease(session, start).orElseThrow(), session).update();
		}
		long waiting = session();
		var lifecycle = agent.bean(com.gpuflow.agent.rental.SessionLifecycle.class);
		assertThat(assignWaiting(lifecycle, start)).isZero();
		assertThat(jdbc.sql("select pool_exhausted from sessions where id = ?").param(waiting).query(Boolean.class).single())
			.isTrue();

		release(sessions.get(0), start);
		assertThat(assignWaiting(lifecycle, start.plus(Duration.ofMinutes(5)))).isZero();
		assertThat(assignWaiting(lifecycle, start.plus(Duration.ofMinutes(11)))).isEqualTo(1);
		assertThat(jdbc.sql("select host(tunnel_ip) || ' ' || pool_exhausted from sessions where id = ?")
			.param(waiting)
			.query(String.class)
			.single()).isEqualTo("10.99.0.2 false");
	}

	int assignWaiting(com.gpuflow.agent.rental.SessionLifecycle lifecycle, Instant at) {
		Integer assigned = transactions.execute(status -> lifecycle.assignWaitingAddresses(at));
		return assigned;
	}

	@Test
	void concurrentAllocationsNeverShareAnAddress() throws Exception {
		List<Long> sessions = new ArrayList<>();
		for (int i = 0; i < 5; i++) {
			sessions.add(session());
		}
		Instant now = Instant.now();
		ExecutorService pool = Executors.newFixedThreadPool(5);
		try {
			List<Future<Optional<String>>> results = new ArrayList<>();
			for (long session : sessions) {
				results.add(pool.submit((Callable<Optional<String>>) () -> lease(session, now)));
			}
			List<String> ips = new ArrayList<>();
			for (Future<Optional<String>> result : results) {
				ips.add(result.get().orElseThrow());
			}
			assertThat(ips).doesNotHaveDuplicates().hasSize(5);
		}
		finally {
			pool.shutdownNow();
		}
		assertThat(jdbc.sql("select count(distinct ip) from leases where held_to is null").query(Long.class).single())
			.isEqualTo(5);
	}

}
