package com.gpuflow.agent.faults;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.RentalMarketClient.RentalCreated;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The chain misbehaving under the agent: the node goes away and comes back, blocks are replaced by
 * reorganisations deeper and shallower than the confirmation setting, and a node answers errors and
 * garbage to some calls. Each ends with the database (and where peers matter, the interface)
 * matching the chain exactly.
 */
class ChainFaultTest {

	static final Duration PROMISE = Duration.ofSeconds(2);

	@Test
	void theNodeStoppedAndRestartedMidStreamLosesNothing() throws Exception {
		int rentals = FaultRig.longForm() ? 500 : 100;
		Path stateDirectory = Files.createTempDirectory("anvil-faults-state");
		Path state = stateDirectory.resolve("state.json");
		try (FaultRig rig = new FaultRig(AnvilNode.builder().stateFile(state).start())) {
			AgentProcess agent = rig.agent(rig.environment(true)).start();
			RentalStream stream = rig.track(new RentalStream(rig.market, rig.host, rentals, Duration.ofMillis(300),
					System.nanoTime())).start();
			List<Long> outages = new ArrayList<>();
			int stops = FaultRig.longForm() ? 5 : 2;
			List<Integer> marks = new ArrayList<>();
			for (int outage = 1; outage <= stops; outage++) {
				// Spread over the stream at fixed marks: spacing each stop a quarter of the stream after
				// the last one asked for more rentals than the long form's five stops have (stalled at 515 of 500).
				int mark = outage * rentals / (stops + 1);
				Eventually.await(Duration.ofMinutes(2), "stream reached " + mark, stream::status,
						status -> stream.rented.get() >= mark);
				marks.add(stream.rented.get());
				long stoppedAt = System.nanoTime();
				rig.chain.stop();
				AgentProcess.sleep(3_000);
				rig.chain.start();
				outages.add((System.nanoTime() - stoppedAt) / 1_000_000);
			}
			stream.awaitDone(Duration.ofMinutes(5));

			Map<String, Object> figures = new LinkedHashMap<>();
			figures.put("rentals sent", stream.rented.get());
			figures.put("node outages (ms, stop to answering)", outages);
			figures.put("rentals sent at each stop", marks);
			figures.put("stream retries while the node was away", stream.retries.get());
			figures.put("stream transactions the restarted node had no receipt for", stream.withoutReceipt.get());
			figures.put("agent node errors counted", rig.metric(agent, "gpuflow_chain_node_errors_total").orElse(-1.0));
			figures.putAll(rig.assertMatchesChain(agent, true, Duration.ofSeconds(60)));
			FaultRig.printFigures("ChainFaultTest: node stopped and restarted", figures);
		}
		finally {
			Files.deleteIfExists(state);
			Files.deleteIfExists(stateDirectory);
		}
	}

	@Test
	void reorganisationsOfDepthOneToFiveUndoExactlyWhatTheOrphanedBlocksDid() throws Exception {
		try (FaultRig rig = new FaultRig(AnvilNode.startDefault())) {
			AgentProcess agent = rig.agent(rig.environment(true)).start();
			List<RentalCreated> kept = new ArrayList<>();
			for (int i = 0; i < 5; i++) {
				kept.add(rig.market.rent(1 + i, rig.host, 3_600, FaultRig.renterKey()));
			}
			// Live on the interface and recorded as such: the baseline below must not catch
			// peer_added_at still being written.
			Eventually.await(Duration.ofSeconds(30), "kept rentals live",
					() -> rig.livePeersIfPresent().map(Map::size).orElse(0) == kept.size()
							&& rig.count("select count(*) from sessions where peer_added_at is not null") == kept.size());

			Map<String, Object> figures = new LinkedHashMap<>();
			for (int depth = 1; depth <= 5; depth++) {
				List<Map<String, Object>> keptBefore = liveSessions(rig);
				Map<String, String> peersBefore = rig.livePeers();
				long auditBefore = rig.count("select coalesce(max(id), 0) from audit_log");

				// The orphaned blocks: one transaction each (automine). Rentals, and from depth 2 on an
				// extension of a kept rental in the last block.
				List<RentalCreated> orphans = new ArrayList<>();
				for (int b = 0; b < depth; b++) {
					if (depth >= 2 && b == depth - 1) {
						var receipt = rig.market.extend(1, kept.get(0).rentalId(), 600, BigInteger.valueOf(600));
						assertThat(receipt.isStatusOK()).isTrue();
					}
					else {
						orphans.add(rig.market.rent(6 + b % 4, rig.host, 3_600, FaultRig.renterKey()));
					}
				}
				int expectedPeers = peersBefore.size() + orphans.size();
				Eventually.await(Duration.ofSeconds(30), "orphans-to-be live at depth " + depth,
						() -> rig.livePeersIfPresent().map(Map::size).orElse(0) == expectedPeers);
				if (depth >= 2) {
					Eventually.await(Duration.ofSeconds(10), "extension applied", () -> rig.count(
							"select count(*) from sessions where rental_id = ? and state = 'ACTIVE' and ends_at = to_timestamp(?)",
							kept.get(0).rentalId(), endsAtOf(keptBefore, kept.get(0).rentalId()) + 600) == 1);
				}
				List<Long> orphanSessions = new ArrayList<>();
				for (RentalCreated orphan : orphans) {
					orphanSessions.add(rig.count("select id from sessions where rental_id = ? and state = 'ACTIVE'",
							orphan.rentalId()));
				}

				long reorgAt = System.nanoTime();
				rig.chain.reorg(depth);
				Eventually.await(Duration.ofSeconds(30), "orphaned sessions reorged out and peers removed at depth " + depth,
						() -> List.of(rig.count("select count(*) from sessions where state = 'REORGED_OUT' and id = any(?)",
								(Object) orphanSessions.toArray(Long[]::new)) == orphans.size(),
								rig.livePeersIfPresent().map(peersBefore::equals).orElse(false),
								liveSessions(rig).equals(keptBefore)) + " " + liveSessions(rig) + " vs " + keptBefore,
						seen -> seen.startsWith("[true, true, true]"));
				long undoneMs = (System.nanoTime() - reorgAt) / 1_000_000;

				for (RentalCreated orphan : orphans) {
					assertThat(rig.status(agent, "/v1/rentals/" + orphan.rentalId())).as("orphan is gone for renters")
						.isEqualTo(404);
					assertThat(rig.livePeers()).doesNotContainKey(keyOf(orphan));
				}
				assertThat(rig.count("select count(*) from audit_log where kind = 'reorged_out' and session_id = any(?)",
						(Object) orphanSessions.toArray(Long[]::new))).isEqualTo(orphans.size());
				// Nothing else touched: the kept sessions are exactly as before (an orphaned extension
				// undone), their peers stayed, and none of them lost its peer, ended or was reorged out.
				assertThat(liveSessions(rig)).isEqualTo(keptBefore);
				assertThat(rig.livePeers()).isEqualTo(peersBefore);
				assertThat(rig.rows("select a.session_id, a.kind, a.detail from audit_log a join sessions s on s.id = a.session_id "
						+ "where a.id > ? and s.state = 'ACTIVE' "
						+ "and a.kind in ('peer_removed', 'ended', 'expired', 'reorged_out', 'key_destroyed') "
						// The undone extension is itself on record (kind reorged_out, naming the event).
						+ "and a.detail not like 'RentalExtended orphaned%'", auditBefore))
					.as("kept sessions touched").isEmpty();
				if (depth >= 2) {
					assertThat(rig.count("select count(*) from audit_log where id > ? and session_id = ? and kind = 'reorged_out' "
							+ "and detail like 'RentalExtended orphaned%'", auditBefore, keptBefore.get(0).get("id")))
						.as("the undone extension is on record").isEqualTo(1);
				}
				figures.put("depth " + depth, orphans.size() + " rentals" + (depth >= 2 ? " + 1 extension" : "")
						+ " orphaned, undone and peers removed in " + undoneMs + " ms");
			}
			figures.put("reorgs counted by the agent", rig.metric(agent, "gpuflow_chain_reorgs_total").orElse(-1.0));
			figures.putAll(rig.assertMatchesChain(agent, true, Duration.ofSeconds(30)));
			FaultRig.printFigures("ChainFaultTest: reorganisations depth 1..5, CHAIN_CONFIRMATIONS=0", figures);
		}
	}

	@Test
	void aReorganisationShallowerThanTheConfirmationsIsNeverActedOn() throws Exception {
		try (FaultRig rig = new FaultRig(AnvilNode.startDefault())) {
			Map<String, String> env = rig.environment(true);
			env.put("CHAIN_CONFIRMATIONS", "3");
			AgentProcess agent = rig.agent(env).start();
			RentalCreated kept = rig.market.rent(1, rig.host, 3_600, FaultRig.renterKey());
			rig.chain.mine(3);
			Eventually.await(Duration.ofSeconds(30), "kept rental live", () -> rig.livePeersIfPresent()
				.map(p -> p.containsKey(keyOf(kept)))
				.orElse(false));

			// Watch the orphan's id, its key and the audit log the whole time, every 50 ms.
			String orphanKey = FaultRig.renterKey();
			String orphanPeer = java.util.Base64.getEncoder().encodeToString(org.web3j.utils.Numeric.hexStringToByteArray(orphanKey));
			AtomicBoolean watching = new AtomicBoolean(true);
			AtomicInteger samples = new AtomicInteger();
			List<String> seen = new CopyOnWriteArrayList<>();
			BigInteger orphanId = rig.market.rentalCount().add(BigInteger.ONE);
			Thread watcher = Thread.ofPlatform().daemon().start(() -> {
				while (watching.get()) {
					if (rig.count("select count(*) from sessions where rental_id = ?", orphanId) > 0) {
						seen.add("session");
					}
					if (rig.count("select count(*) from audit_log where rental_id = ?", orphanId) > 0) {
						seen.add("audit row");
					}
					if (rig.livePeersIfPresent().map(p -> p.containsKey(orphanPeer)).orElse(false)) {
						seen.add("peer");
					}
					samples.incrementAndGet();
					AgentProcess.sleep(50);
				}
			});
			String pendingState;
			try {
				RentalCreated orphan = rig.market.rent(2, rig.host, 3_600, orphanKey);
				assertThat(orphan.rentalId()).isEqualTo(orphanId);
				rig.chain.mine(1);
				// Two blocks deep, one short of three confirmations: seen, shown as pending, not acted on.
				pendingState = Eventually.await(Duration.ofSeconds(10), "orphan seen as pending",
						() -> rig.status(agent, "/v1/rentals/" + orphanId) == 200
								? rig.get(agent, "/v1/rentals/" + orphanId, false).path("state").asText() : "unknown",
						"PENDING"::equals);
				rig.chain.reorg(2);
				// Give the agent ample time to act on something it must not act on.
				rig.chain.mine(5);
				AgentProcess.sleep(3_000);
				assertThat(rig.status(agent, "/v1/rentals/" + orphanId)).as("the orphan is unknown").isEqualTo(404);
			}
			finally {
				watching.set(false);
				watcher.join(5_000);
			}
			assertThat(seen).as("acted on a rental the chain dropped before it was confirmed").isEmpty();

			// The id comes back for another renter: that is a new rental, and only it gets a session.
			String controlKey = FaultRig.renterKey();
			RentalCreated control = rig.market.rent(3, rig.host, 3_600, controlKey);
			assertThat(control.rentalId()).isEqualTo(orphanId);
			rig.chain.mine(3);
			Eventually.await(Duration.ofSeconds(30), "control rental live",
					() -> rig.livePeersIfPresent().map(p -> p.containsKey(keyOf(control))).orElse(false));
			assertThat(rig.livePeers()).doesNotContainKey(orphanPeer);
			assertThat(rig.count("select count(*) from sessions where rental_id = ?", orphanId)).isEqualTo(1);
			long controlSession = rig.count("select id from sessions where rental_id = ?", orphanId);
			assertThat(rig.count("select count(*) from audit_log where rental_id = ? and session_id <> ?", orphanId,
					controlSession)).isZero();
			assertThat(rig.count("select count(*) from sessions where renter = ?", control.renter())).isEqualTo(1);

			Map<String, Object> figures = new LinkedHashMap<>();
			figures.put("confirmations / reorg depth", "3 / 2");
			figures.put("orphan state before the reorg", pendingState);
			figures.put("watch samples (session, audit, peer)", samples.get() + ", none saw the orphan");
			figures.putAll(rig.assertMatchesChain(agent, true, Duration.ofSeconds(30)));
			FaultRig.printFigures("ChainFaultTest: reorg shallower than CHAIN_CONFIRMATIONS", figures);
		}
	}

	@Test
	void aNodeAnsweringErrorsAndGarbageStillYieldsCompleteExactlyOnceIngestion() throws Exception {
		int rentals = FaultRig.longForm() ? 400 : 100;
		try (FaultRig rig = new FaultRig(AnvilNode.startDefault())) {
			// 5% of calls: a step makes 5 to 15 calls (head, checkpoint, logs, a header per block near the
			// tip), so about half the steps meet a fault.
			JsonRpcChaosProxy proxy = rig.track(new JsonRpcChaosProxy(rig.chain.rpcUrl(), 0.05, 20, rig.host, 7));
			proxy.injectGarbageLogs(true);
			// With the interface: the reconcile pass is also what expires sessions by the agent's clock.
			Map<String, String> env = rig.environment(true);
			env.put("CHAIN_RPC_URL", proxy.url());
			// A backlog first, so the agent starts with a backfill and meets the range limit.
			rig.market.rentMany(60, rig.host, 3_600, 10, i -> (i % 2 == 0) ? RentalMarketClient.ZERO_KEY : FaultRig.renterKey(),
					Duration.ofMinutes(2));
			long started = System.nanoTime();
			AgentProcess agent = rig.agent(env).start();
			RentalStream stream = rig.track(new RentalStream(rig.market, rig.host, rentals, Duration.ofMillis(200),
					System.nanoTime())).start();
			stream.awaitDone(Duration.ofMinutes(5));

			Map<String, Object> figures = new LinkedHashMap<>();
			figures.put("rentals sent", "60 before the agent started + " + stream.rented.get() + " while it ran");
			figures.putAll(rig.assertMatchesChain(agent, true, Duration.ofSeconds(120)));
			figures.put("JSON-RPC calls through the proxy", proxy.calls());
			figures.put("faults injected", proxy.faultCounts());
			Eventually.await(Duration.ofSeconds(30), "every injected malformed log recorded", () -> rig
				.count("select count(*) from chain_events where kind = 'Undecodable'") == proxy.injected().size());
			assertThat(proxy.injected()).as("the proxy injected garbage").isNotEmpty();
			List<String> recorded = rig
				.rows("select tx_hash from chain_events where kind = 'Undecodable'")
				.stream()
				.map(r -> (String) r.get("tx_hash"))
				.toList();
			assertThat(recorded).containsExactlyInAnyOrderElementsOf(proxy.injected());
			assertThat(rig.count("select count(*) from sessions where rental_id = 42 and renter = ?",
					"0x" + "11".repeat(20))).as("no session from a malformed log").isZero();
			figures.put("malformed logs injected / recorded Undecodable", proxy.injected().size() + " / " + recorded.size());
			figures.put("agent undecodable counter", rig.metric(agent, "gpuflow_chain_undecodable_logs_total").orElse(-1.0));
			figures.put("agent node errors counted", rig.metric(agent, "gpuflow_chain_node_errors_total").orElse(-1.0));
			figures.put("wall time", (System.nanoTime() - started) / 1_000_000 + " ms");
			FaultRig.printFigures("ChainFaultTest: node answering errors and garbage (5% of calls)", figures);
		}
	}

	/** Live sessions as comparable rows: what a reorganisation elsewhere must leave alone. */
	static List<Map<String, Object>> liveSessions(FaultRig rig) {
		return rig.rows("select id, rental_id, state, host(tunnel_ip) as ip, extract(epoch from ends_at)::bigint as ends_at, "
				+ "peer_public_key, peer_added_at from sessions where state <> 'REORGED_OUT' order by id");
	}

	static long endsAtOf(List<Map<String, Object>> sessions, BigInteger rentalId) {
		return sessions.stream()
			.filter(s -> ((BigDecimal) s.get("rental_id")).toBigIntegerExact().equals(rentalId))
			.mapToLong(s -> ((Number) s.get("ends_at")).longValue())
			.findFirst()
			.orElseThrow();
	}

	static String keyOf(RentalCreated rental) {
		return java.util.Base64.getEncoder().encodeToString(org.web3j.utils.Numeric.hexStringToByteArray(rental.renterWgPublicKey()));
	}

}
