package com.gpuflow.agent.api;

import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Challenge + config round trips per second over HTTP against the running agent (renter-own-key
 * sessions, so a rental can be fetched again and again), next to bare personal_sign recoveries per
 * second with the same library (web3j through {@link PersonalSign}), on this machine. Run:
 * {@code mvn -o -Pbench test -Dtest=ConfigRoundTripBenchmark}. Target: round trips / recoveries
 * at least 0.5.
 */
class ConfigRoundTripBenchmark extends RenterApiTestSupport {

	static final Duration WARMUP = Duration.ofSeconds(Long.getLong("bench.warmup", 5));

	static final Duration MEASURE = Duration.ofSeconds(Long.getLong("bench.seconds", 10));

	static final int THREADS = Integer.getInteger("bench.threads", Runtime.getRuntime().availableProcessors());

	// Enough concurrent renters to keep the server busy while each waits on the network and the database.
	static final int CLIENTS = Integer.getInteger("bench.clients", 16);

	static final ObjectMapper JSON = new ObjectMapper();

	interface Operation {

		void run(int worker) throws Exception;

	}

	@Test
	void roundTripsPerSecondAgainstSignatureRecoveriesPerSecond() throws Exception {
		List<Fixture> rentals = new ArrayList<>();
		for (int i = 0; i < CLIENTS; i++) {
			rentals.add(session(KeySource.RENTER));
		}
		Operation roundTrip = worker -> {
			Fixture rental = rentals.get(worker);
			HttpResponse<String> challenge = raw("POST", rental.path("/challenge"), null, new byte[0]);
			assertThat(challenge.statusCode()).isEqualTo(200);
			String message = (String) JSON.readValue(challenge.body(), Map.class).get("message");
			byte[] body = JSON.writeValueAsBytes(
					Map.of("message", message, "signature", Signatures.fastPersonalSign(RENTER.getEcKeyPair(), message)));
			HttpResponse<String> config = raw("POST", rental.path("/config"), "application/json", body);
			assertThat(config.statusCode()).isEqualTo(200);
		};
		String message = challenge(rentals.get(0));
		String signature = Signatures.personalSign(RENTER, message);
		String renter = RENTER.getAddress();
		Operation recovery = worker -> {
			if (!PersonalSign.recoverAddress(message, signature).equals(renter)) {
				throw new IllegalStateException("wrong signer");
			}
		};

		// one client alone: where a round trip's time goes
		long challengeNanos = 0;
		long configNanos = 0;
		for (int i = 0; i < 100; i++) {
			long t0 = System.nanoTime();
			HttpResponse<String> issued = raw("POST", rentals.get(0).path("/challenge"), null, new byte[0]);
			long t1 = System.nanoTime();
			String text = (String) JSON.readValue(issued.body(), Map.class).get("message");
			byte[] body = JSON.writeValueAsBytes(
					Map.of("message", text, "signature", Signatures.fastPersonalSign(RENTER.getEcKeyPair(), text)));
			long t2 = System.nanoTime();
			assertThat(raw("POST", rentals.get(0).path("/config"), "application/json", body).statusCode()).isEqualTo(200);
			long t3 = System.nanoTime();
			challengeNanos += t1 - t0;
			configNanos += t3 - t2;
		}
		long get = System.nanoTime();
		for (int i = 0; i < 100; i++) {
			raw("GET", rentals.get(0).path(""), null, new byte[0]);
		}
		System.out.printf("%nBENCH one client: GET rental: %.2f ms%n", (System.nanoTime() - get) / 1e8);
		System.out.printf("BENCH one client: challenge %.2f ms, config %.2f ms (means of 100)%n", challengeNanos / 1e8,
				configNanos / 1e8);
		measure(recovery, THREADS, WARMUP);
		measure(roundTrip, CLIENTS, WARMUP);
		double recoveries = measure(recovery, THREADS, MEASURE);
		double roundTrips = measure(roundTrip, CLIENTS, MEASURE);
		double ratio = roundTrips / recoveries;
		System.out.printf("%nBENCH cores=%d recovery threads=%d http clients=%d, %ds each%n",
				Runtime.getRuntime().availableProcessors(), THREADS, CLIENTS, MEASURE.toSeconds());
		System.out.printf("BENCH challenge+config round trips/s: %.1f%n", roundTrips);
		System.out.printf("BENCH bare signature recoveries/s:    %.1f%n", recoveries);
		System.out.printf("BENCH ratio (target >= 0.5):          %.3f%n%n", ratio);
		assertThat(roundTrips).isPositive();
	}

	private static double measure(Operation operation, int workers, Duration duration) throws Exception {
		AtomicBoolean running = new AtomicBoolean(true);
		LongAdder done = new LongAdder();
		List<Future<?>> futures = new ArrayList<>();
		long started;
		try (ExecutorService pool = Executors.newFixedThreadPool(workers)) {
			started = System.nanoTime();
			for (int w = 0; w < workers; w++) {
				int worker = w;
				futures.add(pool.submit(() -> {
					while (running.get()) {
						operation.run(worker);
						done.increment();
					}
					return null;
				}));
			}
			Thread.sleep(duration);
			running.set(false);
			for (Future<?> future : futures) {
				future.get();
			}
		}
		return done.sum() / ((System.nanoTime() - started) / 1e9);
	}

}
