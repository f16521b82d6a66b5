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
 * second with the same library (web3j through {@link PersonalSign}) on one thread, on this machine.
 * Run: {@code mvn -o -Pbench test -Dtest=ConfigRoundTripBenchmark}. Target: round trips / one-thread
 * recoveries at least 0.5.
 * <p>
 * The clients run in this JVM on the same cores, so the run also accounts for where the CPU goes:
 * per round trip, the clients' signing (measured on the signing thread) and HTTP, the server's event
 * loop and its blocking work (virtual threads' carriers), the PostgreSQL backends of this test's
 * database (from /proc), and the rest of the JVM (GC, JIT). {@code -Dbench.client=jdk} uses
 * java.net.http.HttpClient instead of one keep-alive socket per client.
 */
class ConfigRoundTripBenchmark extends RenterApiTestSupport {

	static final Duration WARMUP = Duration.ofSeconds(Long.getLong("bench.warmup", 5));

	static final Duration ROUND_TRIP_WARMUP = Duration.ofSeconds(Long.getLong("bench.round-trip-warmup", 30));

	static final Duration MEASURE = Duration.ofSeconds(Long.getLong("bench.seconds", 10));

	static final int THREADS = Integer.getInteger("bench.threads", Runtime.getRuntime().availableProcessors());

	// Enough concurrent renters to keep the server busy while each waits on the network and the database.
	static final int CLIENTS = Integer.getInteger("bench.clients", 16);

	static final ObjectMapper JSON = new ObjectMapper();

	// lean: one keep-alive HTTP/1.1 socket per client (LeanHttp); jdk: java.net.http.HttpClient, which
	// costs several times the client CPU on the same two cores.
	static final boolean LEAN = !"jdk".equals(System.getProperty("bench.client", "lean"));

	interface Operation {

		void run(int worker) throws Exception;

	}

	@Test
	void roundTripsPerSecondAgainstSignatureRecoveriesPerSecond() throws Exception {
		List<Fixture> rentals = new ArrayList<>();
		for (int i = 0; i < CLIENTS; i++) {
			rentals.add(session(KeySource.RENTER));
		}
		// CPU the clients spend signing, measured on the signing thread itself.
		LongAdder signNanos = new LongAdder();
		List<LeanHttp> connections = new ArrayList<>();
		for (int i = 0; i < CLIENTS; i++) {
			connections.add(new LeanHttp(port));
		}
		Operation roundTrip = worker -> {
			Fixture rental = rentals.get(worker);
			LeanHttp.Response challenge = LEAN ? connections.get(worker).post(rental.path("/challenge"), null, new byte[0])
					: LeanHttp.Response.of(raw("POST", rental.path("/challenge"), null, new byte[0]));
			assertThat(challenge.status()).isEqualTo(200);
			String message = JSON.readTree(challenge.body()).get("message").textValue();
			long cpu = CPU.getCurrentThreadCpuTime();
			String signature = Signatures.fastPersonalSign(RENTER.getEcKeyPair(), message);
			signNanos.add(CPU.getCurrentThreadCpuTime() - cpu);
			byte[] body = JSON.writeValueAsBytes(Map.of("message", message, "signature", signature));
			LeanHttp.Response config = LEAN
					? connections.get(worker).post(rental.path("/config"), "application/json", body)
					: LeanHttp.Response.of(raw("POST", rental.path("/config"), "application/json", body));
			assertThat(config.status()).isEqualTo(200);
		};
		String message = challenge(rentals.get(0));
		String signature = Signatures.personalSign(RENTER, message);
		String renter = RENTER.getAddress();
		Operation recovery = worker -> {
			if (!PersonalSign.recoverAddress(message, signature).equals(renter)) {
				throw new IllegalStateException("wrong signer");
			}
		};
		Operation sign = worker -> Signatures.fastPersonalSign(RENTER.getEcKeyPair(), message);

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
		measure(recovery, 1, WARMUP);
		measure(sign, 1, WARMUP);
		Result recoveries = measure(recovery, 1, MEASURE);
		Result recoveriesAllCores = measure(recovery, THREADS, MEASURE);
		Result signs = measure(sign, 1, MEASURE);
		// The round trip runs through far more code (Netty, WebFlux, JDBC, PostgreSQL driver): on two
		// busy cores the JIT compilers are still at it after a few seconds, so it warms up longer, last.
		measure(roundTrip, CLIENTS, ROUND_TRIP_WARMUP);
		signNanos.reset();
		Result roundTrips = measure(roundTrip, CLIENTS, MEASURE);
		double ratio = roundTrips.perSecond() / recoveries.perSecond();

		int cores = Runtime.getRuntime().availableProcessors();
		double recoverUs = recoveries.cpuPerOpMicros();
		double signUs = signs.cpuPerOpMicros();
		double n = roundTrips.operations();
		Map<String, Long> groups = roundTrips.threadCpu();
		double clientUs = (groups.getOrDefault("client worker", 0L) + groups.getOrDefault("client HttpClient", 0L)) / n / 1e3;
		double clientSignUs = signNanos.sum() / n / 1e3;
		double loopUs = groups.getOrDefault("server event loop", 0L) / n / 1e3;
		double blockingUs = groups.getOrDefault("server blocking (virtual)", 0L) / n / 1e3;
		double otherUs = groups.entrySet().stream().filter(e -> e.getKey().startsWith("other")).mapToLong(Map.Entry::getValue)
			.sum() / n / 1e3;
		groups.forEach((group, nanos) -> {
			if (nanos / n / 1e3 >= 5) {
				System.out.printf("BENCH thread group %-40s %6.0f us per round trip%n", group, nanos / n / 1e3);
			}
		});
		double jvmUs = roundTrips.processCpuNanos() / n / 1e3;
		double databaseUs = roundTrips.databaseCpuNanos() / n / 1e3;
		double totalUs = jvmUs + databaseUs;
		connections.forEach(LeanHttp::close);
		System.out.printf("%nBENCH cores=%d http clients=%d (%s), %ds each; load average %.2f at the end%n", cores, CLIENTS,
				LEAN ? "keep-alive sockets" : "java.net.http.HttpClient",
				MEASURE.toSeconds(), java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
		System.out.printf("BENCH challenge+config round trips/s:             %8.1f%n", roundTrips.perSecond());
		System.out.printf("BENCH bare signature recoveries/s, one thread:    %8.1f (%.0f us CPU each)%n",
				recoveries.perSecond(), recoverUs);
		System.out.printf("BENCH bare signature recoveries/s, %d threads:     %8.1f%n", THREADS, recoveriesAllCores.perSecond());
		System.out.printf("BENCH client signatures/s, one thread:            %8.1f (%.0f us CPU each)%n", signs.perSecond(),
				signUs);
		System.out.printf("BENCH ratio round trips / one-thread recoveries (target >= 0.5): %.3f%n", ratio);
		System.out.printf("BENCH ratio round trips / %d-thread recoveries:                   %.3f%n", THREADS,
				roundTrips.perSecond() / recoveriesAllCores.perSecond());
		System.out.printf("BENCH CPU per round trip, us (JVM process %.0f + this database's PostgreSQL backends %.0f = %.0f):%n",
				jvmUs, databaseUs, totalUs);
		System.out.printf("BENCH   client: signing %.0f, HTTP + JSON %.0f%n", clientSignUs, clientUs - clientSignUs);
		System.out.printf("BENCH   server: event loop (HTTP, routing, JSON) %.0f, blocking work (virtual threads) %.0f,"
				+ " of which signature recovery ~%.0f%n", loopUs, blockingUs, recoverUs);
		System.out.printf("BENCH   PostgreSQL %.0f, other JVM threads (GC, JIT, pool housekeeping) %.0f%n", databaseUs,
				otherUs + Math.max(0, jvmUs - clientUs - loopUs - blockingUs - otherUs));
		System.out.printf("BENCH   (in %.0f s: GC pauses %d ms, JIT compilation %d ms of compiler-thread time)%n",
				roundTrips.seconds(), roundTrips.gcPauseMillis(), roundTrips.jitMillis());
		System.out.printf("BENCH CPU available: %d cores x %ds; used by this run %.0f%% of it (the rest: other processes)%n",
				cores, MEASURE.toSeconds(), 100.0 * (roundTrips.processCpuNanos() + roundTrips.databaseCpuNanos())
						/ (cores * roundTrips.seconds() * 1e9));
		// What the CPU cost per round trip allows on these cores, if this run had them all to itself.
		System.out.printf("BENCH bound with all %d cores to this run: %.0f round trips/s = ratio %.2f;"
				+ " with the client on another machine: ratio %.2f%n", cores, cores * 1e6 / totalUs,
				cores * 1e6 / totalUs / recoveries.perSecond(),
				cores * 1e6 / (totalUs - clientUs) / recoveries.perSecond());
		double floorUs = clientSignUs + recoverUs + databaseUs;
		System.out.printf("BENCH floor: client signing + one recovery + PostgreSQL = %.0f us per round trip; even with HTTP"
				+ " and all other Java work free the ratio could not pass %.2f on %d cores (the target needs <= %.0f us)%n%n",
				floorUs, cores * 1e6 / floorUs / recoveries.perSecond(), cores, cores * 1e6 / (0.5 * recoveries.perSecond()));
		assertThat(roundTrips.perSecond()).isPositive();
	}

	static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();

	record Result(long operations, double seconds, long processCpuNanos, long databaseCpuNanos, Map<String, Long> threadCpu,
			long workerCpuNanos, long gcPauseMillis, long jitMillis) {

		double perSecond() {
			return operations / seconds;
		}

		/** CPU of the measuring workers per operation (for one-thread runs: the cost of one operation). */
		double cpuPerOpMicros() {
			return workerCpuNanos / (double) operations / 1e3;
		}

	}

	/** The CPU time of every live thread, by id, with its group. */
	private static Map<Long, long[]> threadCpu(Map<Long, String> groupOf) {
		Map<Long, long[]> out = new java.util.HashMap<>();
		for (java.lang.management.ThreadInfo info : CPU.getThreadInfo(CPU.getAllThreadIds())) {
			if (info == null) {
				continue;
			}
			long cpu = CPU.getThreadCpuTime(info.getThreadId());
			if (cpu >= 0) {
				out.put(info.getThreadId(), new long[] { cpu });
				groupOf.put(info.getThreadId(), group(info.getThreadName()));
			}
		}
		return out;
	}

	private static String group(String thread) {
		if (thread.startsWith("bench-client")) {
			return "client worker";
		}
		if (thread.startsWith("HttpClient-")) {
			return "client HttpClient";
		}
		if (thread.startsWith("reactor-http-") || thread.startsWith("webflux-http-")) {
			return "server event loop";
		}
		if (thread.startsWith("ForkJoinPool-") || thread.startsWith("VirtualThread-unparker") || thread.startsWith("renter-api")) {
			return "server blocking (virtual)";
		}
		return "other: " + thread.replaceAll("[0-9]+", "N");
	}

	private static long gcMillis() {
		return java.lang.management.ManagementFactory.getGarbageCollectorMXBeans().stream()
			.mapToLong(java.lang.management.GarbageCollectorMXBean::getCollectionTime)
			.sum();
	}

	private static long processCpu() {
		return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
			.getProcessCpuTime();
	}

	/** utime + stime of the PostgreSQL backends serving this test's database, from /proc (Linux). */
	private long databaseCpu() {
		long ticks = 0;
		for (Integer pid : jdbc.sql("select pid from pg_stat_activity where datname = current_database()")
			.query(Integer.class)
			.list()) {
			try {
				// Only a local PostgreSQL: in a container the pid would name some other process here.
				if (!java.nio.file.Files.readString(java.nio.file.Path.of("/proc/" + pid + "/comm")).trim().equals("postgres")) {
					continue;
				}
				String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/" + pid + "/stat"));
				String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
				ticks += Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
			}
			catch (java.io.IOException | RuntimeException e) {
				// a backend that went away, or no /proc: not counted
			}
		}
		return ticks * 10_000_000L; // USER_HZ = 100
	}

	private Result measure(Operation operation, int workers, Duration duration) throws Exception {
		AtomicBoolean running = new AtomicBoolean(true);
		LongAdder done = new LongAdder();
		LongAdder workerCpu = new LongAdder();
		List<Future<?>> futures = new ArrayList<>();
		java.util.concurrent.atomic.AtomicInteger names = new java.util.concurrent.atomic.AtomicInteger();
		java.util.concurrent.CountDownLatch ready = new java.util.concurrent.CountDownLatch(workers);
		java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
		long started;
		long ended;
		long cpuBefore;
		long cpuAfter;
		long gcBefore;
		long gcAfter;
		long jitBefore;
		long jitAfter;
		long databaseBefore;
		long databaseAfter;
		Map<Long, String> groupOf = new java.util.HashMap<>();
		Map<Long, long[]> threadsBefore;
		Map<Long, long[]> threadsAfter;
		try (ExecutorService pool = Executors.newFixedThreadPool(workers,
				r -> new Thread(r, "bench-client-" + names.incrementAndGet()))) {
			for (int w = 0; w < workers; w++) {
				int worker = w;
				futures.add(pool.submit(() -> {
					ready.countDown();
					go.await();
					long cpu = CPU.getCurrentThreadCpuTime();
					while (running.get()) {
						operation.run(worker);
						done.increment();
					}
					workerCpu.add(CPU.getCurrentThreadCpuTime() - cpu);
					return null;
				}));
			}
			ready.await();
			threadsBefore = threadCpu(groupOf);
			databaseBefore = databaseCpu();
			cpuBefore = processCpu();
			gcBefore = gcMillis();
			jitBefore = java.lang.management.ManagementFactory.getCompilationMXBean().getTotalCompilationTime();
			started = System.nanoTime();
			go.countDown();
			Thread.sleep(duration);
			running.set(false);
			for (Future<?> future : futures) {
				future.get();
			}
			ended = System.nanoTime();
			cpuAfter = processCpu();
			gcAfter = gcMillis();
			jitAfter = java.lang.management.ManagementFactory.getCompilationMXBean().getTotalCompilationTime();
			databaseAfter = databaseCpu();
			threadsAfter = threadCpu(groupOf);
		}
		Map<String, Long> byGroup = new java.util.TreeMap<>();
		threadsAfter.forEach((id, cpu) -> {
			long before = threadsBefore.containsKey(id) ? threadsBefore.get(id)[0] : 0;
			byGroup.merge(groupOf.get(id), cpu[0] - before, Long::sum);
		});
		return new Result(done.sum(), (ended - started) / 1e9, cpuAfter - cpuBefore, databaseAfter - databaseBefore, byGroup,
				workerCpu.sum(), gcAfter - gcBefore, jitAfter - jitBefore);
	}

}
