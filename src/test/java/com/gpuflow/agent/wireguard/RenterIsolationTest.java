package com.gpuflow.agent.wireguard;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.gpuflow.agent.testsupport.RenterNamespace;
import com.gpuflow.agent.testsupport.RenterNamespace.Reach;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Real tunnels: two renters in their own network namespaces dial the agent's interface. Each
 * reaches the server's tunnel address; neither reaches the other, even with its AllowedIPs
 * widened to the whole tunnel network and the host forwarding IPv4.
 */
class RenterIsolationTest {

	static final Path IP_FORWARD = Path.of("/proc/sys/net/ipv4/ip_forward");

	final TestInterface wg = new TestInterface(Clock.systemUTC(), Duration.ofMinutes(10));

	RenterNamespace renterA;

	RenterNamespace renterB;

	ServerSocket service;

	Thread serviceThread;

	String forwardingBefore;

	@BeforeEach
	void setUp() throws IOException {
		forwardingBefore = Files.readString(IP_FORWARD).strip();
		renterA = RenterNamespace.create();
		renterB = RenterNamespace.create();
		Instant later = Instant.now().plusSeconds(3600);
		wg.sessions.add(1, renterA.publicKey(), wg.ip(2), Instant.now(), later)
			.add(2, renterB.publicKey(), wg.ip(3), Instant.now(), later);
		wg.wireGuard.ensure();
		wg.reconciler.runPass();
		// A service of the test's own on the server's tunnel address.
		service = new ServerSocket(0, 50, InetAddress.getByName(wg.serverIp()));
		serviceThread = Thread.ofVirtual().start(() -> {
			while (!service.isClosed()) {
				try (Socket client = service.accept(); OutputStream out = client.getOutputStream()) {
					out.write("gpuflow-server\n".getBytes(StandardCharsets.UTF_8));
				}
				catch (IOException e) {
					// Closed at the end of the test.
				}
			}
		});
	}

	@AfterEach
	void cleanUp() throws Exception {
		try {
			Files.writeString(IP_FORWARD, forwardingBefore);
			if (service != null) {
				service.close();
				serviceThread.join(2000);
			}
		}
		finally {
			try {
				closeQuietly(renterA);
				closeQuietly(renterB);
			}
			finally {
				wg.close();
			}
		}
	}

	@Test
	void aRenterReachesTheServerThroughTheTunnel() {
		renterA.connectTunnel(wg.ip(2), wg.wireGuard.publicKey(), renterA.hostAddress(), wg.port, wg.serverIp() + "/32");

		String reply = renterA.tcpRead(wg.serverIp(), service.getLocalPort(), Duration.ofSeconds(5));

		assertThat(reply).isEqualTo("gpuflow-server\n");
		wg.reconciler.runPass();
		assertThat(wg.reconciler.snapshot().peers())
			.filteredOn(row -> row.publicKey().equals(renterA.publicKey()))
			.singleElement()
			.satisfies(row -> {
				assertThat(row.latestHandshake()).isPresent();
				assertThat(row.rxBytes()).isPositive();
				assertThat(row.endpoint()).hasValueSatisfying(e -> assertThat(e).startsWith(renterA.innerAddress() + ":"));
			});
	}

	@Test
	void aRenterCannotReachAnotherRenterEvenWithWideAllowedIpsAndForwardingOn() throws Exception {
		renterA.connectTunnel(wg.ip(2), wg.wireGuard.publicKey(), renterA.hostAddress(), wg.port, wg.cidr());
		renterB.connectTunnel(wg.ip(3), wg.wireGuard.publicKey(), renterB.hostAddress(), wg.port, wg.cidr());
		Files.writeString(IP_FORWARD, "1");
		// Both tunnels are up: each renter reaches the server.
		assertThat(renterA.tcpRead(wg.serverIp(), service.getLocalPort(), Duration.ofSeconds(5))).isEqualTo("gpuflow-server\n");
		assertThat(renterB.tcpRead(wg.serverIp(), service.getLocalPort(), Duration.ofSeconds(5))).isEqualTo("gpuflow-server\n");
		int closedPort = 9;

		// Control: without the agent's rule, forwarding carries A's packets to B (B answers with a reset).
		RenterNamespace.sh("nft", "delete", "table", "inet", wg.wireGuard.nftTable());
		Reach withoutRule = renterA.tcpProbe(wg.ip(3), closedPort, Duration.ofSeconds(3));
		wg.wireGuard.installIsolation();
		Reach withRule = renterA.tcpProbe(wg.ip(3), closedPort, Duration.ofSeconds(3));
		Reach otherWay = renterB.tcpProbe(wg.ip(2), closedPort, Duration.ofSeconds(3));

		assertThat(withoutRule).as("the control: A reaches B when nothing stops it").isEqualTo(Reach.REFUSED);
		assertThat(withRule).isEqualTo(Reach.NO_ANSWER);
		assertThat(otherWay).isEqualTo(Reach.NO_ANSWER);
		assertThat(RenterNamespace.sh("nft", "list", "table", "inet", wg.wireGuard.nftTable()))
			.containsPattern("counter packets [1-9]");
		// The server itself is still reachable for both.
		assertThat(renterA.tcpRead(wg.serverIp(), service.getLocalPort(), Duration.ofSeconds(5))).isEqualTo("gpuflow-server\n");
	}

	private static void closeQuietly(RenterNamespace renter) {
		if (renter != null) {
			renter.close();
		}
	}

}
