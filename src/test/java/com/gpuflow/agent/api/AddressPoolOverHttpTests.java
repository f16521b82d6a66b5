package com.gpuflow.agent.api;

import java.io.IOException;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.DevAccounts;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.OffsetClock;
import com.gpuflow.agent.testsupport.Ports;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.RenterNamespace;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.web3j.crypto.Credentials;

import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.jdbc.core.simple.JdbcClient;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The address pool as a renter and an auditor see it, over real HTTP against the whole agent
 * (anvil, PostgreSQL, a wireguard-go interface, its reconciler) with a clock the test moves: a /29
 * holds five renters; the sixth confirmed rental waits for an address and says so without a 5xx; an
 * ended rental's address rests ten minutes of the agent's clock before the waiting rental gets it;
 * the lease history keeps both holders.
 */
@ExtendWith(OutputCaptureExtension.class)
class AddressPoolOverHttpTests {

	static final String HOST = RentalMarketClient.hostId("address-pool-host");

	static final String TOKEN = "address-pool-audit-token-0123456789";

	static final int RENTER = 1;

	static final Credentials WALLET = DevAccounts.credentials(RENTER);

	final ObjectMapper json = new ObjectMapper();

	final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

	final List<AutoCloseable> cleanup = new ArrayList<>();

	String wgInterface;

	String api;

	String management;

	@AfterEach
	void cleanUp() {
		RenterNamespace.closeAllInReverse(cleanup);
		if (wgInterface != null) {
			RenterNamespace.removeAgentInterface(wgInterface);
		}
	}

	@Test
	void aFullPoolMakesTheNextRentalWaitAndAReleasedAddressRestsTenMinutesOfTheAgentsClock(CapturedOutput output)
			throws Exception {
		AnvilNode chain = track(AnvilNode.startDefault());
		RentalMarketClient market = RentalMarketClient.deploy(chain);
		market.registerHost(0, HOST, BigInteger.ONE);

		TestDatabase.Connection database = TestDatabase.create();
		int subnet = ThreadLocalRandom.current().nextInt(256);
		String prefix = "10.214." + subnet + ".";
		String cidr = prefix + "0/29";
		wgInterface = RenterNamespace.uniqueName() + "p";
		Path keyDirectory = Files.createTempDirectory("gpuflow-pool-key");
		Map<String, Object> properties = AgentContext.properties(database, chain, market.address(), HOST);
		AgentContext.withWireGuard(properties, wgInterface, cidr, Ports.udp(),
				keyDirectory.resolve("server.key"));
		properties.put("reconcile.interval", "200ms");
		properties.put("audit-token", TOKEN);
		OffsetClock clock = new OffsetClock();
		AgentContext agent = track(AgentContext.start(properties, clock));
		// Closed before the agent, so its graceful shutdown does not wait for this client's idle connections.
		track(http::shutdownNow);
		api = "http://127.0.0.1:" + agent.httpPort();
		management = "http://127.0.0.1:" + agent.managementPort();
		JdbcClient jdbc = agent.jdbc();

		// A /29 has five renter addresses (.2 to .6; .1 is the server's): five rentals fill it.
		List<BigInteger> holders = new ArrayList<>();
		for (int i = 0; i < 5; i++) {
			holders.add(market.rent(RENTER, HOST, 3_600, RentalMarketClient.randomBytes32()).rentalId());
		}
		for (BigInteger holder : holders) {
			Eventually.await(Duration.ofSeconds(10), "rental " + holder + " has its peer",
					() -> peerIps().contains(ip(jdbc, holder)));
		}
		// The sixth is confirmed but over the pool. Its key is generated, so it must also survive the wait.
		BigInteger waiting = market.rent(RENTER, HOST, 3_600, RentalMarketClient.ZERO_KEY).rentalId();
		Eventually.await(Duration.ofSeconds(10), "the sixth rental is confirmed and marked as waiting for an address",
				() -> Boolean.TRUE.equals(jdbc.sql("select pool_exhausted from sessions where rental_id = ?")
					.param(new java.math.BigDecimal(waiting))
					.query(Boolean.class)
					.optional()
					.orElse(false)));

		// What the renter sees: the SPEC's states have no "waiting", so it is ACTIVE (confirmed and paid
		// for), and the config route refuses with 409 not_active saying why, never a 5xx.
		assertThat(getJson("/v1/rentals/" + waiting).get("state").asText()).isEqualTo("ACTIVE");
		HttpResponse<String> refused = fetchConfig(waiting);
		assertThat(refused.statusCode()).isEqualTo(409);
		JsonNode problem = json.readTree(refused.body());
		assertThat(problem.get("error").asText()).isEqualTo("not_active");
		assertThat(problem.get("message").asText()).contains("address pool is full");
		// What an operator sees: the metric, the log line, the audit item without a tunnel address, no peer.
		Eventually.await(Duration.ofSeconds(10), "the waiting gauge counts the rental",
				() -> metric("gpuflow_sessions_waiting_for_address") == 1.0);
		assertThat(metric("gpuflow_address_pool_exhausted_total")).isPositive();
		assertThat(metric("gpuflow_address_pool_capacity")).isEqualTo(5.0);
		assertThat(output.getOut()).contains("Tunnel address pool " + cidr + " is full");
		JsonNode item = auditItem(waiting);
		assertThat(item.get("state").asText()).isEqualTo("ACTIVE");
		assertThat(item.get("tunnelIp").isNull()).isTrue();
		assertThat(item.get("peerAddedAt").isNull()).isTrue();
		assertThat(peerIps()).hasSize(5);

		// The renter of the second address ends the rental: its peer goes, and the address starts resting.
		BigInteger ended = holders.get(1);
		String released = ip(jdbc, ended);
		market.endRental(RENTER, ended);
		Eventually.await(Duration.ofSeconds(10), "the ended rental is ENDED",
				() -> getJson("/v1/rentals/" + ended).get("state").asText().equals("ENDED"));
		Eventually.await(Duration.ofSeconds(5), "the ended rental's peer is removed", () -> !peerIps().contains(released));
		Instant releasedAt = jdbc.sql("select held_to from leases l join sessions s on s.id = l.session_id"
				+ " where s.rental_id = ?").param(new java.math.BigDecimal(ended)).query(java.sql.Timestamp.class).single()
			.toInstant();

		// Many reconcile passes (200 ms apart) just before the rest is over: still nobody gets the address.
		moveTo(clock, releasedAt.plus(Duration.ofMinutes(10)).minusSeconds(5));
		Eventually.never(Duration.ofSeconds(2), "the released address is handed out before 10 minutes",
				() -> ip(jdbc, waiting) != null || peerIps().contains(released));
		assertThat(fetchConfig(waiting).statusCode()).isEqualTo(409);

		// Past the ten minutes the next pass gives it to the waiting rental, whose key was kept.
		moveTo(clock, releasedAt.plus(Duration.ofMinutes(10)).plusSeconds(1));
		Eventually.await(Duration.ofSeconds(5), "the waiting rental gets the rested address",
				() -> released.equals(ip(jdbc, waiting)));
		Eventually.await(Duration.ofSeconds(5), "its peer is live", () -> peerIps().contains(released));
		HttpResponse<String> config = fetchConfig(waiting);
		assertThat(config.statusCode()).isEqualTo(200);
		assertThat(config.body()).contains("Address = " + released + "/32\n").doesNotContain("<your private key>");
		assertThat(fetchConfig(waiting).statusCode()).as("a generated key is served once").isEqualTo(410);
		Eventually.await(Duration.ofSeconds(10), "the waiting gauge is back to zero",
				() -> metric("gpuflow_sessions_waiting_for_address") == 0.0);
		assertThat(jdbc.sql("select pool_exhausted from sessions where rental_id = ?")
			.param(new java.math.BigDecimal(waiting)).query(Boolean.class).single()).isFalse();

		// The lease history keeps both holders, the second starting no earlier than ten minutes after the first.
		JsonNode leases = getJson("/v1/audit/ip-history?ip=" + released).get("leases");
		assertThat(leases).hasSize(2);
		assertThat(leases.get(0).get("rentalId").asText()).isEqualTo(ended.toString());
		assertThat(leases.get(1).get("rentalId").asText()).isEqualTo(waiting.toString());
		assertThat(leases.get(1).get("to").isNull()).isTrue();
		Instant firstTo = Instant.parse(leases.get(0).get("to").asText());
		Instant secondFrom = Instant.parse(leases.get(1).get("from").asText());
		assertThat(Duration.between(firstTo, secondFrom)).isGreaterThanOrEqualTo(Duration.ofMinutes(10));
		// The same from the auditors' SQL view.
		List<String> view = jdbc.sql("""
				select rental_id::text || ' ' || (held_to is null)::text || ' '
				       || coalesce((lead(held_from) over (order by held_from) - held_to >= interval '10 minutes')::text, '-')
				from audit_ip_history where host_id = ? and ip = ? order by held_from""")
			.params(HOST, released)
			.query(String.class)
			.list();
		assertThat(view).containsExactly(ended + " false true", waiting + " true -");
	}

	static void moveTo(OffsetClock clock, Instant target) {
		clock.advance(Duration.between(clock.instant(), target));
	}

	<T extends AutoCloseable> T track(T resource) {
		cleanup.add(resource);
		return resource;
	}

	static String ip(JdbcClient jdbc, BigInteger rentalId) {
		return jdbc.sql("select host(tunnel_ip) from sessions where rental_id = ? and state <> 'REORGED_OUT'")
			.param(new java.math.BigDecimal(rentalId))
			.query(String.class)
			.optional()
			.orElse(null);
	}

	List<String> peerIps() {
		List<String> ips = new ArrayList<>();
		for (JsonNode peer : getJson("/v1/peers").path("peers")) {
			for (JsonNode allowed : peer.path("allowedIps")) {
				ips.add(allowed.asText().replace("/32", ""));
			}
		}
		return ips;
	}

	JsonNode auditItem(BigInteger rentalId) {
		for (JsonNode item : getJson("/v1/audit/sessions?limit=100").get("items")) {
			if (item.get("rentalId").asText().equals(rentalId.toString())) {
				return item;
			}
		}
		throw new AssertionError("no audit item for rental " + rentalId);
	}

	double metric(String name) {
		String text = send(HttpRequest.newBuilder(URI.create(management + "/actuator/prometheus")).GET()).body();
		return text.lines()
			.filter(line -> line.startsWith(name + "{") || line.startsWith(name + " "))
			.mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
			.sum();
	}

	HttpResponse<String> fetchConfig(BigInteger rentalId) throws IOException {
		HttpResponse<String> challenge = send(
				HttpRequest.newBuilder(URI.create(api + "/v1/rentals/" + rentalId + "/challenge")).POST(HttpRequest.BodyPublishers.noBody()));
		assertThat(challenge.statusCode()).as(challenge.body()).isEqualTo(200);
		String message = json.readTree(challenge.body()).get("message").asText();
		byte[] body = json.writeValueAsBytes(Map.of("message", message, "signature", Signatures.personalSign(WALLET, message)));
		return send(HttpRequest.newBuilder(URI.create(api + "/v1/rentals/" + rentalId + "/config"))
			.header("Content-Type", "application/json")
			.POST(HttpRequest.BodyPublishers.ofByteArray(body)));
	}

	JsonNode getJson(String path) {
		HttpResponse<String> response = send(HttpRequest.newBuilder(URI.create(api + path))
			.header("Authorization", "Bearer " + TOKEN)
			.GET());
		assertThat(response.statusCode()).as(path + ": " + response.body()).isEqualTo(200);
		try {
			return json.readTree(response.body());
		}
		catch (IOException e) {
			throw new AssertionError(e);
		}
	}

	HttpResponse<String> send(HttpRequest.Builder request) {
		try {
			return http.send(request.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
		}
		catch (IOException e) {
			throw new AssertionError(e);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new AssertionError(e);
		}
	}

}
