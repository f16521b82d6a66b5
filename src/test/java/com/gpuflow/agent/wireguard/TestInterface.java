package com.gpuflow.agent.wireguard;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.Comparator;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import com.gpuflow.agent.config.AgentSettings.WgImplementation;
import com.gpuflow.agent.testsupport.Ports;
import com.gpuflow.agent.testsupport.RenterNamespace;

/**
 * A real wireguard-go interface in the root namespace for one test: a unique name, a random
 * /24 of 10.213.0.0/16, a random port and a key file in a temp directory, plus a reconciler on an
 * in-memory session side. {@link #close()} removes the interface, its nft table, its wireguard-go
 * and the key directory.
 */
final class TestInterface implements AutoCloseable {

	private static final SecureRandom RANDOM = new SecureRandom();

	final String name = RenterNamespace.uniqueName();

	final int subnet = RANDOM.nextInt(256);

	final int port = Ports.udp();

	/** The MANAGEMENT_PORT the isolation rules keep renters from (TCP; never the default, which an agent may hold). */
	final int managementPort = 30000 + RANDOM.nextInt(10000);

	final Path keyDirectory;

	final Path keyFile;

	final InMemorySessions sessions = new InMemorySessions();

	final SimpleMeterRegistry meters = new SimpleMeterRegistry();

	final WireGuardInterface wireGuard;

	final Reconciler reconciler;

	TestInterface(Clock clock, Duration interval) {
		try {
			keyDirectory = Files.createTempDirectory("gpuflow-wg-test-");
		}
		catch (IOException e) {
			throw new IllegalStateException(e);
		}
		keyFile = keyDirectory.resolve("keys").resolve("server.key");
		ReconcilerRef ref = new ReconcilerRef();
		wireGuard = new WireGuardInterface(new WireGuardInterface.Spec(name, port, serverIp() + "/24", keyFile,
				WgImplementation.AUTO, WireGuardInterface.Tools.standard()), new CommandRunner(Duration.ofSeconds(60)),
				ref::requestPass, managementPort);
		reconciler = new Reconciler(sessions, wireGuard, clock, meters, 25, interval);
		ref.reconciler = reconciler;
	}

	String serverIp() {
		return "10.213." + subnet + ".1";
	}

	String ip(int host) {
		return "10.213." + subnet + "." + host;
	}

	String cidr() {
		return "10.213." + subnet + ".0/24";
	}

	WgDump dump() {
		return wireGuard.wg().dump();
	}

	String wg(String... args) {
		String[] command = new String[args.length + 1];
		command[0] = "wg";
		System.arraycopy(args, 0, command, 1, args.length);
		return RenterNamespace.sh(command);
	}

	@Override
	public void close() {
		reconciler.stop();
		wireGuard.destroy();
		try (var files = Files.walk(keyDirectory)) {
			files.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
		}
		catch (IOException e) {
			throw new IllegalStateException(e);
		}
	}

	private static final class ReconcilerRef {

		volatile Reconciler reconciler;

		void requestPass() {
			if (reconciler != null) {
				reconciler.requestPass();
			}
		}

	}

}
