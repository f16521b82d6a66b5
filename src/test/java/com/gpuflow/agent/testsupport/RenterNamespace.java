package com.gpuflow.agent.testsupport;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

import com.gpuflow.agent.keys.WireGuardKeys;

/**
 * A renter's machine for tests: a network namespace joined to the root namespace by a veth pair on
 * a private /30, optionally with its own wireguard-go tunnel to the agent's interface. Names are
 * unique per instance ({@code gf} + 6 random characters), so tests and engineers running in
 * parallel do not collide (wireguard-go's socket directory is shared by all namespaces).
 * {@link #close()} removes exactly what this instance made, also after a half-finished setup.
 *
 * <pre>
 * try (RenterNamespace renter = RenterNamespace.create()) {
 *     renter.connectTunnel("10.213.7.2", serverPublicKey, renter.hostAddress(), 51820, "10.213.7.1/32");
 *     renter.tcpRead("10.213.7.1", 8080, Duration.ofSeconds(3));
 * }
 * </pre>
 */
public final class RenterNamespace implements AutoCloseable {

	/** What a TCP connection attempt found: a listener, an answer without one, or nothing. */
	public enum Reach {

		CONNECTED, REFUSED, NO_ANSWER

	}

	private static final SecureRandom RANDOM = new SecureRandom();

	private final String name;

	private final String hostVeth;

	private final String innerVeth;

	private final String wgInterface;

	private final String hostAddress;

	private final String innerAddress;

	private final WireGuardKeys.KeyPairText keys = WireGuardKeys.generate();

	private final Path directory;

	private boolean namespaceCreated;

	private boolean vethCreated;

	private Process wireguardGo;

	private RenterNamespace(String name, int subnet) throws IOException {
		this.name = name;
		this.hostVeth = name + "h";
		this.innerVeth = name + "n";
		this.wgInterface = name + "w";
		// 10.214.0.0/16 split into /30s: .1 on the host side, .2 inside.
		int base = subnet * 4;
		this.hostAddress = "10.214." + (base >> 8) + "." + ((base & 0xff) + 1);
		this.innerAddress = "10.214." + (base >> 8) + "." + ((base & 0xff) + 2);
		this.directory = Files.createTempDirectory("gpuflow-renter-" + name + "-",
				PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
	}

	/** A fresh namespace with a veth link to the root namespace, both ends up and addressed. */
	public static RenterNamespace create() {
		RenterNamespace renter;
		try {
			renter = new RenterNamespace(uniqueName(), RANDOM.nextInt(16384));
		}
		catch (IOException e) {
			throw new IllegalStateException("cannot create a temp directory", e);
		}
		try {
			renter.setUp();
			return renter;
		}
		catch (RuntimeException e) {
			renter.close();
			throw e;
		}
	}

	/** {@code gf} + 6 random lower-case letters and digits; 9 characters leave room for suffixes. */
	public static String uniqueName() {
		String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
		StringBuilder name = new StringBuilder("gf");
		for (int i = 0; i < 6; i++) {
			name.append(alphabet.charAt(RANDOM.nextInt(alphabet.length())));
		}
		return name.toString();
	}

	private void setUp() {
		sh("ip", "netns", "add", name);
		namespaceCreated = true;
		sh("ip", "link", "add", hostVeth, "type", "veth", "peer", "name", innerVeth);
		vethCreated = true;
		sh("ip", "link", "set", innerVeth, "netns", name);
		sh("ip", "address", "add", hostAddress + "/30", "dev", hostVeth);
		sh("ip", "link", "set", hostVeth, "up");
		inside("ip", "link", "set", "lo", "up");
		inside("ip", "address", "add", innerAddress + "/30", "dev", innerVeth);
		inside("ip", "link", "set", innerVeth, "up");
	}

	/**
	 * Starts wireguard-go inside the namespace and configures it with {@code wg setconf} from a
	 * config file: this renter's key, the server as the one peer, the tunnel address on the
	 * interface and a route for {@code allowedIps} into it.
	 * @param allowedIps what the renter sends into the tunnel, e.g. the server's /32 or, to test
	 * isolation, the whole tunnel network
	 */
	public RenterNamespace connectTunnel(String tunnelIp, String serverPublicKey, String serverHost, int serverPort,
			String allowedIps) {
		if (wireguardGo != null) {
			throw new IllegalStateException(name + " already has a tunnel");
		}
		try {
			startWireguardGo();
			Path config = directory.resolve(wgInterface + ".conf");
			Files.writeString(config, """
					[Interface]
					PrivateKey = %s

					[Peer]
					PublicKey = %s
					Endpoint = %s:%d
					AllowedIPs = %s
					PersistentKeepalive = 1
					""".formatted(keys.privateKey(), serverPublicKey, serverHost, serverPort, allowedIps));
			Files.setPosixFilePermissions(config, PosixFilePermissions.fromString("rw-------"));
			sh("wg", "setconf", wgInterface, config.toString());
			inside("ip", "address", "add", tunnelIp + "/32", "dev", wgInterface);
			inside("ip", "link", "set", wgInterface, "up");
			for (String route : allowedIps.split(",")) {
				inside("ip", "route", "replace", route.trim(), "dev", wgInterface);
			}
			return this;
		}
		catch (IOException e) {
			throw new IllegalStateException("cannot start wireguard-go in " + name, e);
		}
	}

	/**
	 * Brings the tunnel up from a wg-quick config exactly as the agent served it: {@code wg-quick
	 * strip} then {@code wg setconf}, the config's Address on the interface and a route for each of
	 * its AllowedIPs. {@code PrivateKey = <your private key>} (a renter-own key) is filled in with
	 * this renter's key first, as the renter would.
	 */
	public RenterNamespace connectWithConfig(String wgQuickConfig) {
		if (wireguardGo != null) {
			throw new IllegalStateException(name + " already has a tunnel");
		}
		try {
			startWireguardGo();
			Path served = directory.resolve("gpuflow.conf");
			Files.writeString(served, wgQuickConfig.replace("<your private key>", keys.privateKey()));
			Files.setPosixFilePermissions(served, PosixFilePermissions.fromString("rw-------"));
			Path stripped = directory.resolve(wgInterface + ".conf");
			Files.writeString(stripped, sh("wg-quick", "strip", served.toString()));
			sh("wg", "setconf", wgInterface, stripped.toString());
			String address = configValue(wgQuickConfig, "Address");
			inside("ip", "address", "add", address, "dev", wgInterface);
			inside("ip", "link", "set", wgInterface, "up");
			for (String route : configValue(wgQuickConfig, "AllowedIPs").split(",")) {
				inside("ip", "route", "replace", route.trim(), "dev", wgInterface);
			}
			return this;
		}
		catch (IOException e) {
			throw new IllegalStateException("cannot bring the tunnel up in " + name, e);
		}
	}

	private void startWireguardGo() throws IOException {
		try {
			ProcessBuilder builder = new ProcessBuilder("ip", "netns", "exec", name, "wireguard-go", "-f", wgInterface)
				.redirectErrorStream(true)
				.redirectOutput(directory.resolve("wireguard-go.log").toFile())
				.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
			builder.environment().put("WG_PROCESS_FOREGROUND", "1");
			wireguardGo = builder.start();
			long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
			while (run(List.of("wg", "show", wgInterface, "public-key"), Duration.ofSeconds(5)).exit() != 0) {
				if (!wireguardGo.isAlive() || System.nanoTime() > deadline) {
					throw new IllegalStateException("wireguard-go did not start in " + name + ": "
							+ Files.readString(directory.resolve("wireguard-go.log")));
				}
				Thread.sleep(20);
			}
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(e);
		}
	}

	/** A renter editing its own side: send the whole {@code cidr} into the tunnel. */
	public void widenAllowedIps(String serverPublicKey, String cidr) {
		sh("wg", "set", wgInterface, "peer", serverPublicKey, "allowed-ips", cidr);
		inside("ip", "route", "replace", cidr, "dev", wgInterface);
	}

	/** A default route via the root namespace, so this renter reaches any of the host's addresses. */
	public void routeViaHost() {
		inside("ip", "route", "replace", "default", "via", hostAddress);
	}

	/** A setting of a wg-quick config ({@code Address}, {@code PublicKey}, ...): the text after its {@code =}. */
	public static String configValue(String config, String key) {
		return config.lines()
			.filter(l -> l.startsWith(key + " "))
			.map(l -> l.substring(l.indexOf('=') + 1).trim())
			.findFirst()
			.orElseThrow(() -> new IllegalArgumentException("no " + key + " in the config"));
	}

	/** Connects from inside the namespace and returns everything the server sent before closing. */
	public String tcpRead(String host, int port, Duration timeout) {
		Result result = run(List.of("ip", "netns", "exec", name, "timeout", Long.toString(timeout.toSeconds()), "bash",
				"-c", "exec 3<>/dev/tcp/" + host + "/" + port + " && cat <&3"), timeout.plusSeconds(5));
		if (result.exit() != 0) {
			throw new IllegalStateException("tcp " + host + ":" + port + " from " + name + " failed (exit " + result.exit()
					+ "): " + result.output());
		}
		return result.output();
	}

	/**
	 * Tries a TCP connection from inside the namespace. REFUSED means the packets reached a host
	 * that answered with a reset: reachable, just no listener. NO_ANSWER means they were dropped.
	 */
	public Reach tcpProbe(String host, int port, Duration timeout) {
		Result result = run(List.of("ip", "netns", "exec", name, "timeout", Long.toString(timeout.toSeconds()), "bash",
				"-c", "exec 3<>/dev/tcp/" + host + "/" + port), timeout.plusSeconds(5));
		if (result.exit() == 0) {
			return Reach.CONNECTED;
		}
		if (result.output().contains("refused")) {
			return Reach.REFUSED;
		}
		return Reach.NO_ANSWER;
	}

	/** Runs a command inside the namespace; fails on a non-zero exit. */
	public String inside(String... command) {
		List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
		full.addAll(List.of(command));
		return sh(full.toArray(String[]::new));
	}

	public String name() {
		return name;
	}

	/** The root namespace's end of the veth pair: the endpoint a renter dials. */
	public String hostAddress() {
		return hostAddress;
	}

	public String innerAddress() {
		return innerAddress;
	}

	public String wgInterface() {
		return wgInterface;
	}

	public String privateKeyForTests() {
		return keys.privateKey();
	}

	public String publicKey() {
		return keys.publicKey();
	}

	/** Removes the wireguard-go process, the namespace, the veth pair and the temp files. */
	@Override
	public void close() {
		List<String> problems = new ArrayList<>();
		if (wireguardGo != null) {
			wireguardGo.destroy();
			try {
				if (!wireguardGo.waitFor(5, TimeUnit.SECONDS)) {
					wireguardGo.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
				}
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
			run(List.of("ip", "link", "del", wgInterface), Duration.ofSeconds(5));
		}
		if (vethCreated) {
			// Deleting one end deletes the pair, wherever the other end lives.
			run(List.of("ip", "link", "del", hostVeth), Duration.ofSeconds(5));
		}
		if (namespaceCreated) {
			Result deleted = run(List.of("ip", "netns", "del", name), Duration.ofSeconds(5));
			if (deleted.exit() != 0) {
				problems.add("ip netns del " + name + ": " + deleted.output());
			}
		}
		try (var files = Files.walk(directory)) {
			files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
		}
		catch (IOException e) {
			problems.add("temp directory " + directory + ": " + e.getMessage());
		}
		if (!problems.isEmpty()) {
			throw new IllegalStateException("cleaning up " + name + ": " + String.join("; ", problems));
		}
	}

	public record Result(int exit, String output) {
	}

	/**
	 * Removes an agent's interface and its isolation table, by the interface's name. Missing ones
	 * are fine.
	 */
	public static void removeAgentInterface(String wgInterface) {
		run(List.of("ip", "link", "del", wgInterface), Duration.ofSeconds(10));
		run(List.of("nft", "delete", "table", "inet", "gpuflow_" + wgInterface), Duration.ofSeconds(10));
		// A wireguard-go killed with SIGKILL leaves its UAPI socket behind.
		new File("/var/run/wireguard/" + wgInterface + ".sock").delete();
		new File(System.getProperty("java.io.tmpdir"), "gpuflow-wireguard-go-" + wgInterface + ".log").delete();
	}

	/** Closes in reverse order of creation, each even when one before it failed. */
	public static void closeAllInReverse(List<? extends AutoCloseable> resources) {
		for (int i = resources.size() - 1; i >= 0; i--) {
			try {
				resources.get(i).close();
			}
			catch (Exception e) {
				// keep cleaning the rest
			}
		}
	}

	/** Runs a command, returning exit code and combined output; never throws for a non-zero exit. */
	public static Result run(List<String> command, Duration timeout) {
		try {
			Process process = new ProcessBuilder(command).redirectErrorStream(true)
				.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
				.start();
			byte[] output = process.getInputStream().readAllBytes();
			if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
				process.destroyForcibly();
				return new Result(-1, "timed out: " + String.join(" ", command));
			}
			return new Result(process.exitValue(), new String(output, StandardCharsets.UTF_8));
		}
		catch (IOException e) {
			return new Result(-1, e.getMessage());
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			return new Result(-1, "interrupted");
		}
	}

	/** Runs a command and fails with its output on a non-zero exit. */
	public static String sh(String... command) {
		Result result = run(List.of(command), Duration.ofSeconds(30));
		if (result.exit() != 0) {
			throw new IllegalStateException(String.join(" ", command) + " failed (exit " + result.exit() + "): "
					+ result.output().strip());
		}
		return result.output();
	}

}
