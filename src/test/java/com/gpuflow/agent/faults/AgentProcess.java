package com.gpuflow.agent.faults;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import com.gpuflow.agent.GpuflowAgentApplication;
import com.gpuflow.agent.testsupport.AnyCertificate;
import com.gpuflow.agent.testsupport.Ports;
import com.gpuflow.agent.testsupport.Processes;
import com.gpuflow.agent.testsupport.ProjectPaths;

/**
 * The agent as a separate OS process, so a test can {@code kill -9} it the way a crash or an OOM
 * killer would: no shutdown hook, no flush, no orderly stop. Settings are the SPEC's environment
 * variables. Output goes to a temp file (read it with {@link #logTail(int)}); the process is killed
 * when the test closes this, and by a shutdown hook if the test JVM dies first.
 *
 * <p>
 * It runs {@code target/gpuflow-agent.jar} when that is at least as new as the compiled classes
 * ({@code mvn package} was run). A plain {@code mvn test} on a fresh clone has no jar yet, so then
 * the same main class runs from the compiled classes and the dependency jars, still in its own JVM.
 */
final class AgentProcess implements AutoCloseable {

	static final Duration START_TIMEOUT = Duration.ofSeconds(120);

	private final Map<String, String> environment;

	private final List<String> jvmOptions;

	private final int httpPort;

	private final int managementPort;

	private final Path logFile;

	private final Thread shutdownHook;

	// Any certificate: the probe only asks whether the agent answers; pin tests use curl.
	private final HttpClient http = HttpClient.newBuilder()
		.version(HttpClient.Version.HTTP_1_1)
		.connectTimeout(Duration.ofSeconds(2))
		.sslContext(AnyCertificate.context())
		.build();

	private final List<Duration> startTimes = new ArrayList<>();

	private Process process;

	private int kills;

	/**
	 * @param environment the SPEC's settings (HOST_ID, RENTAL_CONTRACT, ...); SERVER_PORT is picked
	 * here and kept across restarts
	 */
	AgentProcess(Map<String, String> environment) {
		// C1 only and the serial collector: quick restarts on two shared cores.
		this(environment, List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx512m"));
	}

	AgentProcess(Map<String, String> environment, List<String> jvmOptions) {
		this.jvmOptions = List.copyOf(jvmOptions);
		this.environment = new LinkedHashMap<>(environment);
		this.httpPort = Ports.tcp();
		this.environment.put("SERVER_PORT", Integer.toString(this.httpPort));
		this.managementPort = Ports.tcp();
		this.environment.put("MANAGEMENT_PORT", Integer.toString(this.managementPort));
		try {
			this.logFile = Files.createTempFile("gpuflow-agent-" + this.httpPort + "-", ".log");
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
		this.shutdownHook = new Thread(this::killQuietly, "agent-" + this.httpPort + "-cleanup");
		Runtime.getRuntime().addShutdownHook(this.shutdownHook);
	}

	/** Starts the agent and waits until /actuator/health answers on the management port. */
	AgentProcess start() {
		return start(START_TIMEOUT);
	}

	/** Same, with a longer wait: several agents starting at once on two shared cores. */
	synchronized AgentProcess start(Duration timeout) {
		if (this.process != null && this.process.isAlive()) {
			throw new IllegalStateException("the agent is already running on port " + this.httpPort);
		}
		long started = System.nanoTime();
		ProcessBuilder builder = new ProcessBuilder(command()).redirectErrorStream(true)
			.redirectOutput(ProcessBuilder.Redirect.appendTo(this.logFile.toFile()))
			.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
		builder.environment().putAll(this.environment);
		try {
			this.process = builder.start();
		}
		catch (IOException e) {
			throw new UncheckedIOException("cannot start the agent", e);
		}
		long deadline = started + timeout.toNanos();
		while (healthStatus() < 0) {
			if (!this.process.isAlive()) {
				throw new IllegalStateException(
						"the agent exited with " + this.process.exitValue() + " while starting:\n" + logTail(40));
			}
			if (System.nanoTime() > deadline) {
				killQuietly();
				throw new IllegalStateException("the agent did not answer within " + timeout + ":\n" + logTail(40));
			}
			sleep(100);
		}
		this.startTimes.add(Duration.ofNanos(System.nanoTime() - started));
		return this;
	}

	/** {@code kill -9}: the JVM gets no chance to finish anything. */
	synchronized void kill() {
		if (this.process == null) {
			return;
		}
		this.process.destroyForcibly();
		try {
			if (!this.process.waitFor(30, TimeUnit.SECONDS)) {
				throw new IllegalStateException("the agent (pid " + this.process.pid() + ") survived SIGKILL");
			}
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(e);
		}
		this.kills++;
	}

	synchronized AgentProcess restart() {
		kill();
		return start();
	}

	boolean isAlive() {
		return this.process != null && this.process.isAlive();
	}

	long pid() {
		return this.process.pid();
	}

	int kills() {
		return this.kills;
	}

	List<Duration> startTimes() {
		return List.copyOf(this.startTimes);
	}

	/** {@code https://} unless the agent runs with {@code GPUFLOW_TLS=off}. */
	String baseUrl() {
		boolean plain = "off".equalsIgnoreCase(this.environment.getOrDefault("GPUFLOW_TLS", "auto"));
		return (plain ? "http" : "https") + "://127.0.0.1:" + this.httpPort;
	}

	int httpPort() {
		return this.httpPort;
	}

	/** The agent's log so far. */
	String log() {
		try {
			return Files.readString(this.logFile);
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	/** Actuator (health with details, Prometheus) and the local routes: MANAGEMENT_PORT on loopback. */
	String managementUrl() {
		return "http://127.0.0.1:" + this.managementPort;
	}

	int managementPort() {
		return this.managementPort;
	}

	/** The HTTP status of /actuator/health, or -1 if nothing answers. */
	int healthStatus() {
		return status(URI.create(managementUrl() + "/actuator/health"), Duration.ofSeconds(3));
	}

	/** The HTTP status of a GET of {@code path} on the renter port, or -1 if nothing answers in time. */
	int status(String path, Duration timeout) {
		return status(URI.create(baseUrl() + path), timeout);
	}

	private int status(URI uri, Duration timeout) {
		try {
			return this.http
				.send(HttpRequest.newBuilder(uri).timeout(timeout).build(),
						HttpResponse.BodyHandlers.discarding())
				.statusCode();
		}
		catch (IOException e) {
			return -1;
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			return -1;
		}
	}

	/** Peak resident set size of the agent's JVM so far (VmHWM), in KiB. */
	long peakRssKib() {
		return statusField("VmHWM");
	}

	long rssKib() {
		return statusField("VmRSS");
	}

	private long statusField(String field) {
		try {
			for (String line : Files.readAllLines(Path.of("/proc/" + pid() + "/status"))) {
				if (line.startsWith(field + ":")) {
					return Long.parseLong(line.replaceAll("[^0-9]", ""));
				}
			}
		}
		catch (IOException e) {
			// the process went away
		}
		return -1;
	}

	String logTail(int lines) {
		try {
			List<String> all = Files.readAllLines(this.logFile);
			return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
		}
		catch (IOException e) {
			return "(no log: " + e.getMessage() + ")";
		}
	}

	Path logFile() {
		return this.logFile;
	}

	@Override
	public void close() {
		killQuietly();
		try {
			Runtime.getRuntime().removeShutdownHook(this.shutdownHook);
		}
		catch (IllegalStateException shuttingDown) {
			// the hook runs anyway
		}
		if (Boolean.getBoolean("faults.keepLogs")) {
			System.out.println("agent log kept: " + this.logFile);
			return;
		}
		try {
			Files.deleteIfExists(this.logFile);
		}
		catch (IOException ignored) {
			// a leftover temp log is harmless
		}
	}

	private void killQuietly() {
		Processes.killAndWait(this.process);
	}

	private List<String> command() {
		String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
		List<String> command = new ArrayList<>(List.of(java));
		command.addAll(this.jvmOptions);
		Path jar = ProjectPaths.root().resolve("target/gpuflow-agent.jar");
		if (jarIsCurrent(jar)) {
			command.addAll(List.of("-jar", jar.toString()));
		}
		else {
			command.addAll(List.of("-cp", mainClassPath(), GpuflowAgentApplication.class.getName()));
		}
		return command;
	}

	/** True if the jar was built after the newest compiled main class. */
	private static boolean jarIsCurrent(Path jar) {
		if (!Files.isRegularFile(jar)) {
			return false;
		}
		Path classes = ProjectPaths.root().resolve("target/classes");
		try (Stream<Path> files = Files.walk(classes)) {
			long newest = files.filter(Files::isRegularFile).mapToLong(AgentProcess::modified).max().orElse(0);
			return modified(jar) >= newest;
		}
		catch (IOException e) {
			return false;
		}
	}

	/**
	 * The test class path without the test classes and test resources: the test-wide
	 * application.properties (no interface, no chain) must not reach the agent.
	 */
	private static String mainClassPath() {
		String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
		return Stream.of(classPath.split(File.pathSeparator))
			.filter(entry -> !entry.endsWith("test-classes") && !entry.endsWith("test-classes/"))
			.reduce((a, b) -> a + File.pathSeparator + b)
			.orElseThrow();
	}

	private static long modified(Path path) {
		try {
			return Files.getLastModifiedTime(path).toMillis();
		}
		catch (IOException e) {
			return Long.MAX_VALUE;
		}
	}

	static void sleep(long millis) {
		try {
			Thread.sleep(millis);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(e);
		}
	}

}
