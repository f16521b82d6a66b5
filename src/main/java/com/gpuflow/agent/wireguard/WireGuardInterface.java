package com.gpuflow.agent.wireguard;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import com.gpuflow.agent.config.AgentSettings.WgImplementation;
import com.gpuflow.agent.keys.FileServerIdentity;
import com.gpuflow.agent.keys.WireGuardKeys;

/**
 * Brings the agent's interface into being and keeps it there: the link (kernel module when
 * allowed and available, else a supervised wireguard-go), the server key, listen port, address,
 * link up, and the nftables rules that confine renters ({@link Firewall}). Every step is
 * idempotent, so the reconciler calls {@link #ensure()} whenever the interface looks gone or
 * broken. It never touches peers: the reconcile pass refills them from the database.
 */
class WireGuardInterface {

	private static final Logger log = LoggerFactory.getLogger(WireGuardInterface.class);

	private static final int WIREGUARD_GO_ATTEMPTS = 3;

	/** The SPEC's default MANAGEMENT_PORT. */
	static final int DEFAULT_MANAGEMENT_PORT = 9082;

	/**
	 * @param name the interface (unique across network namespaces: wireguard-go's socket
	 * directory is shared)
	 * @param address the server's address with the tunnel network's prefix, e.g. 10.77.0.1/16
	 */
	record Spec(String name, int listenPort, String address, Path privateKeyFile, WgImplementation implementation,
			Tools tools) {
	}

	/** Paths of the programs used; plain names are looked up on PATH. */
	record Tools(String wg, String wireguardGo, String ip, String nft, Path socketDirectory, Path tunDevice) {

		static Tools standard() {
			return new Tools("wg", "wireguard-go", "ip", "nft", Path.of("/var/run/wireguard"), Path.of("/dev/net/tun"));
		}

	}

	enum Kind {

		KERNEL, USERSPACE

	}

	private final Spec spec;

	private final CommandRunner runner;

	private final WgCommand wg;

	private final Runnable onDeath;

	private final Firewall firewall;

	private volatile Kind kind;

	private volatile Process wireguardGo;

	private volatile boolean closing;

	private volatile String publicKey;

	private boolean prerequisitesChecked;

	/**
	 * @param onDeath called when a wireguard-go started here exits, so a pass can restore it
	 */
	WireGuardInterface(Spec spec, CommandRunner runner, Runnable onDeath) {
		this(spec, runner, onDeath, DEFAULT_MANAGEMENT_PORT);
	}

	/**
	 * @param managementPort MANAGEMENT_PORT, which the isolation rules keep renters from
	 */
	WireGuardInterface(Spec spec, CommandRunner runner, Runnable onDeath, int managementPort) {
		this.spec = spec;
		this.runner = runner;
		this.wg = new WgCommand(spec.tools().wg(), spec.name(), runner, spec.tools().socketDirectory());
		this.onDeath = onDeath;
		this.firewall = new Firewall(new IsolationRules.Spec(nftTable(spec.name()), spec.name(), spec.address(), managementPort),
				spec.tools().nft(), runner);
	}

	String name() {
		return spec.name();
	}

	WgCommand wg() {
		return wg;
	}

	Optional<Kind> kind() {
		return Optional.ofNullable(kind);
	}

	/** The server's public key; available after {@link #ensure()}. */
	String publicKey() {
		return publicKey;
	}

	/** The agent's nftables table: one per interface, so agents of several interfaces do not share one. */
	String nftTable() {
		return nftTable(spec.name());
	}

	private static String nftTable(String interfaceName) {
		return "gpuflow_" + interfaceName.replaceAll("[^A-Za-z0-9_]", "_");
	}

	/** The isolation rules of this interface. */
	Firewall firewall() {
		return firewall;
	}

	/**
	 * Makes the interface exist and be configured. Safe to call at any time: what is already right
	 * is left as it is, so live tunnels survive.
	 * @throws WireGuardSetupException with one line naming the missing prerequisite or failed step
	 */
	synchronized void ensure() {
		checkPrerequisites();
		String serverPublicKey = FileServerIdentity.loadOrCreate(spec.privateKeyFile()).publicKey();
		if (!answers()) {
			if (linkExists()) {
				// A link nobody answers for: the wireguard-go behind it died (its TUN lingers a
				// moment) or it is a stale leftover. Peers are refilled by the pass.
				log.warn("WireGuard interface {} exists but does not answer; re-creating it", spec.name());
				deleteLink();
			}
			create();
		}
		else if (kind == null) {
			// Adopted from an earlier run of the agent: keep its peers, they are live tunnels.
			kind = Files.exists(spec.tools().socketDirectory().resolve(spec.name() + ".sock")) ? Kind.USERSPACE
					: Kind.KERNEL;
			log.info("Adopted existing WireGuard interface {} ({})", spec.name(), kind);
		}
		WgDump current = wg.dump();
		if (!current.publicKey().equals(Optional.of(serverPublicKey)) || current.listenPort() != spec.listenPort()) {
			wg.configure(spec.privateKeyFile(), spec.listenPort());
		}
		ip("ip address replace " + spec.address() + " dev " + spec.name(), "-4", "address", "replace", spec.address(),
				"dev", spec.name());
		ip("ip link set " + spec.name() + " up", "link", "set", "dev", spec.name(), "up");
		installIsolation();
		publicKey = serverPublicKey;
	}

	/** True when wg can read the interface: it exists and its implementation is alive. */
	boolean answers() {
		try {
			wg.dump();
			return true;
		}
		catch (WgCommandException e) {
			return false;
		}
	}

	/** Whether the isolation table is in place as installed (deleted or edited would weaken isolation). */
	boolean isolationInstalled() {
		return firewall.matches();
	}

	/** Installs the isolation rules ({@link IsolationRules}) in one atomic nft transaction. */
	void installIsolation() {
		firewall.install();
	}

	/**
	 * Removes what this class made: the nftables table, the link, and a wireguard-go it started with its log.
	 * Not called on a normal shutdown (a restart must not drop tunnels); tests use it to clean up.
	 */
	synchronized void destroy() {
		closing = true;
		firewall.remove();
		deleteLink();
		Process process = wireguardGo;
		if (process != null) {
			process.destroy();
			try {
				if (!process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
					process.destroyForcibly().waitFor(5, java.util.concurrent.TimeUnit.SECONDS);
				}
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
		}
		wireguardGo = null;
		try {
			Files.deleteIfExists(wireguardGoLog());
		}
		catch (IOException e) {
			log.debug("wireguard-go's log {} stays: {}", wireguardGoLog(), e.toString());
		}
	}

	private Path wireguardGoLog() {
		return Path.of(System.getProperty("java.io.tmpdir"), "gpuflow-wireguard-go-" + spec.name() + ".log");
	}

	/** The wireguard-go process this instance started, for supervision and tests. */
	Optional<Process> wireguardGoProcess() {
		return Optional.ofNullable(wireguardGo);
	}

	boolean linkExists() {
		try {
			runner.run("ip link show " + spec.name(), List.of(spec.tools().ip(), "-o", "link", "show", "dev", spec.name()),
					Optional.empty());
			return true;
		}
		catch (WgCommandException e) {
			return false;
		}
	}

	private void create() {
		WgImplementation wanted = spec.implementation();
		if (wanted != WgImplementation.USERSPACE) {
			try {
				runner.run("ip link add " + spec.name() + " type wireguard",
						List.of(spec.tools().ip(), "link", "add", "dev", spec.name(), "type", "wireguard"), Optional.empty());
				kind = Kind.KERNEL;
				log.info("Created WireGuard interface {} (kernel module)", spec.name());
				return;
			}
			catch (WgCommandException e) {
				if (wanted == WgImplementation.KERNEL) {
					throw new WireGuardSetupException("WG_IMPLEMENTATION=kernel, but the kernel cannot create a WireGuard link ("
							+ e.getMessage() + "); load the wireguard module or set WG_IMPLEMENTATION=auto");
				}
				log.info("Kernel WireGuard unavailable ({}); using wireguard-go for {}", e.stderr(), spec.name());
			}
		}
		startWireguardGo();
	}

	/**
	 * Starts wireguard-go, trying again when it exits while creating the interface: once in CI it
	 * exited with 1 within 80 ms of its start, on a host where the same start works every other time,
	 * and an agent started unattended should not give up on the first such exit. Each failure's
	 * reason, wireguard-go's own last lines, goes into the log and the final error.
	 */
	private void startWireguardGo() {
		String program = spec.tools().wireguardGo();
		if (resolve(program).isEmpty()) {
			throw new WireGuardSetupException("The kernel has no WireGuard module and `" + program
					+ "` is not installed or not on PATH: install wireguard-go or load the wireguard module");
		}
		if (!Files.exists(spec.tools().tunDevice())) {
			throw new WireGuardSetupException("wireguard-go needs " + spec.tools().tunDevice()
					+ ", which is missing (in a container: --device /dev/net/tun)");
		}
		Path logFile = wireguardGoLog();
		for (int attempt = 1;; attempt++) {
			Optional<String> exited = launchWireguardGo(program, logFile);
			if (exited.isEmpty()) {
				return;
			}
			if (attempt == WIREGUARD_GO_ATTEMPTS) {
				throw new WireGuardSetupException(exited.get() + " (" + attempt + " attempts); see " + logFile);
			}
			log.warn("{}; trying again", exited.get());
			sleep(200L * attempt);
		}
	}

	/** Starts wireguard-go and waits until its interface answers; empty when it did, else why it exited. */
	private Optional<String> launchWireguardGo(String program, Path logFile) {
		long logStart = logFile.toFile().length();
		ProcessBuilder builder = new ProcessBuilder(program, "-f", spec.name())
			// Not a pipe: wireguard-go must outlive an agent restart, and a closed pipe would kill it.
			.redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
			.redirectErrorStream(true)
			.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
		builder.environment().put("WG_PROCESS_FOREGROUND", "1");
		builder.environment().put("LOG_LEVEL", "error");
		Process process;
		try {
			process = builder.start();
		}
		catch (IOException e) {
			throw new WireGuardSetupException("Could not start " + program + ": " + e.getMessage(), e);
		}
		wireguardGo = process;
		long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
		while (!answers()) {
			if (!process.isAlive()) {
				return Optional.of(program + " exited with " + process.exitValue() + " while creating " + spec.name()
						+ ": " + lastLines(logFile, logStart));
			}
			if (System.nanoTime() > deadline) {
				process.destroyForcibly();
				throw new WireGuardSetupException(program + " did not create " + spec.name() + " within 10 s; see " + logFile);
			}
			sleep(20);
		}
		startedWireguardGo(process);
		return Optional.empty();
	}

	/** What the process wrote to its log since {@code from} (at most the last 400 characters), on one line. */
	private static String lastLines(Path logFile, long from) {
		try (java.io.RandomAccessFile file = new java.io.RandomAccessFile(logFile.toFile(), "r")) {
			long start = Math.max(from, file.length() - 400);
			byte[] tail = new byte[(int) Math.max(0, file.length() - start)];
			file.seek(start);
			file.readFully(tail);
			String text = new String(tail, java.nio.charset.StandardCharsets.UTF_8).strip().replaceAll("\\s*\\R\\s*", " | ");
			return text.isEmpty() ? "(it wrote nothing)" : text;
		}
		catch (IOException e) {
			return "(its log " + logFile + " is unreadable: " + e.getMessage() + ")";
		}
	}

	private void startedWireguardGo(Process process) {
		kind = Kind.USERSPACE;
		log.info("Started wireguard-go (pid {}) for {}", process.pid(), spec.name());
		process.onExit().thenRun(() -> {
			if (closing || wireguardGo != process) {
				return;
			}
			log.warn("wireguard-go for {} (pid {}) exited with {}; the next pass restarts it and refills its peers",
					spec.name(), process.pid(), process.exitValue());
			onDeath.run();
		});
	}

	private void deleteLink() {
		try {
			runner.run("ip link del " + spec.name(), List.of(spec.tools().ip(), "link", "del", "dev", spec.name()),
					Optional.empty());
		}
		catch (WgCommandException e) {
			// Already gone.
		}
	}

	private void ip(String description, String... args) {
		List<String> command = new java.util.ArrayList<>();
		command.add(spec.tools().ip());
		command.addAll(List.of(args));
		runner.run(description, command, Optional.empty());
	}

	private void checkPrerequisites() {
		if (prerequisitesChecked) {
			return;
		}
		Optional<String> noNetAdmin = NetAdminCapability.missingForChildren();
		if (noNetAdmin.isPresent()) {
			throw new WireGuardSetupException("Managing " + spec.name() + " needs CAP_NET_ADMIN: this process "
					+ noNetAdmin.get());
		}
		if (resolve(spec.tools().wg()).isEmpty()) {
			throw new WireGuardSetupException("`" + spec.tools().wg() + "` (wireguard-tools) is not installed or not on PATH");
		}
		if (resolve(spec.tools().ip()).isEmpty()) {
			throw new WireGuardSetupException("`" + spec.tools().ip() + "` (iproute2) is not installed or not on PATH");
		}
		if (resolve(spec.tools().nft()).isEmpty()) {
			throw new WireGuardSetupException("`" + spec.tools().nft()
					+ "` (nftables) is not installed or not on PATH; it is needed to keep renters apart");
		}
		prerequisitesChecked = true;
	}

	static Optional<Path> resolve(String program) {
		if (program.contains("/")) {
			Path path = Path.of(program);
			return Files.isExecutable(path) ? Optional.of(path) : Optional.empty();
		}
		String pathVariable = Optional.ofNullable(System.getenv("PATH")).orElse("/usr/sbin:/usr/bin:/sbin:/bin");
		for (String dir : pathVariable.split(":")) {
			if (!dir.isEmpty()) {
				Path candidate = Path.of(dir, program);
				if (Files.isExecutable(candidate)) {
					return Optional.of(candidate);
				}
			}
		}
		return Optional.empty();
	}

	private static void sleep(long millis) {
		try {
			Thread.sleep(millis);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new WireGuardSetupException("interrupted while waiting for wireguard-go");
		}
	}

}
