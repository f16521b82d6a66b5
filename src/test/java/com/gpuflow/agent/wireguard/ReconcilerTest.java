package com.gpuflow.agent.wireguard;

import com.gpuflow.agent.rental.SessionPort;
import com.gpuflow.agent.rental.DesiredPeer;
import com.gpuflow.agent.rental.PeerObservation;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.testsupport.RenterNamespace;

import static org.assertj.core.api.Assertions.assertThat;

/** The reconciler against a real wireguard-go interface, with the session side in memory. */
class ReconcilerTest {

	static final Instant NOW = Instant.parse("2026-11-25T18:00:00Z");

	static final Instant LATER = NOW.plus(Duration.ofHours(1));

	final TestInterface wg = new TestInterface(Clock.fixed(NOW, ZoneOffset.UTC), Duration.ofMinutes(1));

	final String a = WireGuardKeys.generate().publicKey();

	final String b = WireGuardKeys.generate().publicKey();

	final String c = WireGuardKeys.generate().publicKey();

	@BeforeEach
	void bootstrap() {
		wg.wireGuard.ensure();
	}

	@AfterEach
	void cleanUp() {
		wg.close();
	}

	Map<String, List<String>> livePeers() {
		return wg.dump()
			.peers()
			.stream()
			.collect(Collectors.toMap(LivePeer::publicKey, p -> List.copyOf(p.peer().allowedIps())));
	}

	@Test
	void addsWantedPeersWithTheirAddressAndKeepaliveThenASecondPassChangesNothing() {
		wg.sessions.add(1, a, wg.ip(2), NOW.minusSeconds(1), LATER).add(2, b, wg.ip(3), NOW.minusSeconds(1), LATER);

		Reconciler.PassResult first = wg.reconciler.runPass();
		Reconciler.PassResult second = wg.reconciler.runPass();

		assertThat(first.outcome()).isEqualTo(Reconciler.Outcome.APPLIED);
		assertThat(first.added()).isEqualTo(2);
		assertThat(livePeers()).isEqualTo(Map.of(a, List.of(wg.ip(2) + "/32"), b, List.of(wg.ip(3) + "/32")));
		assertThat(wg.dump().peers()).allSatisfy(p -> assertThat(p.peer().keepalive()).isEqualTo(25));
		assertThat(second.outcome()).isEqualTo(Reconciler.Outcome.IN_SYNC);
		assertThat(second.added() + second.updated() + second.removed()).isZero();
		assertThat(wg.sessions.added).extracting(DesiredPeer::sessionId).containsExactlyInAnyOrder(1L, 2L);
		assertThat(wg.meters.get("gpuflow.peers.active").gauge().value()).isEqualTo(2);
		assertThat(wg.meters.get("gpuflow.peer.confirmation.to.live").timer().count()).isEqualTo(2);
		assertThat(wg.reconciler.snapshot().peers()).extracting(PeerSnapshot.Row::sessionIds)
			.containsExactlyInAnyOrder(List.of(1L), List.of(2L));
	}

	@Test
	void anEndedSessionLosesItsPeerWhileTheOthersStayUntouched() {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER).add(2, b, wg.ip(3), NOW, LATER);
		wg.reconciler.runPass();

		wg.sessions.end(1);
		wg.sessions.add(3, c, wg.ip(4), NOW, LATER);
		Reconciler.PassResult pass = wg.reconciler.runPass();

		assertThat(pass.removed()).isEqualTo(1);
		assertThat(pass.added()).isEqualTo(1);
		assertThat(pass.driftRepairs()).isZero();
		assertThat(livePeers()).isEqualTo(Map.of(b, List.of(wg.ip(3) + "/32"), c, List.of(wg.ip(4) + "/32")));
		assertThat(wg.sessions.removed).containsExactly(a);
		assertThat(wg.reconciler.runPass().outcome()).isEqualTo(Reconciler.Outcome.IN_SYNC);
	}

	@Test
	void aSessionPastItsEndsAtIsRemovedByTheClockAlone() {
		Instant soon = NOW.plusSeconds(1);
		wg.sessions.add(1, a, wg.ip(2), NOW, soon);
		wg.reconciler.runPass();
		assertThat(livePeers()).containsKey(a);

		// Same interface, a reconciler whose clock is past the deadline: no session change needed.
		Reconciler afterDeadline = new Reconciler(wg.sessions, wg.wireGuard, Clock.fixed(soon, ZoneOffset.UTC),
				wg.meters, 25, Duration.ofMinutes(1));
		afterDeadline.runPass();

		assertThat(livePeers()).isEmpty();
	}

	@Test
	void twoSessionsWithOneRenterKeyShareOnePeerWithBothAddresses() {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER).add(2, a, wg.ip(3), NOW, LATER);

		wg.reconciler.runPass();

		assertThat(livePeers()).isEqualTo(Map.of(a, List.of(wg.ip(2) + "/32", wg.ip(3) + "/32")));
		assertThat(wg.sessions.added).extracting(DesiredPeer::sessionId).containsExactlyInAnyOrder(1L, 2L);
	}

	@Test
	void anAddressMovesToANewSessionWithoutTheOldHolderKeepingIt() {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER);
		wg.reconciler.runPass();

		wg.sessions.end(1);
		wg.sessions.add(2, b, wg.ip(2), NOW, LATER);
		wg.reconciler.runPass();

		assertThat(livePeers()).isEqualTo(Map.of(b, List.of(wg.ip(2) + "/32")));
	}

	@Test
	void aPeerAddedByHandIsRemovedAndAPeerDeletedByHandIsRestored() {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER).add(2, b, wg.ip(3), NOW, LATER);
		wg.reconciler.runPass();
		String intruder = WireGuardKeys.generate().publicKey();
		wg.wg("set", wg.name, "peer", intruder, "allowed-ips", wg.ip(50) + "/32", "peer", a, "remove", "peer", b,
				"allowed-ips", wg.ip(3) + "/32," + wg.ip(51) + "/32");

		Reconciler.PassResult pass = wg.reconciler.runPass();

		assertThat(livePeers()).isEqualTo(Map.of(a, List.of(wg.ip(2) + "/32"), b, List.of(wg.ip(3) + "/32")));
		assertThat(pass.driftRepairs()).isEqualTo(3);
		assertThat(wg.meters.get("gpuflow.reconcile.drift.repairs").tag("kind", "add").counter().count()).isEqualTo(1);
		assertThat(wg.meters.get("gpuflow.reconcile.drift.repairs").tag("kind", "remove").counter().count()).isEqualTo(1);
		assertThat(wg.meters.get("gpuflow.reconcile.drift.repairs").tag("kind", "update").counter().count()).isEqualTo(1);
		assertThat(wg.reconciler.runPass().outcome()).isEqualTo(Reconciler.Outcome.IN_SYNC);
	}

	@Test
	void aDeletedInterfaceIsRecreatedAndRefilled() {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER).add(2, b, wg.ip(3), NOW, LATER);
		wg.reconciler.runPass();

		RenterNamespace.sh("ip", "link", "del", wg.name);
		Reconciler.PassResult pass = wg.reconciler.runPass();

		assertThat(pass.outcome()).isEqualTo(Reconciler.Outcome.APPLIED);
		assertThat(livePeers()).isEqualTo(Map.of(a, List.of(wg.ip(2) + "/32"), b, List.of(wg.ip(3) + "/32")));
		assertThat(RenterNamespace.sh("ip", "-o", "address", "show", "dev", wg.name)).contains(wg.serverIp() + "/24");
		assertThat(wg.wireGuard.isolationInstalled()).isTrue();
		assertThat(wg.meters.get("gpuflow.wireguard.interface.restores").counter().count()).isEqualTo(1);
	}

	@Test
	void aKilledWireguardGoIsRestartedAndRefilled() throws Exception {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER);
		wg.reconciler.runPass();
		Process first = wg.wireGuard.wireguardGoProcess().orElseThrow();

		first.destroyForcibly().waitFor();
		Reconciler.PassResult pass = wg.reconciler.runPass();

		assertThat(pass.outcome()).isEqualTo(Reconciler.Outcome.APPLIED);
		assertThat(wg.wireGuard.wireguardGoProcess()).hasValueSatisfying(p -> assertThat(p.pid()).isNotEqualTo(first.pid()));
		assertThat(livePeers()).isEqualTo(Map.of(a, List.of(wg.ip(2) + "/32")));
	}

	@Test
	void whenTheSessionsCannotBeReadTheInterfaceKeepsEveryPeer() {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER).add(2, b, wg.ip(3), NOW, LATER);
		wg.reconciler.runPass();
		Map<String, List<String>> before = livePeers();

		wg.sessions.databaseDown = true;
		Reconciler.PassResult pass = wg.reconciler.runPass();

		assertThat(pass.outcome()).isEqualTo(Reconciler.Outcome.DESIRED_UNAVAILABLE);
		assertThat(livePeers()).isEqualTo(before);
		assertThat(wg.meters.get("gpuflow.reconcile.db.unreachable").counter().count()).isEqualTo(1);
		assertThat(new WireGuardHealthIndicator(wg.reconciler).health().getStatus())
			.isEqualTo(WireGuardHealthIndicator.DEGRADED);

		wg.sessions.databaseDown = false;
		wg.sessions.end(1);
		assertThat(wg.reconciler.runPass().outcome()).isEqualTo(Reconciler.Outcome.APPLIED);
		assertThat(livePeers()).containsOnlyKeys(b);
		assertThat(new WireGuardHealthIndicator(wg.reconciler).health().getStatus().getCode()).isEqualTo("UP");
	}

	@Test
	void changesTheSessionSideCouldNotRecordAreReportedOnTheNextPass() {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER);
		InMemorySessions flaky = wg.sessions;
		Reconciler reconciler = new Reconciler(new SessionPort() {
			int calls;

			@Override
			public void settleDue(Instant now) {
				flaky.settleDue(now);
			}

			@Override
			public List<DesiredPeer> desiredPeers(Instant now) {
				return flaky.desiredPeers(now);
			}

			@Override
			public java.util.Optional<Instant> nextDeadline(Instant now) {
				return flaky.nextDeadline(now);
			}

			@Override
			public void peersAdded(java.util.Collection<DesiredPeer> added, Instant at) {
				if (calls++ == 0) {
					throw new IllegalStateException("database went away mid-pass");
				}
				flaky.peersAdded(added, at);
			}

			@Override
			public void peersRemoved(java.util.Collection<String> keys, Instant at) {
				flaky.peersRemoved(keys, at);
			}

			@Override
			public void observed(java.util.Collection<PeerObservation> observations, Instant at) {
				flaky.observed(observations, at);
			}
		}, wg.wireGuard, Clock.fixed(NOW, ZoneOffset.UTC), wg.meters, 25, Duration.ofMinutes(1));

		reconciler.runPass();
		assertThat(flaky.added).isEmpty();
		reconciler.runPass();

		assertThat(flaky.added).extracting(DesiredPeer::sessionId).containsExactly(1L);
	}

	@Test
	void observationsArePassedOnOnlyWhenTheyChange() {
		wg.sessions.add(1, a, wg.ip(2), NOW, LATER);
		wg.reconciler.runPass();
		int afterFirst = wg.sessions.observations.size();

		wg.reconciler.runPass();

		assertThat(afterFirst).isEqualTo(1);
		assertThat(wg.sessions.observations).hasSize(1).first().satisfies(o -> {
			assertThat(o.publicKey()).isEqualTo(a);
			assertThat(o.latestHandshake()).isEmpty();
		});
	}

}
