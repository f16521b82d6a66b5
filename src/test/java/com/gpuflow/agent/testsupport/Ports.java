package com.gpuflow.agent.testsupport;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.IntPredicate;

/**
 * Ports a test hands to a server that binds them later (an agent process, anvil, wireguard-go),
 * possibly much later: six agents start one after another over minutes, and a killed agent or node
 * restarts on the same port.
 *
 * <p>
 * A port from {@code bind(0)} is an ephemeral port: once released, the kernel may give it to any
 * outgoing connection (JDBC, JSON-RPC, HTTP) before the server binds it, and the server then fails
 * with "Port ... already in use". So these come from below the kernel's ephemeral range, which
 * outgoing connections never take, are checked free when handed out, and are never handed out twice
 * by this JVM.
 */
public final class Ports {

	/** Above the well-known and most registered service ports. */
	private static final int LOWEST = 10_000;

	private static final Set<Integer> handedOut = new HashSet<>();

	private Ports() {
	}

	/** A TCP port free on every address now, that no outgoing connection will take. */
	public static int tcp() {
		return pick(Ports::tcpFree);
	}

	/** A UDP port (a WireGuard listen port) free on every address now, never handed out before. */
	public static int udp() {
		return pick(Ports::udpFree);
	}

	private static synchronized int pick(IntPredicate free) {
		int highest = ephemeralLow() - 1;
		if (highest - LOWEST < 1_000) {
			throw new IllegalStateException("the ephemeral range starts at " + (highest + 1) + ": too few ports below it");
		}
		for (int attempt = 0; attempt < 1_000; attempt++) {
			int port = LOWEST + ThreadLocalRandom.current().nextInt(highest - LOWEST + 1);
			if (!handedOut.contains(port) && free.test(port)) {
				handedOut.add(port);
				return port;
			}
		}
		throw new IllegalStateException("no free port in " + LOWEST + "-" + highest + " after 1000 tries");
	}

	private static boolean tcpFree(int port) {
		try (ServerSocket socket = new ServerSocket()) {
			socket.bind(new InetSocketAddress(port), 1);
			return true;
		}
		catch (IOException e) {
			return false;
		}
	}

	private static boolean udpFree(int port) {
		try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress(port))) {
			return true;
		}
		catch (IOException e) {
			return false;
		}
	}

	/** The low end of {@code net.ipv4.ip_local_port_range}; Linux's default when unreadable. */
	private static int ephemeralLow() {
		try {
			// Not Files.readString: it trusts the size /proc reports and returned only "3" of "32768\t60999".
			String range = Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).get(0).trim();
			return Integer.parseInt(range.split("\\s+")[0]);
		}
		catch (IOException | RuntimeException e) {
			return 32_768;
		}
	}

}
