package com.gpuflow.agent.wireguard;

import java.time.Clock;
import java.time.Duration;

import com.gpuflow.agent.testsupport.RenterNamespace;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The isolation rules are checked on their own fixed rate, not in the passes that session changes
 * wake: those passes stay free of the {@code nft} process start, and a steady stream of them (which
 * keeps re-arming the pass timer) does not postpone the check past one interval.
 */
class FirewallCadenceTest {

	static final Duration INTERVAL = Duration.ofSeconds(2);

	final TestInterface wg = new TestInterface(Clock.systemUTC(), INTERVAL);

	@AfterEach
	void cleanUp() {
		wg.close();
	}

	@Test
	void aDeletedTableIsBackWithinOneIntervalWhilePassesWokenBySessionChangesSkipTheCheck() throws Exception {
		wg.reconciler.start();
		awaitInstalled(INTERVAL);

		RenterNamespace.sh("nft", "delete", "table", "inet", wg.wireGuard.nftTable());
		long deleted = System.nanoTime();
		int passesBefore = passes();
		// Passes as a burst of confirmed rentals would ask for them, every 50 ms until the rules are back.
		boolean skippedByEventPasses = false;
		while (!wg.wireGuard.isolationInstalled()) {
			assertThat(Duration.ofNanos(System.nanoTime() - deleted)).as("rules still missing")
				.isLessThan(INTERVAL.plusSeconds(1));
			wg.reconciler.requestPass();
			Thread.sleep(50);
			// Event passes ran meanwhile and left the check to its own cadence.
			skippedByEventPasses |= passes() > passesBefore + 2 && !wg.wireGuard.isolationInstalled();
		}
		Duration missing = Duration.ofNanos(System.nanoTime() - deleted);

		assertThat(skippedByEventPasses).as("passes woken by session changes did not run the nft check").isTrue();
		assertThat(missing).isLessThan(INTERVAL.plusSeconds(1));
		assertThat(wg.meters.get("gpuflow.reconcile.drift.repairs").tag("kind", "firewall").counter().count())
			.isEqualTo(1);
		System.out.printf("firewall cadence: deleted table back after %d ms under a pass every 50 ms%n",
				missing.toMillis());
	}

	private int passes() {
		return (int) wg.meters.get("gpuflow.reconcile.pass").timer().count();
	}

	private void awaitInstalled(Duration within) throws InterruptedException {
		long deadline = System.nanoTime() + within.toNanos();
		while (!wg.wireGuard.isolationInstalled()) {
			assertThat(System.nanoTime()).as("rules installed by the first pass").isLessThan(deadline);
			Thread.sleep(20);
		}
	}

}
