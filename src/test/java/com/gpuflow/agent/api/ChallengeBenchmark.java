package com.gpuflow.agent.api;

import java.time.Duration;
import java.util.Map;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Challenges one client can make the agent issue per second over one keep-alive connection, and
 * what PostgreSQL sees of them (pg_stat_database of this test's database: transactions and rows
 * read or written), next to the same client reading its rental ({@code GET /v1/rentals/{id}}, one
 * database read each) as the baseline measured in the same run. Run:
 * {@code src/dev/gpuflow-dev bench -Dtest=ChallengeBenchmark}. Promise: the database sees about
 * nothing of challenges (a lookup per rental every 2 s at most), whatever their rate.
 */
class ChallengeBenchmark extends RenterApiTestSupport {

	static final Duration WARMUP = Duration.ofSeconds(Long.getLong("bench.warmup", 5));

	static final Duration MEASURE = Duration.ofSeconds(Long.getLong("bench.seconds", 10));

	record Stats(long transactions, long rowsRead, long rowsWritten) {

		Stats minus(Stats before) {
			return new Stats(transactions - before.transactions, rowsRead - before.rowsRead,
					rowsWritten - before.rowsWritten);
		}

	}

	record Run(long requests, double seconds, Stats database) {

		double perSecond() {
			return requests / seconds;
		}

	}

	@Test
	void challengesPerSecondAndWhatTheDatabaseSeesOfThem() throws Exception {
		Fixture fixture = session(KeySource.RENTER);
		LeanHttp client = new LeanHttp(port);
		run(client, fixture.path("/challenge"), true, WARMUP);
		run(client, fixture.path(""), false, WARMUP);

		Run challenges = run(client, fixture.path("/challenge"), true, MEASURE);
		Run reads = run(client, fixture.path(""), false, MEASURE);

		System.out.printf("%nBENCH challenges: %.0f/s from one client (%d in %.1f s); database saw %d transactions,"
				+ " %d rows read, %d written (%.4f transactions per challenge)%n", challenges.perSecond(),
				challenges.requests(), challenges.seconds(), challenges.database().transactions(),
				challenges.database().rowsRead(), challenges.database().rowsWritten(),
				(double) challenges.database().transactions() / challenges.requests());
		System.out.printf("BENCH baseline GET /v1/rentals/{id}: %.0f/s from the same client; database saw %d"
				+ " transactions, %d rows read (%.2f transactions per request)%n", reads.perSecond(),
				reads.database().transactions(), reads.database().rowsRead(),
				(double) reads.database().transactions() / reads.requests());
		System.out.printf("BENCH ratio challenges/s : reads/s = %.2f; database transactions per request %.4f : %.2f%n",
				challenges.perSecond() / reads.perSecond(),
				(double) challenges.database().transactions() / challenges.requests(),
				(double) reads.database().transactions() / reads.requests());
		// a lookup per 2 s (IssuingLookups.TTL) and the statistics queries themselves
		long allowed = (long) Math.ceil(challenges.seconds() / IssuingLookups.TTL.toSeconds()) * 2 + 10;
		assertThat(challenges.database().transactions()).as("transactions for " + challenges.requests() + " challenges")
			.isLessThanOrEqualTo(allowed);
		assertThat(challenges.database().rowsWritten()).isZero();
	}

	private Run run(LeanHttp client, String path, boolean post, Duration duration) throws Exception {
		Stats before = stats();
		long started = System.nanoTime();
		long deadline = started + duration.toNanos();
		long requests = 0;
		while (System.nanoTime() < deadline) {
			LeanHttp.Response response = post ? client.post(path, null, new byte[0]) : client.get(path);
			if (response.status() != 200) {
				throw new IllegalStateException(path + " answered " + response.status());
			}
			requests++;
		}
		double seconds = (System.nanoTime() - started) / 1e9;
		return new Run(requests, seconds, stats().minus(before));
	}

	/** This database's counters, after PostgreSQL has flushed the backends' pending statistics. */
	private Stats stats() throws InterruptedException {
		// Backends report their counters when idle for a moment (PostgreSQL 15+: at most every second).
		Thread.sleep(1_500);
		Map<String, Object> row = jdbc.sql("""
				select xact_commit + xact_rollback as transactions, tup_returned + tup_fetched as rows_read,
				       tup_inserted + tup_updated + tup_deleted as rows_written
				from pg_stat_database where datname = current_database()""").query().singleRow();
		return new Stats(((Number) row.get("transactions")).longValue(), ((Number) row.get("rows_read")).longValue(),
				((Number) row.get("rows_written")).longValue());
	}

}
