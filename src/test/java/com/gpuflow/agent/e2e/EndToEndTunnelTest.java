package com.gpuflow.agent.e2e;

import java.io.IOException;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.DevAccounts;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.OffsetClock;
import com.gpuflow.agent.testsupport.Ports;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.RenterNamespace;
import com.gpuflow.agent.testsupport.TcpProxy;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.web3j.crypto.Sign;

import static org.assertj.core.api.Assertions.assertThat;

import org.springframework.util.FileSystemUtils;

/**
 * A renter's whole path on real components: anvil, PostgreSQL (behind a proxy the test can cut),
 * the agent with a wireguard-go interface, renters in their own network namespaces bringing the
 * tunnel up with the config exactly as served, and a service of the test's own on the server's
 * tunnel address.
 */
class EndToEndTunnelTest {

	static final String HOST = RentalMarketClient.hostId("e2e-host");

	static final Duration PROMISE = Duration.ofSeconds(2);

	final ObjectMapper json = new ObjectMapper();

	final HttpClient http = HttpClient.newHttpClient();

	final List<AutoCloseable> cleanup = new ArrayList<>();

	String wgInterface;

	String forwardingBefore;

	@AfterEach
	void cleanUp() throws Exception {
		RenterNamespace.closeAllInReverse(cleanup);
		if (wgInterface != null) {
			RenterNamespace.removeAgentInterface(wgInterface);
		}
		if (forwardingBefore != null) {
			Files.writeString(Path.of("/proc/sys/net/ipv4/ip_forward"), forwardingBefore);
		}
	}

	<T extends AutoCloseable> T track(T resource) {
		cleanup.add(resource);
		return resource;
	}

	@Test
	void aRenterPaysConnectsReachesTheHostAndIsCutWhenTheRentalEnds() throws Exception {
		AnvilNode chain = track(AnvilNode.startDefault());
		RentalMarketClient market = RentalMarketClient.deploy(chain);
		market.registerHost(0, HOST, BigInteger.ONE);
		RenterNamespace alice = track(RenterNamespace.create());
		RenterNamespace bob = track(RenterNamespace.create());
		alice.routeViaHost();
		bob.routeViaHost();

		TestDatabase.Connection database = TestDatabase.create();
		TcpProxy databaseProxy = track(database.proxy());
		int subnet = ThreadLocalRandom.current().nextInt(256);
		String cidr = "10.213." + subnet + ".0/24";
		String serverIp = "10.213." + subnet + ".1";
		int wgPort = Ports.udp();
		wgInterface = RenterNamespace.uniqueName() + "s";
		Path keyDirectory = Files.createTempDirectory("gpuflow-e2e-key");

		Map<String, Object> properties = AgentContext.properties(database, chain, market.address(), HOST);
		properties.put("spring.datasource.url", database.urlThrough(databaseProxy));
		AgentContext.withWireGuard(properties, wgInterface, cidr, wgPort, keyDirectory.resolve("server.key"));
		properties.put("wg.endpoint", alice.hostAddress() + ":" + wgPort);
		properties.put("reconcile.interval", "1s");
		properties.put("audit-token", "e2e-audit-token-0123456789");
		OffsetClock clock = new OffsetClock();
		AgentContext agent = track(AgentContext.start(properties, clock));
		String api = "http://127.0.0.1:" + agent.httpPort();
		String management = "http://127.0.0.1:" + agent.managementPort();

		TunnelService service = track(new TunnelService(serverIp));

		// Alice pays with a zero key: the agent generates her pair and serves it once.
		var aliceRental = market.rent(1, HOST, 3_600, RentalMarketClient.ZERO_KEY);
		long paidAt = System.nanoTime();
		Eventually.await(Duration.ofSeconds(10), "alice's rental active", () -> state(api, aliceRental.rentalId()).equals("ACTIVE"));
		String aliceConfig = fetchConfig(api, aliceRental.rentalId(), 1);
		String aliceIp = RenterNamespace.configValue(aliceConfig, "Address").replace("/32", "");
		Eventually.await(PROMISE, "alice's peer on the interface", () -> peers().contains(RenterNamespace.configValue(aliceConfig, "PrivateKey")
			.transform(WireGuardKeys::publicKeyOf)));
		System.out.printf("payment to peer live: %d ms%n", (System.nanoTime() - paidAt) / 1_000_000);
		assertThat(wgShow("allowed-ips")).contains(aliceIp + "/32");
		assertThat(wgShow("persistent-keepalive")).contains("25");

		alice.connectWithConfig(aliceConfig);
		Eventually.await(Duration.ofSeconds(10), "alice reaches the GPU host's service through the tunnel",
				() -> read(alice, serverIp, service.port()).contains("hello from the GPU host"));

		// Bob puts his own public key on chain; his config carries a placeholder he fills in.
		var bobRental = market.rent(2, HOST, 3_600, "0x" + HexFormat.of().formatHex(WireGuardKeys.decode32(bob.publicKey())));
		Eventually.await(Duration.ofSeconds(10), "bob's rental active", () -> state(api, bobRental.rentalId()).equals("ACTIVE"));
		String bobConfig = fetchConfig(api, bobRental.rentalId(), 2);
		assertThat(bobConfig).contains("PrivateKey = <your private key>");
		bob.connectWithConfig(bobConfig);
		String bobIp = RenterNamespace.configValue(bobConfig, "Address").replace("/32", "");
		Eventually.await(Duration.ofSeconds(10), "bob reaches the GPU host's service",
				() -> read(bob, serverIp, service.port()).contains("hello from the GPU host"));

		// Renters cannot reach each other, even when bob widens his side and the host forwards.
		forwardingBefore = Files.readString(Path.of("/proc/sys/net/ipv4/ip_forward")).trim();
		Files.writeString(Path.of("/proc/sys/net/ipv4/ip_forward"), "1");
		String serverKey = RenterNamespace.configValue(bobConfig, "PublicKey");
		bob.widenAllowedIps(serverKey, cidr);
		assertThat(bob.tcpProbe(aliceIp, 9, Duration.ofSeconds(2))).isEqualTo(RenterNamespace.Reach.NO_ANSWER);
		assertThat(read(bob, serverIp, service.port())).as("bob still reaches the host").contains("hello");

		// Hand edits are repaired on the next pass: a deleted peer comes back, a stranger goes.
		String alicePublic = WireGuardKeys.publicKeyOf(RenterNamespace.configValue(aliceConfig, "PrivateKey"));
		String stranger = WireGuardKeys.generate().publicKey();
		RenterNamespace.sh("wg", "set", wgInterface, "peer", alicePublic, "remove");
		RenterNamespace.sh("wg", "set", wgInterface, "peer", stranger, "allowed-ips", "10.213." + subnet + ".250/32");
		Eventually.await(Duration.ofSeconds(3), "hand edits repaired",
				() -> peers().contains(alicePublic) && !peers().contains(stranger));
		// Alice's side still holds the old session keys: WireGuard re-handshakes once it sees no reply.
		Eventually.await(Duration.ofSeconds(40), "alice's tunnel works again after the repair",
				() -> read(alice, serverIp, service.port()).contains("hello from the GPU host"));

		// Database unreachable: the interface keeps its peers, and the tunnel keeps working.
		databaseProxy.cut();
		Eventually.await(Duration.ofSeconds(15), "a reconcile pass noticed the database is down",
				() -> health(management).path("components").path("wireguard").toString().contains("DEGRADED"));
		assertThat(peers()).contains(alicePublic, bob.publicKey());
		assertThat(read(alice, serverIp, service.port())).contains("hello");
		databaseProxy.restore();
		Eventually.await(Duration.ofSeconds(15), "converged again after the database returned",
				() -> health(management).path("components").path("wireguard").path("status").asText().equals("UP"));

		// Alice ends her rental on chain: her peer is gone within 2 s and her tunnel is cut.
		market.endRental(1, aliceRental.rentalId());
		long endedAt = System.nanoTime();
		Eventually.await(PROMISE, "alice's peer removed after RentalEnded", () -> !peers().contains(alicePublic));
		System.out.printf("RentalEnded to peer removed: %d ms%n", (System.nanoTime() - endedAt) / 1_000_000);
		assertThat(alice.tcpProbe(serverIp, service.port(), Duration.ofSeconds(2))).isEqualTo(RenterNamespace.Reach.NO_ANSWER);
		assertThat(state(api, aliceRental.rentalId())).isEqualTo("ENDED");

		// Bob's time runs out: chain and agent clocks move past endsAt, no transaction needed.
		chain.increaseTime(3_600);
		chain.mine(1);
		clock.advance(Duration.ofSeconds(3_600));
		long expiredAt = System.nanoTime();
		Eventually.await(PROMISE, "bob's peer removed at endsAt", () -> !peers().contains(bob.publicKey()));
		System.out.printf("endsAt passed to peer removed: %d ms%n", (System.nanoTime() - expiredAt) / 1_000_000);
		assertThat(state(api, bobRental.rentalId())).isEqualTo("EXPIRED");
		assertThat(bob.tcpProbe(serverIp, service.port(), Duration.ofSeconds(2))).isEqualTo(RenterNamespace.Reach.NO_ANSWER);

		List<String> aliceEvents = new ArrayList<>();
		auditEvents(api, aliceRental.rentalId()).forEach(e -> aliceEvents.add(e.path("kind").asText()));
		assertThat(aliceEvents).contains("created", "confirmed", "peer_added", "config_delivered", "key_destroyed",
				"handshake_first", "ended", "peer_removed");
		// The server key and whatever the agent keeps beside it (the challenge secret, a TLS certificate).
		FileSystemUtils.deleteRecursively(keyDirectory);
	}

	String fetchConfig(String api, BigInteger rentalId, int account) throws Exception {
		JsonNode challenge = json.readTree(send(HttpRequest.newBuilder(URI.create(api + "/v1/rentals/" + rentalId + "/challenge"))
			.POST(HttpRequest.BodyPublishers.noBody())
			.build(), 200));
		String message = challenge.path("message").asText();
		Sign.SignatureData signature = Sign.signPrefixedMessage(message.getBytes(StandardCharsets.UTF_8),
				DevAccounts.credentials(account).getEcKeyPair());
		String hex = "0x" + HexFormat.of().formatHex(signature.getR()) + HexFormat.of().formatHex(signature.getS())
				+ HexFormat.of().formatHex(signature.getV());
		String body = json.writeValueAsString(Map.of("message", message, "signature", hex));
		return send(HttpRequest.newBuilder(URI.create(api + "/v1/rentals/" + rentalId + "/config"))
			.header("Content-Type", "application/json")
			.POST(HttpRequest.BodyPublishers.ofString(body))
			.build(), 200);
	}

	String state(String api, BigInteger rentalId) {
		try {
			HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(api + "/v1/rentals/" + rentalId)).build(),
					HttpResponse.BodyHandlers.ofString());
			return response.statusCode() == 200 ? json.readTree(response.body()).path("state").asText() : "HTTP " + response.statusCode();
		}
		catch (IOException | InterruptedException e) {
			return e.toString();
		}
	}

	JsonNode health(String management) {
		try {
			return json.readTree(http.send(HttpRequest.newBuilder(URI.create(management + "/actuator/health")).build(),
					HttpResponse.BodyHandlers.ofString()).body());
		}
		catch (IOException | InterruptedException e) {
			return json.createObjectNode();
		}
	}

	JsonNode auditEvents(String api, BigInteger rentalId) throws Exception {
		return json.readTree(send(HttpRequest.newBuilder(URI.create(api + "/v1/audit/sessions/" + rentalId + "/events"))
			.header("Authorization", "Bearer e2e-audit-token-0123456789")
			.build(), 200)).path("events");
	}

	String send(HttpRequest request, int expected) throws Exception {
		HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
		assertThat(response.statusCode()).as(response.body()).isEqualTo(expected);
		return response.body();
	}

	String peers() {
		return wgShow("peers");
	}

	String wgShow(String what) {
		return RenterNamespace.run(List.of("wg", "show", wgInterface, what), Duration.ofSeconds(5)).output();
	}

	static String read(RenterNamespace renter, String host, int port) {
		try {
			return renter.tcpRead(host, port, Duration.ofSeconds(2));
		}
		catch (IllegalStateException e) {
			return e.getMessage();
		}
	}

	/** The GPU host's service: answers every connection on the server's tunnel address. */
	static final class TunnelService implements AutoCloseable {

		private final ServerSocket socket;

		TunnelService(String address) throws Exception {
			ServerSocket bound = null;
			long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
			while (bound == null) {
				try {
					// The address exists once the agent has brought its interface up.
					bound = new ServerSocket();
					bound.bind(new InetSocketAddress(InetAddress.getByName(address), 0));
				}
				catch (IOException e) {
					bound.close();
					bound = null;
					if (System.nanoTime() > deadline) {
						throw e;
					}
					Thread.sleep(100);
				}
			}
			this.socket = bound;
			Thread.ofVirtual().start(this::serve);
		}

		int port() {
			return socket.getLocalPort();
		}

		private void serve() {
			while (!socket.isClosed()) {
				try (Socket client = socket.accept(); OutputStream out = client.getOutputStream()) {
					out.write("hello from the GPU host\n".getBytes(StandardCharsets.UTF_8));
				}
				catch (IOException e) {
					// closed
				}
			}
		}

		@Override
		public void close() throws IOException {
			socket.close();
		}

	}

}
