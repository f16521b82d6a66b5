package com.gpuflow.agent.api;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntFunction;

import com.gpuflow.agent.rental.SessionsChanged;
import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalManagementPort;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.test.context.TestPropertySource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Who-is answers per second on the management port (random addresses of 1,000 active sessions, from
 * the in-memory table) against bare {@code GET /actuator/health} on the same server in the same run.
 * Run: {@code bash src/dev/gpuflow-dev bench -Dtest=WhoisBenchmark}. Target: at least 0.5 of health.
 * Clients are keep-alive sockets in this JVM ({@link LeanHttp}), on the same two cores as the server.
 */
@TestPropertySource(properties = { "host-id=0x5555555555555555555555555555555555555555555555555555555555555555", "management.server.port=0", "gpuflow.trusted-proxies=127.0.0.1/32" })
class WhoisBenchmark extends RenterApiTestSupport {

	static final Duration WARMUP = Duration.ofSeconds(Long.getLong("bench.warmup", 10));

	static final Duration MEASURE = Duration.ofSeconds(Long.getLong("bench.seconds", 10));

	static final int CLIENTS = Integer.getInteger("bench.clients", 4);

	static final int SESSIONS = 1_000;

	@LocalManagementPort
	int managementPort;

	@Autowired
	ApplicationEventPublisher publisher;

	@Test
	void whoisAnswersPerSecondAgainstActuatorHealth() throws Exception {
		List<Fixture> sessions = new ArrayList<>();
		for (int i = 0; i < SESSIONS; i++) {
			sessions.add(session(KeySource.RENTER));
		}
		publisher.publishEvent(new SessionsChanged("benchmark"));
		IntFunction<String> whois = n -> "/v1/local/whois?ip=" + sessions.get(n % SESSIONS).tunnelIp();
		IntFunction<String> health = n -> "/actuator/health";
		int healthStatus;
		try (LeanHttp probe = new LeanHttp(managementPort)) {
			Fixture one = sessions.get(0);
			assertThat(probe.get(whois.apply(0)).body()).contains("\"rentalId\":" + one.rentalId());
			// Without a chain node or interface here, health answers 503 DOWN: the same work, every time.
			healthStatus = probe.get("/actuator/health").status();
			assertThat(healthStatus).isIn(200, 503);
		}

		run(whois, 200, WARMUP);
		run(health, healthStatus, WARMUP);
		double whoisRate = 0;
		double healthRate = 0;
		for (int round = 0; round < 2; round++) {
			whoisRate += run(whois, 200, MEASURE) / 2;
			healthRate += run(health, healthStatus, MEASURE) / 2;
		}
		System.out.printf("%nwho-is: %,.0f answers/s; GET /actuator/health: %,.0f answers/s; ratio %.2f (target 0.5);"
				+ " %d keep-alive clients, %d sessions, %d cores%n%n", whoisRate, healthRate, whoisRate / healthRate, CLIENTS,
				SESSIONS, Runtime.getRuntime().availableProcessors());
	}

	/** Requests per second over {@code period} from {@link #CLIENTS} clients; every answer must have {@code status}. */
	double run(IntFunction<String> path, int status, Duration period) throws Exception {
		LongAdder answers = new LongAdder();
		LongAdder failures = new LongAdder();
		long end = System.nanoTime() + period.toNanos();
		long start = System.nanoTime();
		try (ExecutorService pool = Executors.newFixedThreadPool(CLIENTS)) {
			List<Future<?>> running = new ArrayList<>();
			for (int c = 0; c < CLIENTS; c++) {
				running.add(pool.submit(() -> {
					try (LeanHttp client = new LeanHttp(managementPort)) {
						int n = ThreadLocalRandom.current().nextInt(SESSIONS);
						while (System.nanoTime() < end) {
							if (client.get(path.apply(n++)).status() == status) {
								answers.increment();
							}
							else {
								failures.increment();
							}
						}
					}
					return null;
				}));
			}
			for (Future<?> f : running) {
				f.get();
			}
		}
		double seconds = (System.nanoTime() - start) / 1e9;
		assertThat(failures.sum()).isZero();
		return answers.sum() / seconds;
	}

}
