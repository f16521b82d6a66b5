package com.gpuflow.agent.wireguard;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.testsupport.OffsetClock;

import static com.gpuflow.agent.wireguard.ReconcilerSchedulingTest.awaitTrue;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * While the wanted peers cannot be read, a real interface loses exactly the peers whose last known
 * endsAt has passed, on time, and the removals reach the session side once it answers again.
 */
class FailStaticExpiryTest {

	final String a = WireGuardKeys.generate().publicKey();

	final String b = WireGuardKeys.generate().publicKey();

	TestInterface wg;

	@BeforeEach
	void noInterfaceYet() {
		wg = null;
	}

	@AfterEach
	void cleanUp() {
		if (wg != null) {
			wg.close();
		}
	}

	Map<String, List<String>> livePeers() {
		return wg.dump()
			.peers()
			.stream()
			.collect(Collectors.toMap(LivePeer::publicKey, p -> List.copyOf(p.peer().allowedIps())));
	}

	boolean hasPeer(String key) {
		try {
			return livePeers().containsKey(key);
		}
		catch (WgCommandException e) {
			return false;
		}
	}

	@Test
	void withTheDatabaseRefusingARentalThatReachesEndsAtLosesItsPeerWithinTwoSecondsAndTheOthersStay() throws Exception {
		wg = new TestInterface(Clock.systemUTC(), Duration.ofSeconds(5));
		Instant endsAt = Instant.now().plusMillis(2500);
		wg.sessions.add(1, a, wg.ip(2), Instant.now(), endsAt).add(2, b, wg.ip(3), Instant.now(), Instant.now().plusSeconds(3600));
		wg.reconciler.start();
		awaitTrue(() -> hasPeer(a) && hasPeer(b), Duration.ofSeconds(5));

		wg.sessions.databaseDown = true;
		wg.reconciler.requestPass();
		awaitTrue(() -> !hasPeer(a), Duration.ofSeconds(10));
		Duration late = Duration.between(endsAt, Instant.now());

		assertThat(late).isLessThan(Duration.ofSeconds(2));
		assertThat(livePeers()).containsOnlyKeys(b);
		assertThat(wg.sessions.removed).isEmpty();
		assertThat(wg.sessions.removedWhileUnreachable).isEmpty();
		assertThat(wg.meters.get("gpuflow.reconcile.removed.while.db.unreachable").counter().count()).isEqualTo(1);

		wg.sessions.databaseDown = false;
		wg.reconciler.requestPass();
		awaitTrue(() -> wg.sessions.removedWhileUnreachable.containsKey(a), Duration.ofSeconds(10));
		Instant recorded = wg.sessions.removedWhileUnreachable.get(a);
		assertThat(recorded).as("the time it really went, not when the database came back")
			.isBetween(endsAt, endsAt.plusSeconds(2));
		assertThat(wg.sessions.removedWhileUnreachable).containsOnlyKeys(a);
		assertThat(livePeers()).containsOnlyKeys(b);
	}

	@Test
	void aDatabaseThatStopsAnsweringDoesNotHoldARemovalPastTwoSeconds() throws Exception {
		wg = new TestInterface(Clock.systemUTC(), Duration.ofSeconds(5));
		Instant endsAt = Instant.now().plusMillis(3000);
		wg.sessions.add(1, a, wg.ip(2), Instant.now(), endsAt).add(2, b, wg.ip(3), Instant.now(), Instant.now().plusSeconds(3600));
		wg.reconciler.start();
		awaitTrue(() -> hasPeer(a) && hasPeer(b), Duration.ofSeconds(5));

		// A black hole: every read hangs far longer than the rental has left.
		wg.sessions.readDelay = Duration.ofSeconds(20);
		wg.reconciler.requestPass();
		awaitTrue(() -> !hasPeer(a), Duration.ofSeconds(10));

		assertThat(Duration.between(endsAt, Instant.now())).isLessThan(Duration.ofSeconds(2));
		assertThat(livePeers()).containsOnlyKeys(b);
	}

	@Test
	void anExtensionSeenAfterTheOutagePutsThePeerBackAndNothingButEndedPeersIsRemovedMeanwhile() {
		OffsetClock clock = new OffsetClock();
		wg = new TestInterface(clock, Duration.ofMinutes(10));
		wg.wireGuard.ensure();
		Instant start = clock.instant();
		String shared = WireGuardKeys.generate().publicKey();
		wg.sessions.add(1, a, wg.ip(2), start, start.plusSeconds(10))
			.add(2, b, wg.ip(3), start, start.plusSeconds(3600))
			.add(3, shared, wg.ip(4), start, start.plusSeconds(10))
			.add(4, shared, wg.ip(5), start, start.plusSeconds(3600));
		wg.reconciler.runPass();
		String byHand = WireGuardKeys.generate().publicKey();
		wg.wg("set", wg.name, "peer", byHand, "allowed-ips", wg.ip(9) + "/32");

		wg.sessions.databaseDown = true;
		clock.advance(Duration.ofSeconds(5));
		assertThat(wg.reconciler.runPass().removed()).as("nothing has ended yet").isZero();
		clock.advance(Duration.ofSeconds(6));
		Instant passStarted = clock.instant();
		Reconciler.PassResult pass = wg.reconciler.runPass();
		Instant passEnded = clock.instant();

		assertThat(pass.outcome()).isEqualTo(Reconciler.Outcome.DESIRED_UNAVAILABLE);
		assertThat(livePeers()).as("a's peer went, the shared key kept its live address, b and the hand-made peer stayed")
			.isEqualTo(Map.of(b, List.of(wg.ip(3) + "/32"), shared, List.of(wg.ip(5) + "/32"), byHand,
					List.of(wg.ip(9) + "/32")));

		// The chain extended a's rental during the outage; the agent learns it when the database is back.
		wg.sessions.extend(1, start.plusSeconds(3600));
		wg.sessions.databaseDown = false;
		clock.advance(Duration.ofSeconds(30));
		wg.reconciler.runPass();

		assertThat(livePeers()).containsEntry(a, List.of(wg.ip(2) + "/32")).doesNotContainKey(byHand);
		assertThat(wg.sessions.removedWhileUnreachable).containsOnlyKeys(a);
		assertThat(wg.sessions.removedWhileUnreachable.get(a)).as("when it went, by the agent's clock")
			.isBetween(passStarted, passEnded);
		assertThat(wg.sessions.added).extracting(p -> p.sessionId()).contains(1L);
		assertThat(wg.reconciler.runPass().outcome()).isEqualTo(Reconciler.Outcome.IN_SYNC);
	}

	@Test
	void anAgentThatHasNeverReadTheSessionsRemovesNothing() {
		wg = new TestInterface(Clock.systemUTC(), Duration.ofMinutes(10));
		wg.wireGuard.ensure();
		wg.wg("set", wg.name, "peer", a, "allowed-ips", wg.ip(2) + "/32");
		wg.sessions.databaseDown = true;

		assertThat(wg.reconciler.runPass().outcome()).isEqualTo(Reconciler.Outcome.DESIRED_UNAVAILABLE);
		assertThat(livePeers()).containsOnlyKeys(a);
	}

}
