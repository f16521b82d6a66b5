package com.gpuflow.agent.wireguard;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Reconcile cost on a real wireguard-go against the floor: one bare {@code wg set} (or one
 * {@code wg addconf} file when the arguments would not fit) of the same peers. Run with
 * {@code mvn -o -Pbench test -Dtest=ReconcileBenchmark}. 65,000 peers are left out: wireguard-go
 * needs 67-93 s and 4-6.5 GB for them, beyond the 2-minute budget; a full /16 is a kernel-module
 * scale.
 */
class ReconcileBenchmark {

	record Row(int peers, long bareMs, String bareHow, long fullMs, long noOpMs, long onePercentMs) {
	}

	@Test
	void reconcileCostsAgainstABareWgSet() {
		List<Row> rows = new ArrayList<>();
		for (int peers : new int[] { 1_000, 10_000 }) {
			rows.add(measure(peers));
		}
		System.out.println();
		System.out.println("peers  | bare wg (how)        | full apply | ratio | no-op pass | 1% changed");
		System.out.println("-------+----------------------+------------+-------+------------+-----------");
		for (Row row : rows) {
			System.out.printf("%6d | %7d ms (%-8s) | %7d ms | %4.2fx | %7d ms | %7d ms%n", row.peers(), row.bareMs(),
					row.bareHow(), row.fullMs(), (double) row.fullMs() / row.bareMs(), row.noOpMs(), row.onePercentMs());
		}
		// Verdicts are printed, not asserted: on a shared machine timings vary with the load, and a
		// benchmark should report a miss rather than hide the figures behind a failure.
		Row large = rows.get(rows.size() - 1);
		for (Row row : rows) {
			System.out.printf("%d peers: full apply %.2fx bare (target <= 1.5x): %s%n", row.peers(),
					(double) row.fullMs() / row.bareMs(), (double) row.fullMs() / row.bareMs() <= 1.5 ? "MET" : "MISSED");
		}
		System.out.printf("no-op pass at %d peers: %d ms (target < 100 ms): %s%n", large.peers(), large.noOpMs(),
				large.noOpMs() < 100 ? "MET" : "MISSED");
	}

	private Row measure(int count) {
		List<Peer> peers = new ArrayList<>(count);
		for (int i = 0; i < count; i++) {
			peers.add(Peer.of(Keys.key(i), List.of("10.213." + (i / 250) + "." + (2 + i % 250)), 25));
		}

		long bare;
		String how;
		try (TestInterface floor = new TestInterface(Clock.systemUTC(), Duration.ofMinutes(10))) {
			floor.wireGuard.ensure();
			List<String> args = new ArrayList<>();
			for (Peer peer : peers) {
				args.addAll(List.of("peer", peer.publicKey(), "allowed-ips", peer.allowedIps().first(),
						"persistent-keepalive", "25"));
			}
			WgInvocation invocation = WgBatch.cost(List.of(args)) < 1_900_000 ? new WgInvocation.Set(args)
					: new WgInvocation.AddConf(WgBatch.config(peers), peers.size());
			how = invocation instanceof WgInvocation.Set ? "wg set" : "addconf";
			long started = System.nanoTime();
			floor.wireGuard.wg().apply(List.of(invocation));
			bare = millisSince(started);
			assertThat(floor.dump().peers()).hasSize(count);
		}

		try (TestInterface wg = new TestInterface(Clock.systemUTC(), Duration.ofMinutes(10))) {
			wg.wireGuard.ensure();
			Instant later = Instant.now().plusSeconds(3600);
			for (int i = 0; i < count; i++) {
				wg.sessions.add(i, peers.get(i).publicKey(), peers.get(i).allowedIps().first().replace("/32", ""),
						Instant.now(), later);
			}
			long started = System.nanoTime();
			Reconciler.PassResult full = wg.reconciler.runPass();
			long fullMs = millisSince(started);
			assertThat(full.added()).isEqualTo(count);

			// Steady state: the JIT has seen a few passes, as it has in a long-running agent.
			for (int i = 0; i < 3; i++) {
				wg.reconciler.runPass();
			}
			long[] noOps = new long[7];
			for (int i = 0; i < noOps.length; i++) {
				started = System.nanoTime();
				assertThat(wg.reconciler.runPass().outcome()).isEqualTo(Reconciler.Outcome.IN_SYNC);
				noOps[i] = millisSince(started);
			}
			Arrays.sort(noOps);

			int changes = count / 100;
			for (int i = 0; i < changes / 2; i++) {
				wg.sessions.end(i);
			}
			for (int i = 0; i < changes - changes / 2; i++) {
				int n = count + i;
				wg.sessions.add(n, Keys.key(n), "10.213." + (n / 250) + "." + (2 + n % 250), Instant.now(), later);
			}
			started = System.nanoTime();
			Reconciler.PassResult changed = wg.reconciler.runPass();
			long changedMs = millisSince(started);
			assertThat(changed.added() + changed.removed()).isEqualTo(changes);
			return new Row(count, bare, how, fullMs, noOps[noOps.length / 2], changedMs);
		}
	}

	private static long millisSince(long started) {
		return Duration.ofNanos(System.nanoTime() - started).toMillis();
	}


}
