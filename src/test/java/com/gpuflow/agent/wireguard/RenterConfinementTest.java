package com.gpuflow.agent.wireguard;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import com.gpuflow.agent.testsupport.RenterNamespace;
import com.gpuflow.agent.testsupport.RenterNamespace.Reach;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Real tunnels into a real interface, with {@code net.ipv4.ip_forward=1}: a renter that sends
 * everything into the tunnel reaches its service on the server's tunnel address and nothing else
 * of the host (another host address, the management port) or beyond it (forwarding), and the
 * reconciler restores the rules within one interval after they are deleted or edited. Each check
 * has a control without the agent's table, so a drop is the rules' doing, not a broken set-up.
 */
class RenterConfinementTest {

	static final Path IP_FORWARD = Path.of("/proc/sys/net/ipv4/ip_forward");

	static final Duration INTERVAL = Duration.ofSeconds(2);

	static final Duration PROBE = Duration.ofSeconds(2);

	final TestInterface wg = new TestInterface(Clock.systemUTC(), INTERVAL);

	/** A host address that is not the server's: on a veth link of the test's own (this kernel has no dummy links). */
	final String dummyLink = RenterNamespace.uniqueName() + "d";

	final String otherHostAddress = "10.216." + new SecureRandom().nextInt(256) + "." + (1 + new SecureRandom().nextInt(250));

	final List<ServerSocket> services = new ArrayList<>();

	boolean dummyCreated;

	RenterNamespace renterA;

	RenterNamespace renterB;

	String forwardingBefore;

	int servicePort;

	@BeforeEach
	void setUp() throws IOException {
		forwardingBefore = Files.readString(IP_FORWARD).strip();
		renterA = RenterNamespace.create();
		renterB = RenterNamespace.create();
		RenterNamespace.sh("ip", "link", "add", dummyLink, "type", "veth", "peer", "name", dummyLink.substring(0, dummyLink.length() - 1) + "e");
		dummyCreated = true;
		RenterNamespace.sh("ip", "address", "add", otherHostAddress + "/32", "dev", dummyLink);
		RenterNamespace.sh("ip", "link", "set", dummyLink, "up");
		Instant later = Instant.now().plusSeconds(3600);
		wg.sessions.add(1, renterA.publicKey(), wg.ip(2), Instant.now(), later)
			.add(2, renterB.publicKey(), wg.ip(3), Instant.now(), later);
		wg.wireGuard.ensure();
		wg.reconciler.runPass();
		// One service on every host address (the GPU host's own service), one on the management port.
		servicePort = serve(new InetSocketAddress(InetAddress.getByName("0.0.0.0"), 0));
		serve(new InetSocketAddress(InetAddress.getByName(wg.serverIp()), wg.managementPort));
		Files.writeString(IP_FORWARD, "1");
	}

	@AfterEach
	void cleanUp() throws Exception {
		try {
			Files.writeString(IP_FORWARD, forwardingBefore);
			for (ServerSocket service : services) {
				service.close();
			}
		}
		finally {
			try {
				if (renterA != null) {
					renterA.close();
				}
				if (renterB != null) {
					renterB.close();
				}
				if (dummyCreated) {
					RenterNamespace.sh("ip", "link", "del", dummyLink);
				}
			}
			finally {
				wg.close();
			}
		}
	}

	private int serve(InetSocketAddress address) throws IOException {
		ServerSocket service = new ServerSocket();
		service.bind(address, 50);
		services.add(service);
		Thread.ofVirtual().start(() -> {
			while (!service.isClosed()) {
				try (Socket client = service.accept(); OutputStream out = client.getOutputStream()) {
					out.write("gpuflow-host\n".getBytes(StandardCharsets.UTF_8));
				}
				catch (IOException e) {
					// Closed at the end of the test.
				}
			}
		});
		return service.getLocalPort();
	}

	private void deleteTable() {
		RenterNamespace.sh("nft", "delete", "table", "inet", wg.wireGuard.nftTable());
	}

	@Test
	void aRenterSendingEverythingIntoTheTunnelReachesOnlyItsServiceOnTheServerAddress() {
		renterA.connectTunnel(wg.ip(2), wg.wireGuard.publicKey(), renterA.hostAddress(), wg.port, "0.0.0.0/0");
		renterB.routeViaHost();
		assertThat(renterA.tcpRead(wg.serverIp(), servicePort, Duration.ofSeconds(5))).isEqualTo("gpuflow-host\n");

		deleteTable();
		Reach otherAddressOpen = renterA.tcpProbe(otherHostAddress, servicePort, PROBE);
		Reach managementOpen = renterA.tcpProbe(wg.serverIp(), wg.managementPort, PROBE);
		Reach forwardedOpen = renterA.tcpProbe(renterB.innerAddress(), 9, PROBE);
		wg.wireGuard.installIsolation();

		assertThat(otherAddressOpen).as("control: without the rules another host address answers").isEqualTo(Reach.CONNECTED);
		assertThat(managementOpen).as("control: without the rules the management port answers").isEqualTo(Reach.CONNECTED);
		assertThat(forwardedOpen).as("control: without the rules the host forwards to renter B's side").isEqualTo(Reach.REFUSED);
		assertThat(renterA.tcpProbe(otherHostAddress, servicePort, PROBE)).as("another host address").isEqualTo(Reach.NO_ANSWER);
		assertThat(renterA.tcpProbe("127.0.0.1", servicePort, PROBE)).as("loopback, from its own namespace").isNotEqualTo(Reach.CONNECTED);
		assertThat(renterA.tcpProbe(wg.serverIp(), wg.managementPort, PROBE)).as("the management port").isEqualTo(Reach.NO_ANSWER);
		assertThat(renterA.tcpProbe(renterB.innerAddress(), 9, PROBE)).as("forwarded beyond the host").isEqualTo(Reach.NO_ANSWER);
		assertThat(renterA.tcpRead(wg.serverIp(), servicePort, Duration.ofSeconds(5))).as("its own service still works")
			.isEqualTo("gpuflow-host\n");
	}

	@Test
	void repliesToAConnectionTheHostOpenedStillFlow() throws Exception {
		renterA.connectTunnel(wg.ip(2), wg.wireGuard.publicKey(), renterA.hostAddress(), wg.port, "0.0.0.0/0");
		int renterPort = 20000 + new SecureRandom().nextInt(10000);
		Process listener = new ProcessBuilder("ip", "netns", "exec", renterA.name(), "timeout", "20", "socat",
				"TCP-LISTEN:" + renterPort + ",bind=" + wg.ip(2), "SYSTEM:echo renter-service").redirectErrorStream(true).start();
		try {
			// From a host address other than the server's: the renter's answers come back to it
			// through the tunnel, which only the established/related rule lets in.
			String reply = null;
			long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
			while (reply == null && System.nanoTime() < deadline) {
				try (Socket socket = new Socket()) {
					socket.bind(new InetSocketAddress(InetAddress.getByName(otherHostAddress), 0));
					socket.connect(new InetSocketAddress(wg.ip(2), renterPort), 2000);
					socket.setSoTimeout(3000);
					InputStream in = socket.getInputStream();
					reply = new String(in.readAllBytes(), StandardCharsets.UTF_8);
				}
				catch (IOException e) {
					Thread.sleep(100);
				}
			}
			assertThat(reply).isEqualTo("renter-service\n");
			assertThat(wg.wireGuard.isolationInstalled()).isTrue();
		}
		finally {
			listener.destroy();
			listener.waitFor(5, TimeUnit.SECONDS);
		}
	}

	@Test
	void deletedOrEditedRulesAreBackWithinOneIntervalAndRentersAreApartAgain() throws Exception {
		renterA.connectTunnel(wg.ip(2), wg.wireGuard.publicKey(), renterA.hostAddress(), wg.port, wg.cidr());
		renterB.connectTunnel(wg.ip(3), wg.wireGuard.publicKey(), renterB.hostAddress(), wg.port, wg.cidr());
		assertThat(renterB.tcpRead(wg.serverIp(), servicePort, Duration.ofSeconds(5))).isEqualTo("gpuflow-host\n");
		wg.reconciler.start();

		// What `nft flush ruleset` does to the agent's table, without touching anyone else's.
		deleteTable();
		Duration deletedFor = awaitRestored();
		assertThat(deletedFor).isLessThan(INTERVAL.plusSeconds(1));
		assertThat(renterA.tcpProbe(wg.ip(3), 9, PROBE)).isEqualTo(Reach.NO_ANSWER);

		// A hand edit: the forward chain's drop becomes an accept.
		String listing = RenterNamespace.sh("nft", "-a", "list", "chain", "inet", wg.wireGuard.nftTable(), "forward");
		String handle = listing.lines()
			.filter(line -> line.contains("iifname \"" + wg.name + "\" counter"))
			.map(line -> line.substring(line.lastIndexOf("# handle ") + 9).strip())
			.findFirst()
			.orElseThrow();
		RenterNamespace.sh("nft", "replace", "rule", "inet", wg.wireGuard.nftTable(), "forward", "handle", handle, "iifname",
				wg.name, "accept");
		Duration editedFor = awaitRestored();
		assertThat(editedFor).isLessThan(INTERVAL.plusSeconds(1));
		assertThat(renterA.tcpProbe(wg.ip(3), 9, PROBE)).isEqualTo(Reach.NO_ANSWER);
		assertThat(renterB.tcpProbe(wg.ip(2), 9, PROBE)).isEqualTo(Reach.NO_ANSWER);
		assertThat(wg.meters.get("gpuflow.reconcile.drift.repairs").tag("kind", "firewall").counter().count()).isEqualTo(2);
	}

	private Duration awaitRestored() throws InterruptedException {
		long start = System.nanoTime();
		long deadline = start + INTERVAL.multipliedBy(3).toNanos();
		while (!wg.wireGuard.isolationInstalled()) {
			if (System.nanoTime() > deadline) {
				throw new AssertionError("the isolation rules were not restored within " + INTERVAL.multipliedBy(3));
			}
			Thread.sleep(20);
		}
		return Duration.ofNanos(System.nanoTime() - start);
	}

}
