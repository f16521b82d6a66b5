package com.gpuflow.agent.wireguard;

import com.gpuflow.agent.rental.SessionPort;
import com.gpuflow.agent.rental.DesiredPeer;
import com.gpuflow.agent.rental.PeerObservation;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import com.gpuflow.agent.keys.WireGuardKeys;

import static org.assertj.core.api.Assertions.assertThat;

/** When passes run: on request, at the next deadline, after wireguard-go dies; never two at once. */
class ReconcilerSchedulingTest {

	// An interval far beyond the test, so only events and deadlines can explain a pass.
	final TestInterface wg = new TestInterface(Clock.systemUTC(), Duration.ofMinutes(10));

	final String a = WireGuardKeys.generate().publicKey();

	@AfterEach
	void cleanUp() {
		wg.close();
	}

	@Test
	void aRequestedPassAddsThePeerAtOnceAndTheDeadlineRemovesItWithoutAnyEvent() throws Exception {
		wg.reconciler.start();
		Instant endsAt = Instant.now().plusMillis(1500);
		wg.sessions.add(1, a, wg.ip(2), Instant.now(), endsAt);

		Instant requested = Instant.now();
		wg.reconciler.requestPass();
		awaitTrue(() -> hasPeer(a), Duration.ofSeconds(2));
		Duration toLive = Duration.between(requested, Instant.now());
		awaitTrue(() -> !hasPeer(a), Duration.ofSeconds(4));
		Duration afterDeadline = Duration.between(endsAt, Instant.now());

		assertThat(toLive).isLessThan(Duration.ofSeconds(2));
		assertThat(afterDeadline).isLessThan(Duration.ofSeconds(2));
	}

	@Test
	void aKilledWireguardGoIsRestoredWithItsPeersWithoutWaitingForTheInterval() throws Exception {
		wg.sessions.add(1, a, wg.ip(2), Instant.now(), Instant.now().plusSeconds(3600));
		wg.reconciler.start();
		awaitTrue(() -> hasPeer(a), Duration.ofSeconds(2));
		Process first = wg.wireGuard.wireguardGoProcess().orElseThrow();

		first.destroyForcibly().waitFor();

		awaitTrue(() -> hasPeer(a) && wg.wireGuard.wireguardGoProcess().map(p -> p.pid() != first.pid()).orElse(false),
				Duration.ofSeconds(5));
	}

	@Test
	void aBurstOfRequestsRunsOnePassInFlightAndOneQueuedNeverTwoAtOnce() throws Exception {
		CountDownLatch release = new CountDownLatch(1);
		AtomicInteger passes = new AtomicInteger();
		AtomicInteger concurrent = new AtomicInteger();
		AtomicInteger maxConcurrent = new AtomicInteger();
		SessionPort slow = new SessionPort() {
			@Override
			public void settleDue(Instant now) {
			}

			@Override
			public List<DesiredPeer> desiredPeers(Instant now) {
				int running = concurrent.incrementAndGet();
				maxConcurrent.accumulateAndGet(running, Math::max);
				passes.incrementAndGet();
				try {
					release.await(5, TimeUnit.SECONDS);
				}
				catch (InterruptedException e) {
					Thread.currentThread().interrupt();
				}
				concurrent.decrementAndGet();
				return List.of();
			}

			@Override
			public Optional<Instant> nextDeadline(Instant now) {
				return Optional.empty();
			}

			@Override
			public void peersAdded(Collection<DesiredPeer> added, Instant at) {
			}

			@Override
			public void peersRemoved(Collection<String> publicKeys, Instant at) {
			}

			@Override
			public void observed(Collection<PeerObservation> observations, Instant at) {
			}
		};
		Reconciler reconciler = new Reconciler(slow, wg.wireGuard, Clock.systemUTC(), wg.meters, 25,
				Duration.ofMinutes(10));
		try {
			reconciler.start();
			awaitTrue(() -> passes.get() == 1, Duration.ofSeconds(2));
			for (int i = 0; i < 100; i++) {
				reconciler.requestPass();
			}
			release.countDown();
			awaitTrue(() -> passes.get() == 2 && concurrent.get() == 0, Duration.ofSeconds(5));
			Thread.sleep(300);

			assertThat(passes).as("the first pass plus one queued for the whole burst").hasValue(2);
			assertThat(maxConcurrent).hasValue(1);
		}
		finally {
			reconciler.stop();
		}
	}

	private boolean hasPeer(String key) {
		try {
			return wg.dump().peers().stream().anyMatch(p -> p.publicKey().equals(key));
		}
		catch (WgCommandException e) {
			return false;
		}
	}

	static void awaitTrue(BooleanSupplier condition, Duration timeout) throws InterruptedException {
		long deadline = System.nanoTime() + timeout.toNanos();
		while (!condition.getAsBoolean()) {
			if (System.nanoTime() > deadline) {
				throw new AssertionError("condition not met within " + timeout);
			}
			Thread.sleep(20);
		}
	}

}
