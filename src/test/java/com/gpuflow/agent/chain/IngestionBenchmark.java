package com.gpuflow.agent.chain;

import java.math.BigInteger;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import javax.sql.DataSource;

import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Backfill throughput: N RentalCreated events read and persisted by the agent (sessions, leases,
 * keys, audit rows), against a bare {@code eth_getLogs} of the same ranges in the same run.
 * Both are repeated ({@code bench.repeats}, default 3, alternating which goes first, each agent
 * run on a fresh database) and the medians compared: on a shared 2-core machine one sample of
 * either varies by a factor of two.
 * Each run also times the {@linkplain #floor floor}: PostgreSQL alone writing the same rows, so the
 * ratio it allows is printed next to the target.
 * Run: {@code mvn -Pbench test -Dtest=IngestionBenchmark [-Dbench.rentals=20000] [-Dbench.repeats=3]}.
 */
class IngestionBenchmark {

	static final String HOST = RentalMarketClient.hostId("bench-host");

	static final String TOKEN = "bench-audit-token-0123456789";

	@Test
	void backfillAgainstBareGetLogs() throws Exception {
		int rentals = Integer.getInteger("bench.rentals", 20_000);
		int repeats = Integer.getInteger("bench.repeats", 3);
		try (AnvilNode chain = AnvilNode.startDefault()) {
			RentalMarketClient market = RentalMarketClient.deploy(chain);
			market.registerHost(0, HOST, BigInteger.ONE);
			long created = System.nanoTime();
			// One transaction per hundred rentals: anvil's pool stalls with tens of thousands of
			// single transactions in it.
			bulkRent(chain, market.address(), rentals);
			System.out.printf("created %d rentals on anvil in %.1f s%n", rentals, (System.nanoTime() - created) / 1e9);
			long head = chain.blockNumber();

			List<Double> bareSeconds = new ArrayList<>();
			List<Double> agentSeconds = new ArrayList<>();
			List<Double> floorSeconds = new ArrayList<>();
			List<Double> minimalFloorSeconds = new ArrayList<>();
			for (int run = 0; run < repeats; run++) {
				try (AgentContext agent = idleAgent(chain, market.address())) {
					ChainNode node = agent.bean(ChainNode.class);
					if (run % 2 == 0) {
						bareSeconds.add(bare(node, head, rentals));
						agentSeconds.add(agent(agent, rentals));
					}
					else {
						agentSeconds.add(agent(agent, rentals));
						bareSeconds.add(bare(node, head, rentals));
					}
				}
				floorSeconds.add(floor(chain, market.address(), rentals, false));
				minimalFloorSeconds.add(floor(chain, market.address(), rentals, true));
				System.out.printf("run %d: bare %.2f s, agent %.2f s, floor %.2f s, minimal floor %.2f s%n", run + 1,
						bareSeconds.get(run), agentSeconds.get(run), floorSeconds.get(run), minimalFloorSeconds.get(run));
			}
			double bare = median(bareSeconds);
			double agent = median(agentSeconds);
			double floor = median(floorSeconds);
			double minimalFloor = median(minimalFloorSeconds);
			System.out.println();
			System.out.println("| backfill of " + rentals + " RentalCreated, median of " + repeats + " | seconds | events/s | runs (s) |");
			System.out.println("|---|---|---|---|");
			System.out.printf("| bare eth_getLogs (the agent's ranges) | %.2f | %.0f | %s |%n", bare, rentals / bare, runs(bareSeconds));
			System.out.printf("| agent (fetch + events, sessions, keys, leases, audit committed) | %.2f | %.0f | %s |%n", agent,
					rentals / agent, runs(agentSeconds));
			System.out.printf("| floor: the same rows written by PostgreSQL alone (see floor()) | %.2f | %.0f | %s |%n", floor,
					rentals / floor, runs(floorSeconds));
			System.out.printf("| floor with only the correctness constraints (no query index, no foreign key) | %.2f | %.0f | %s |%n",
					minimalFloor, rentals / minimalFloor, runs(minimalFloorSeconds));
			System.out.printf("| ratio agent / bare | | %.2f (target >= 0.67) | |%n", bare / agent);
			System.out.printf("| ratio bare / floor: the best an agent storing these rows could score here | | %.2f | |%n",
					bare / floor);
			System.out.printf("| ratio bare / minimal floor | | %.2f | |%n", bare / minimalFloor);
		}
	}

	/** An agent on a fresh, migrated database whose ingester does not start by itself. */
	private static AgentContext idleAgent(AnvilNode chain, String contract) {
		Map<String, Object> properties = AgentContext.properties(TestDatabase.create(), chain, contract, HOST);
		properties.put("gpuflow.chain.autostart", "false");
		properties.put("audit-token", TOKEN);
		return AgentContext.start(properties);
	}

	/** The ranges the agent asks for (same sizer, same start), fetched and decoded by the same client, nothing else. */
	private static double bare(ChainNode node, long head, int rentals) throws Exception {
		LogRangeSizer ranges = new LogRangeSizer(2_000, 10_000);
		long start = System.nanoTime();
		int logs = 0;
		for (long from = 0; from <= head;) {
			long to = Math.min(head, from + ranges.size() - 1);
			logs += node.rentalLogs(from, to).size();
			ranges.succeeded();
			from = to + 1;
		}
		double seconds = (System.nanoTime() - start) / 1e9;
		assertThat(logs).isEqualTo(rentals);
		return seconds;
	}

	/**
	 * From an empty database until the agent has caught up: every range committed with its events,
	 * sessions, generated keys, leases and audit rows (the checks after the clock stops say so).
	 */
	private static double agent(AgentContext agent, int rentals) throws Exception {
		ChainIngester ingester = agent.bean(ChainIngester.class);
		long start = System.nanoTime();
		while (ingester.step()) {
			// keep going until caught up
		}
		double seconds = (System.nanoTime() - start) / 1e9;
		var jdbc = agent.jdbc();
		assertThat(jdbc.sql("select count(*) from chain_events").query(Long.class).single()).isEqualTo(rentals);
		assertThat(jdbc.sql("select count(*) from sessions where state = 'ACTIVE' and peer_public_key is not null"
				+ " and sealed_private_key is not null and tunnel_ip is not null").query(Long.class).single()).isEqualTo(rentals);
		assertThat(jdbc.sql("select count(*) from leases where held_to is null").query(Long.class).single()).isEqualTo(rentals);
		assertThat(jdbc.sql("select count(*) from audit_log").query(Long.class).single()).isEqualTo(2L * rentals);
		var response = java.net.http.HttpClient.newHttpClient()
			.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + agent.httpPort() + "/v1/audit/verify"))
				.header("Authorization", "Bearer " + TOKEN)
				.build(), java.net.http.HttpResponse.BodyHandlers.ofString());
		assertThat(response.body()).contains("\"ok\":true").contains("\"events\":" + 2 * rentals);
		return seconds;
	}

	/**
	 * What storing the rows the agent must have after a backfill costs PostgreSQL alone: the same
	 * rows (events with their JSON payload, active sessions with keys and addresses, open leases under
	 * the exclusion constraint, two audit rows each) made by {@code INSERT ... SELECT} inside the
	 * server, in one transaction on a freshly migrated database, committed. No client, no JSON-RPC,
	 * no key generation, and the audit statement check switched off (it would refuse the placeholder
	 * hashes): a lower bound on the agent's time, not a design. {@code minimal} first drops every index
	 * and foreign key but the primary keys, the events' natural key, the one-live-session-per-rental
	 * index and the lease exclusion constraint: what exactly-once and no-overlap need, nothing the
	 * routes, the reconciler or auditors read by.
	 */
	static double floor(AnvilNode chain, String contract, int rentals, boolean minimal) throws Exception {
		try (AgentContext migrated = idleAgent(chain, contract);
				Connection connection = migrated.bean(DataSource.class).getConnection()) {
			if (minimal) {
				try (Statement statement = connection.createStatement()) {
					statement.execute(KEEP_ONLY_CORRECTNESS_CONSTRAINTS);
				}
			}
			String[] statements = FLOOR_SQL.formatted(HOST, contract.toLowerCase(), rentals).split(";\n");
			connection.setAutoCommit(false);
			long start = System.nanoTime();
			try (Statement statement = connection.createStatement()) {
				for (String sql : statements) {
					statement.execute(sql);
				}
			}
			connection.commit();
			double seconds = (System.nanoTime() - start) / 1e9;
			try (Statement statement = connection.createStatement();
					ResultSet rows = statement.executeQuery(
							"select (select count(*) from sessions) + (select count(*) from leases where held_to is null)")) {
				rows.next();
				assertThat(rows.getLong(1)).isEqualTo(2L * rentals);
			}
			return seconds;
		}
	}

	private static final String KEEP_ONLY_CORRECTNESS_CONSTRAINTS = """
			do $$
			declare r record;
			begin
			    for r in select i.indexrelid::regclass::text as name from pg_index i join pg_class c on c.oid = i.indrelid
			             where c.relname in ('chain_events', 'sessions', 'leases', 'audit_log') and not i.indisprimary
			               and i.indexrelid::regclass::text not in ('chain_events_natural_key', 'sessions_live_rental', 'leases_no_overlap')
			    loop
			        execute 'drop index ' || r.name;
			    end loop;
			    for r in select conname, conrelid::regclass::text as tab from pg_constraint
			             where contype = 'f' and conrelid::regclass::text in ('sessions', 'leases', 'audit_log')
			    loop
			        execute format('alter table %s drop constraint %I', r.tab, r.conname);
			    end loop;
			end
			$$""";

	private static final String FLOOR_SQL = """
			insert into chain_events (host_id, contract, block_number, block_hash, tx_hash, log_index, kind, rental_id, payload)
			select '%1$s', '%2$s', 100 + g / 100, '0x' || md5(g::text) || md5((g + 1)::text),
			       '0x' || md5(g::text || 'tx') || md5(g::text), g %% 100, 'RentalCreated', g,
			       jsonb_build_object('rentalId', g::text, 'renter', '0x' || substr(md5(g::text), 1, 40),
			                          'startsAt', 1764000000 + g, 'endsAt', 1764086400 + g, 'renterWgPublicKey', '0x' || repeat('0', 64))
			from generate_series(1, %3$d) g;
			insert into sessions (host_id, contract, rental_id, renter, state, starts_at, ends_at, created_event_id, key_source,
			                      peer_public_key, sealed_private_key, created_at, confirmed_at, tunnel_ip)
			select e.host_id, e.contract, e.rental_id, e.payload ->> 'renter', 'ACTIVE', now(), now() + interval '1 day', e.id,
			       'GENERATED', encode(sha256(e.id::text::bytea), 'base64'), sha256(e.tx_hash::bytea) || sha256(e.block_hash::bytea),
			       now(), now(), '10.77.0.1'::inet + e.rental_id::bigint
			from chain_events e;
			insert into leases (host_id, ip, session_id, held_from, reserved)
			select s.host_id, s.tunnel_ip, s.id, now(), tstzrange(now(), null) from sessions s;
			alter table audit_log disable trigger user;
			insert into audit_log (id, host_id, session_id, rental_id, kind, detail, prev_hash, hash)
			select nextval('audit_log_id_seq'), s.host_id, s.id, s.rental_id, k, '', sha256(s.id::text::bytea),
			       sha256((s.id::text || k)::bytea)
			from sessions s cross join (values ('created'), ('confirmed')) kinds (k);
			alter table audit_log enable trigger user""";

	private static double median(List<Double> values) {
		List<Double> sorted = new ArrayList<>(values);
		java.util.Collections.sort(sorted);
		int n = sorted.size();
		return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
	}

	private static String runs(List<Double> values) {
		return String.join(", ", values.stream().map(v -> String.format("%.2f", v)).toList());
	}

	/** Deploys contracts/out/test/BulkRenter.bin and has it rent {@code rentals} times, 100 per transaction. */
	static void bulkRent(AnvilNode chain, String market, int rentals) throws Exception {
		org.web3j.protocol.Web3j web3j = chain.web3j();
		org.web3j.tx.RawTransactionManager sender = new org.web3j.tx.RawTransactionManager(web3j,
				com.gpuflow.agent.testsupport.DevAccounts.credentials(9), chain.chainId());
		java.math.BigInteger gasPrice = web3j.ethGasPrice().send().getGasPrice().multiply(java.math.BigInteger.TWO);
		String bytecode = "0x" + java.nio.file.Files
			.readString(com.gpuflow.agent.testsupport.ProjectPaths.root().resolve("contracts/out/test/BulkRenter.bin"))
			.trim();
		String deployHash = sender.sendTransaction(gasPrice, java.math.BigInteger.valueOf(1_000_000), null, bytecode,
				java.math.BigInteger.ZERO, true).getTransactionHash();
		String bulk = receipt(web3j, deployHash).getContractAddress();
		for (int sent = 0; sent < rentals; sent += 100) {
			int count = Math.min(100, rentals - sent);
			org.web3j.abi.datatypes.Function rentMany = new org.web3j.abi.datatypes.Function("rentMany",
					List.of(new org.web3j.abi.datatypes.Address(market),
							new org.web3j.abi.datatypes.generated.Bytes32(org.web3j.utils.Numeric.hexStringToByteArray(HOST)),
							new org.web3j.abi.datatypes.generated.Uint64(86_400),
							new org.web3j.abi.datatypes.generated.Uint256(count)),
					List.of());
			String hash = sender.sendTransaction(gasPrice, java.math.BigInteger.valueOf(25_000_000), bulk,
					org.web3j.abi.FunctionEncoder.encode(rentMany), BigInteger.valueOf(86_400L * count)).getTransactionHash();
			if (!receipt(web3j, hash).isStatusOK()) {
				throw new IllegalStateException("bulk rent reverted");
			}
		}
	}

	static org.web3j.protocol.core.methods.response.TransactionReceipt receipt(org.web3j.protocol.Web3j web3j, String hash)
			throws Exception {
		long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
		while (System.nanoTime() < deadline) {
			var receipt = web3j.ethGetTransactionReceipt(hash).send().getTransactionReceipt();
			if (receipt.isPresent()) {
				return receipt.get();
			}
			Thread.sleep(5);
		}
		throw new IllegalStateException("no receipt for " + hash + " within 30 s");
	}

}
