package com.gpuflow.agent.e2e;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.Ports;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.RenterNamespace;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import org.springframework.util.FileSystemUtils;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Renter keys are public on chain, so anyone can rent with the server's own key or with another
 * renter's. On the real agent (anvil, PostgreSQL, wireguard-go) such a rental is refused its peer,
 * and the victim keeps exactly its own /32 until its own end, with health UP throughout.
 */
class KeyCollisionTest {

	static final String HOST = RentalMarketClient.hostId("key-collision-host");

	static final String TOKEN = "key-collision-audit-token-0123";

	final ObjectMapper json = new ObjectMapper();

	final HttpClient http = HttpClient.newHttpClient();

	final List<AutoCloseable> cleanup = new ArrayList<>();

	String wgInterface;

	@AfterEach
	void cleanUp() throws Exception {
		RenterNamespace.closeAllInReverse(cleanup);
		if (wgInterface != null) {
			RenterNamespace.removeAgentInterface(wgInterface);
		}
	}

	@Test
	void theServerKeyAndALiveRentersKeyAreRejectedAndTheVictimKeepsExactlyItsAddress() throws Exception {
		AnvilNode chain = AnvilNode.startDefault();
		cleanup.add(chain);
		RentalMarketClient market = RentalMarketClient.deploy(chain);
		market.registerHost(0, HOST, BigInteger.ONE);
		TestDatabase.Connection database = TestDatabase.create();
		int subnet = ThreadLocalRandom.current().nextInt(256);
		int wgPort = Ports.udp();
		wgInterface = RenterNamespace.uniqueName() + "k";
		Path keyDirectory = Files.createTempDirectory("gpuflow-collision-key");
		cleanup.add(() -> FileSystemUtils.deleteRecursively(keyDirectory));
		Map<String, Object> properties = AgentContext.properties(database, chain, market.address(), HOST);
		AgentContext.withWireGuard(properties, wgInterface, "10.214." + subnet + ".0/24", wgPort, keyDirectory.resolve("server.key"));
		properties.put("reconcile.interval", "1s");
		properties.put("audit-token", TOKEN);
		AgentContext agent = AgentContext.start(properties);
		cleanup.add(agent);
		String api = "http://127.0.0.1:" + agent.httpPort();
		String management = "http://127.0.0.1:" + agent.managementPort();
		String serverKey = WireGuardKeys.publicKeyOf(Files.readString(keyDirectory.resolve("server.key")).trim());

		String victimKey = WireGuardKeys.generate().publicKey();
		BigInteger victim = market.rent(1, HOST, 600, hex(victimKey)).rentalId();
		Eventually.await(Duration.ofSeconds(10), "the victim's peer", () -> wg("allowed-ips").contains(victimKey));

		BigInteger serverKeyThief = market.rent(2, HOST, 600, hex(serverKey)).rentalId();
		BigInteger victimKeyThief = market.rent(3, HOST, 60, hex(victimKey)).rentalId();
		for (BigInteger thief : List.of(serverKeyThief, victimKeyThief)) {
			Eventually.await(Duration.ofSeconds(10), "rental " + thief + " confirmed",
					() -> rental(api, thief).path("state").asText().equals("ACTIVE"));
			JsonNode view = rental(api, thief);
			assertThat(view.path("problem").asText()).as("rental %s", thief).isEqualTo("key_rejected");
			HttpResponse<String> config = post(api + "/v1/rentals/" + thief + "/config",
					"{\"message\":\"x\",\"signature\":\"0x" + "00".repeat(65) + "\"}");
			assertThat(config.statusCode()).isEqualTo(409);
			assertThat(json.readTree(config.body()).path("error").asText()).isEqualTo("key_rejected");
			assertThat(kinds(api, thief)).contains("key_rejected").doesNotContain("peer_added");
		}

		// Let passes run: the interface must hold the victim's key with its one /32, and no server key.
		Thread.sleep(2_500);
		String allowed = wg("allowed-ips");
		assertThat(allowed.lines().filter(line -> line.startsWith(victimKey))).singleElement()
			.satisfies(line -> assertThat(line.split("\t")[1].trim()).isEqualTo(victimIpOf(agent, victim) + "/32"));
		assertThat(allowed).doesNotContain(serverKey);
		assertThat(health(management)).isEqualTo("UP");

		// The thief's rental ends first: the victim's peer stays; then the victim's own end removes it.
		market.endRental(3, victimKeyThief);
		Eventually.await(Duration.ofSeconds(10), "the thief's rental ended",
				() -> rental(api, victimKeyThief).path("state").asText().equals("ENDED"));
		Thread.sleep(1_500);
		assertThat(wg("allowed-ips")).contains(victimKey);
		market.endRental(1, victim);
		Eventually.await(Duration.ofSeconds(5), "the victim's peer removed at its own end",
				() -> !wg("allowed-ips").contains(victimKey));
		// The removal is recorded right after the device accepted it.
		Eventually.await(Duration.ofSeconds(5), "peer_removed in the victim's trail",
				() -> kinds(api, victim).contains("peer_removed"));
		assertThat(kinds(api, victim)).contains("peer_added", "ended");
		assertThat(kinds(api, victimKeyThief)).doesNotContain("peer_removed");
		assertThat(health(management)).isEqualTo("UP");
	}

	String victimIpOf(AgentContext agent, BigInteger rentalId) {
		return agent.jdbc()
			.sql("select host(tunnel_ip) from sessions where rental_id = ? and state <> 'REORGED_OUT'")
			.param(new BigDecimal(rentalId))
			.query(String.class)
			.single();
	}

	static String hex(String base64Key) {
		return "0x" + HexFormat.of().formatHex(Base64.getDecoder().decode(base64Key));
	}

	String wg(String what) {
		return RenterNamespace.run(List.of("wg", "show", wgInterface, what), Duration.ofSeconds(5)).output();
	}

	JsonNode rental(String api, BigInteger id) {
		try {
			HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(api + "/v1/rentals/" + id)).build(),
					HttpResponse.BodyHandlers.ofString());
			return response.statusCode() == 200 ? json.readTree(response.body()) : json.createObjectNode();
		}
		catch (IOException | InterruptedException e) {
			return json.createObjectNode();
		}
	}

	HttpResponse<String> post(String url, String body) throws Exception {
		return http.send(HttpRequest.newBuilder(URI.create(url))
			.header("Content-Type", "application/json")
			.POST(HttpRequest.BodyPublishers.ofString(body))
			.build(), HttpResponse.BodyHandlers.ofString());
	}

	List<String> kinds(String api, BigInteger rentalId) {
		JsonNode events;
		try {
			events = json.readTree(http.send(HttpRequest.newBuilder(URI.create(api + "/v1/audit/sessions/" + rentalId
					+ "/events")).header("Authorization", "Bearer " + TOKEN).build(), HttpResponse.BodyHandlers.ofString())
				.body());
		}
		catch (IOException | InterruptedException e) {
			throw new IllegalStateException(e);
		}
		List<String> kinds = new ArrayList<>();
		events.path("events").forEach(event -> kinds.add(event.path("kind").asText()));
		return kinds;
	}

	String health(String management) throws Exception {
		return json.readTree(http.send(HttpRequest.newBuilder(URI.create(management + "/actuator/health")).build(),
				HttpResponse.BodyHandlers.ofString()).body()).path("components").path("wireguard").path("status").asText();
	}

}
