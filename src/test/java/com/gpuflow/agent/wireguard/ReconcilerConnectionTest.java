package com.gpuflow.agent.wireguard;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;

import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.rental.PeerObservation;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the reconciler adds for connection quality, on a real wireguard-go interface: a restored peer
 * gets the renter's last endpoint (and a live one keeps whatever the device learned), a removed
 * peer's counters are read just before it goes, and every pass asks for connections to be judged.
 */
class ReconcilerConnectionTest {

	static final Instant NOW = Instant.parse("2026-11-25T18:00:00Z");

	static final Instant LATER = NOW.plus(Duration.ofHours(1));

	final TestInterface wg = new TestInterface(Clock.fixed(NOW, ZoneOffset.UTC), Duration.ofMinutes(1));

	final String a = WireGuardKeys.generate().publicKey();

	final String b = WireGuardKeys.generate().publicKey();

	@BeforeEach
	void bootstrap() {
		wg.wireGuard.ensure();
	}

	@AfterEach
	void cleanUp() {
		wg.close();
	}

	String endpointOf(String key) {
		return wg.dump()
			.peers()
			.stream()
			.filter(p -> p.publicKey().equals(key))
			.findFirst()
			.orElseThrow()
			.peer()
			.endpoint()
			.orElse("(none)");
	}

	@Test
	void aPeerRemovedByHandComesBackWithTheRenterLastEndpoint() {
		wg.sessions.addSeenAt(1, a, wg.ip(2), NOW, LATER, "192.0.2.7:51111").add(2, b, wg.ip(3), NOW, LATER);
		wg.reconciler.runPass();
		assertThat(endpointOf(a)).as("added with the endpoint the sessions remember").isEqualTo("192.0.2.7:51111");
		assertThat(endpointOf(b)).as("never seen: the renter starts").isEqualTo("(none)");

		// The renter roamed: the device learned a new address; the agent must not move it back.
		wg.wg("set", wg.name, "peer", a, "endpoint", "192.0.2.8:52222");
		assertThat(wg.reconciler.runPass().outcome()).isEqualTo(Reconciler.Outcome.IN_SYNC);
		assertThat(endpointOf(a)).isEqualTo("192.0.2.8:52222");

		wg.wg("set", wg.name, "peer", a, "remove");
		wg.reconciler.runPass();
		assertThat(endpointOf(a)).isEqualTo("192.0.2.7:51111");
		assertThat(wg.reconciler.runPass().outcome()).as("the endpoint makes no further change")
			.isEqualTo(Reconciler.Outcome.IN_SYNC);
	}

	@Test
	void withoutARememberedEndpointTheAgentsOwnLastReadingIsUsed() {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER);
		wg.reconciler.runPass();
		wg.wg("set", wg.name, "peer", a, "endpoint", "192.0.2.9:53333");
		wg.reconciler.runPass();
		wg.wg("set", wg.name, "peer", a, "remove");
		wg.reconciler.runPass();
		assertThat(endpointOf(a)).isEqualTo("192.0.2.9:53333");
	}

	@Test
	void aRemovedPeersCountersAreReadJustBeforeItGoes() {
		wg.sessions.addSeenAt(1, a, wg.ip(2), NOW, LATER, "192.0.2.7:51111");
		wg.reconciler.runPass();
		int before = wg.sessions.observations.size();
		wg.sessions.end(1);

		wg.reconciler.runPass();

		List<PeerObservation> finals = wg.sessions.observations.subList(before, wg.sessions.observations.size());
		assertThat(finals).extracting(PeerObservation::publicKey).containsExactly(a);
		assertThat(finals.get(0).endpoint()).contains("192.0.2.7:51111");
		assertThat(wg.sessions.removed).containsExactly(a);
		assertThat(wg.dump().peers()).isEmpty();
	}

	@Test
	void aRemovalGoesAheadWhenTheFinalCountersCannotBeRecorded() {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER);
		wg.reconciler.runPass();
		wg.sessions.end(1);
		InMemorySessions sessions = wg.sessions;
		// Fails only the final-counter report: desiredPeers and the rest still work.
		sessions.failObservations = true;

		wg.reconciler.runPass();

		assertThat(wg.dump().peers()).isEmpty();
	}

	@Test
	void everyPassAsksForConnectionsToBeJudgedAtItsTime() {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER);
		wg.reconciler.runPass();
		wg.reconciler.runPass();
		assertThat(wg.sessions.agedAt).containsExactly(NOW, NOW);
	}

	@Test
	void theTrafficHistoryKnowsOnlyLivePeers() {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER);
		wg.reconciler.runPass();
		assertThat(wg.reconciler.traffic(a)).hasSize(TrafficHistory.BUCKETS);
		assertThat(wg.reconciler.traffic(b)).isEmpty();
		wg.sessions.end(1);
		wg.reconciler.runPass();
		assertThat(wg.reconciler.traffic(a)).isEmpty();
	}

}
