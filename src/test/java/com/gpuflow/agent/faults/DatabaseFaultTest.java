package com.gpuflow.agent.faults;

import java.math.BigInteger;
import java.time.Duration;
import java.time.Instant;
import java.util.stream.StreamSupport;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.RentalMarketClient.RentalCreated;
import com.gpuflow.agent.testsupport.TcpProxy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * PostgreSQL unreachable (the agent's only path to it cut) while rentals arrive, end and are
 * extended on chain: the interface keeps every peer it had for the whole outage, and once the
 * database is back nothing that happened on chain meanwhile is lost.
 */
class DatabaseFaultTest {

	static final Duration INTERVAL = Duration.ofSeconds(2);

	static final Duration POLL = Duration.ofMillis(200);

	/** One reconcile interval plus a chain poll, and a second for the passes themselves on two busy cores. */
	static final Duration PROMISE = INTERVAL.plus(POLL).plusSeconds(1);

	@Test
	void anUnreachableDatabaseRemovesNoPeerAndLosesNoEvent() throws Exception {
		Duration outage = FaultRig.longForm() ? Duration.ofSeconds(60) : Duration.ofSeconds(10);
		try (FaultRig rig = new FaultRig(AnvilNode.startDefault())) {
			TcpProxy path = rig.track(rig.database.proxy());
			Map<String, String> env = rig.environment(true);
			env.put("SPRING_DATASOURCE_URL", rig.database.urlThrough(path));
			env.put("RECONCILE_INTERVAL", INTERVAL.toSeconds() + "s");
			AgentProcess agent = rig.agent(env).start();

			List<RentalCreated> before = rig.market.rentMany(20, rig.host, 3_600, 10,
					i -> (i % 2 == 0) ? RentalMarketClient.ZERO_KEY : FaultRig.renterKey(), Duration.ofMinutes(1));
			Eventually.await(Duration.ofSeconds(30), "20 peers live",
					() -> rig.livePeersIfPresent().map(Map::size).orElse(0) == before.size());
			Map<String, String> peersBefore = rig.livePeers();

			path.cut();
			long cutAt = System.nanoTime();
			// How soon the agent knows (its gate closes, gpuflow_database_reachable 0), sampled beside the chain work.
			java.util.concurrent.atomic.AtomicLong gateClosedMs = new java.util.concurrent.atomic.AtomicLong(-1);
			Thread gateWatch = Thread.ofPlatform().daemon().start(() -> {
				while (System.nanoTime() - cutAt < outage.toNanos()) {
					if (rig.metric(agent, "gpuflow_database_reachable").orElse(1.0) == 0.0) {
						gateClosedMs.set((System.nanoTime() - cutAt) / 1_000_000);
						return;
					}
					AgentProcess.sleep(20);
				}
			});
			// On chain meanwhile: new rentals, ends and extensions the agent cannot store yet.
			List<RentalCreated> during = new ArrayList<>();
			for (int i = 0; i < 5; i++) {
				during.add(rig.market.rent(1 + i, rig.host, 3_600, FaultRig.renterKey()));
			}
			for (int i = 0; i < 3; i++) {
				assertThat(rig.market.endRental(0, before.get(i).rentalId()).isStatusOK()).isTrue();
			}
			assertThat(rig.market.extend(1 + 3 % 9, before.get(3).rentalId(), 600, BigInteger.valueOf(600)).isStatusOK())
				.isTrue();
			during.addAll(rig.market.rentMany(5, rig.host, 3_600, 10, i -> RentalMarketClient.ZERO_KEY,
					Duration.ofMinutes(1)));

			// Sample the interface through the whole outage: no peer may go.
			int samples = 0;
			int smallest = Integer.MAX_VALUE;
			List<String> lost = new ArrayList<>();
			boolean degradedSeen = false;
			while (System.nanoTime() - cutAt < outage.toNanos()) {
				degradedSeen |= "DEGRADED".equals(rig.get(agent, "/actuator/health", false).path("components")
					.path("wireguard")
					.path("status")
					.asText());
				Map<String, String> live = rig.livePeers();
				smallest = Math.min(smallest, live.size());
				peersBefore.forEach((key, ips) -> {
					if (!ips.equals(live.get(key))) {
						lost.add(key.substring(0, 8) + "…");
					}
				});
				samples++;
				AgentProcess.sleep(200);
			}
			assertThat(lost).as("peers removed or changed while the database was down").isEmpty();
			double unreachablePasses = rig.metric(agent, "gpuflow_reconcile_db_unreachable_total").orElse(0.0);
			assertThat(degradedSeen || unreachablePasses > 0)
				.as("a reconcile pass during the outage reported the database down (health DEGRADED or the counter)")
				.isTrue();

			gateWatch.join();
			assertThat(gateClosedMs.get()).as("the agent noticed the database gone (gpuflow_database_reachable 0)")
				.isNotNegative();

			path.restore();
			long restoredAt = System.nanoTime();
			// The interface first: the reconciler reads the database on its next pass.
			Eventually.await(PROMISE, "the 3 ended rentals' peers removed",
					() -> rig.livePeersIfPresent().map(p -> before.subList(0, 3).stream()
						.noneMatch(r -> rig.count("select count(*) from sessions where rental_id = ? and state = 'ACTIVE'",
								r.rentalId()) > 0)
							&& p.equals(rig.wantedPeers())
							&& p.size() == peersBefore.size() - 3 + during.size())
						.orElse(false));
			long convergedMs = (System.nanoTime() - restoredAt) / 1_000_000;
			assertThat(rig.metric(agent, "gpuflow_database_reachable")).as("the gate open again").contains(1.0);

			Map<String, Object> figures = new LinkedHashMap<>();
			figures.put("peers before the outage", peersBefore.size());
			figures.put("outage", outage.toMillis() + " ms");
			figures.put("on chain during the outage", during.size() + " rentals, 3 ends, 1 extension");
			figures.put("interface samples during the outage", samples + ", smallest peer count " + smallest + ", none lost");
			figures.put("cut to the agent's gate closed", gateClosedMs.get() + " ms");
			figures.put("reconcile passes with the database down",
					rig.metric(agent, "gpuflow_reconcile_db_unreachable_total").map(String::valueOf).orElse("?"));
			figures.put("wireguard health DEGRADED during the outage", String.valueOf(degradedSeen));
			figures.put("restore to converged (new peers in, ended out)", convergedMs + " ms");
			figures.put("promise (RECONCILE_INTERVAL + poll + 1 s)", PROMISE.toMillis() + " ms");
			figures.putAll(rig.assertMatchesChain(agent, true, Duration.ofSeconds(30)));
			FaultRig.printFigures("DatabaseFaultTest", figures);
		}
	}

	@ParameterizedTest(name = "connections {0}")
	@ValueSource(strings = { "refused", "black-holed" })
	void aRentalThatEndsWhileTheDatabaseIsCutLosesItsPeerWithinTwoSecondsAndTheAuditHasItOnceItIsBack(String cut)
			throws Exception {
		try (FaultRig rig = new FaultRig(AnvilNode.startDefault())) {
			TcpProxy path = rig.track(rig.database.proxy());
			Map<String, String> env = rig.environment(true);
			env.put("SPRING_DATASOURCE_URL", rig.database.urlThrough(path));
			env.put("RECONCILE_INTERVAL", INTERVAL.toSeconds() + "s");
			AgentProcess agent = rig.agent(env).start();

			RentalCreated ending = rig.market.rent(1, rig.host, 20, FaultRig.renterKey());
			RentalCreated staying = rig.market.rent(2, rig.host, 3_600, FaultRig.renterKey());
			String endingKey = wgKey(ending);
			String stayingKey = wgKey(staying);
			Eventually.await(Duration.ofSeconds(15), "both peers live",
					() -> rig.livePeersIfPresent().map(p -> p.containsKey(endingKey)
							&& p.containsKey(stayingKey)).orElse(false));
			assertThat(Instant.now()).as("the outage starts before the rental ends").isBefore(Instant.ofEpochSecond(ending.endsAt()).minusSeconds(3));

			if (cut.equals("refused")) {
				path.cut();
			}
			else {
				path.blackHole();
			}
			Instant endsAt = Instant.ofEpochSecond(ending.endsAt());
			Instant gone = Eventually.await(Duration.ofSeconds(40), "the ended rental's peer removed", () -> {
				boolean present = rig.livePeersIfPresent().map(p -> p.containsKey(endingKey)).orElse(true);
				return present ? null : Instant.now();
			}, java.util.Objects::nonNull);
			Duration late = Duration.between(endsAt, gone);
			assertThat(late).as("removed after endsAt by no more than 2 s").isLessThan(Duration.ofSeconds(2));
			assertThat(rig.livePeers()).as("the other rental keeps its peer").containsKey(stayingKey);
			// Still within the outage: the database knows nothing yet.
			assertThat(rig.metric(agent, "gpuflow_reconcile_removed_while_db_unreachable_total")).contains(1.0);

			path.restore();
			JsonNode events = Eventually.await(Duration.ofSeconds(30), "the removal in the audit trail", () -> {
				try {
					return rig.get(agent, "/v1/audit/sessions/" + ending.rentalId() + "/events", true);
				}
				catch (IllegalStateException e) {
					// 503 until the agent's gate has seen the database again.
					return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
				}
			}, e -> kinds(e).contains("peer_removed"));
			assertThat(kinds(events)).contains("expired", "peer_removed");
			JsonNode removal = StreamSupport.stream(events.get("events").spliterator(), false)
				.filter(e -> e.get("kind").asText().equals("peer_removed"))
				.findFirst()
				.orElseThrow();
			assertThat(removal.get("detail").asText()).contains("while the database was unreachable");
			Instant recorded = Instant.parse(removal.get("detail").asText().replaceAll(".*removed at (\\S+) while.*", "$1"));
			assertThat(recorded).as("the time it really went").isBetween(endsAt, gone);
			assertThat(rig.count("select count(*) from sessions where rental_id = ? and state = 'EXPIRED' and peer_removed_at between ? and ?",
					ending.rentalId(), java.sql.Timestamp.from(endsAt), java.sql.Timestamp.from(gone))).isEqualTo(1);
			assertThat(rig.get(agent, "/v1/audit/verify", true).get("ok").asBoolean()).isTrue();

			Map<String, Object> figures = new LinkedHashMap<>();
			figures.put("database connections", cut);
			figures.put("endsAt to peer removed (outage)", late.toMillis() + " ms");
			FaultRig.printFigures("DatabaseFaultTest expiry during outage", figures);
		}
	}

	/** The rental's renter key as WireGuard shows it (base64), from the event's bytes32. */
	private static String wgKey(RentalCreated rental) {
		return java.util.Base64.getEncoder().encodeToString(org.web3j.utils.Numeric.hexStringToByteArray(rental.renterWgPublicKey()));
	}

	private static List<String> kinds(JsonNode events) {
		return StreamSupport.stream(events.path("events").spliterator(), false).map(e -> e.get("kind").asText()).toList();
	}

}
