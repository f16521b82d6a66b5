package com.gpuflow.agent.faults;

import java.io.IOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import com.fasterxml.jackson.databind.JsonNode;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.AnyCertificate;
import com.gpuflow.agent.testsupport.DevAccounts;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.ProjectPaths;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.web3j.crypto.Credentials;
import org.web3j.crypto.Sign;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The renter surface as it faces the internet, against the agent as a process with its defaults:
 * HTTPS with a self-signed certificate made beside the server key, the endpoint and pin on a real
 * anvil chain, a renter who trusts only the pin (curl --pinnedpubkey), the per-address rate limit,
 * and challenges a flood cannot take away.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PublicRenterSurfaceTest {

	static FaultRig rig;

	static AgentProcess agent;

	static Path serverKey;

	static final HttpClient HTTP = HttpClient.newBuilder().sslContext(AnyCertificate.context())
		.connectTimeout(Duration.ofSeconds(5)).build();

	@BeforeAll
	static void startAgent() {
		rig = new FaultRig(AnvilNode.startDefault());
		Map<String, String> env = rig.environment(false);
		env.remove("GPUFLOW_TLS");
		env.remove("GPUFLOW_RATE_LIMIT");
		env.put("GPUFLOW_TLS_PIN_CHECK_MS", "300");
		serverKey = Path.of(env.get("WG_PRIVATE_KEY_FILE"));
		agent = rig.agent(env).start();
	}

	@AfterAll
	static void stop() {
		if (rig != null) {
			rig.close();
		}
	}

	@Test
	@Order(1)
	void anUnpublishedOrWrongEndpointIsAHealthDetailAndOneLogLineNeverDown() throws Exception {
		assertThat(agent.baseUrl()).startsWith("https://");
		Eventually.await(Duration.ofSeconds(20), "tlsPin not_published", () -> "not_published".equals(onChain()));
		assertThat(health().path("status").asText()).isEqualTo("UP");

		rig.market.setHostEndpoint(DevAccounts.PROVIDER, rig.host, agent.baseUrl(), "0x" + "ab".repeat(32));
		Eventually.await(Duration.ofSeconds(20), "tlsPin mismatch", () -> "mismatch".equals(onChain()));
		JsonNode tlsPin = health().path("components").path("tlsPin");
		assertThat(health().path("status").asText()).isEqualTo("UP");
		assertThat(tlsPin.path("details").path("pinDiffers").asBoolean()).isTrue();
		assertThat(tlsPin.path("details").path("urlDiffers").asBoolean()).isFalse();
		Thread.sleep(1_500); // several passes of the 300 ms check
		assertThat(occurrences(agent.log(), "the chain publishes this host's endpoint as url")).isEqualTo(1);

		publishOwnEndpoint();
		Eventually.await(Duration.ofSeconds(20), "tlsPin matches", () -> "matches".equals(onChain()));
		assertThat(health().path("components").path("tlsPin").path("details").path("pin").asText())
			.isEqualTo(opensslPinHex());
	}

	@Test
	@Order(2)
	void theOnChainPinFetchesAConfigOverHttpsAWrongPinFailsAndPlainHttpIsRefused() throws Exception {
		publishOwnEndpoint();
		BigInteger rentalId = rentAndWaitForAddress(1);
		// What a renter does, as the README says: read url and pin from the chain with cast, then pin curl to it.
		String[] published = run(List.of(ProjectPaths.cast().toString(), "call", rig.market.address(),
				"hostEndpoint(bytes32)(string,bytes32)", rig.host, "--rpc-url", rig.chain.rpcUrl())).stdout().trim().split("\n");
		String url = published[0].replace("\"", "").trim();
		String pin = Base64.getEncoder().encodeToString(HexFormat.of().parseHex(published[1].trim().substring(2)));
		assertThat(url).isEqualTo(agent.baseUrl());
		String pinned = "sha256//" + pin;

		Run challenge = curl(pinned, "-X", "POST", url + "/v1/rentals/" + rentalId + "/challenge");
		assertThat(challenge.exit()).as(challenge.stderr()).isZero();
		String message = FaultRig.JSON.readTree(challenge.stdout()).path("message").asText();
		String body = FaultRig.JSON.writeValueAsString(Map.of("message", message, "signature",
				sign(DevAccounts.credentials(1), message)));
		Run config = curl(pinned, "-X", "POST", "-H", "Content-Type: application/json", "--data", body,
				url + "/v1/rentals/" + rentalId + "/config");
		assertThat(config.exit()).as(config.stderr()).isZero();
		assertThat(config.stdout()).startsWith("[Interface]\nPrivateKey = ").contains("[Peer]");

		Run wrongPin = curl("sha256//" + Base64.getEncoder().encodeToString(new byte[32]), url + "/v1/rentals/" + rentalId);
		assertThat(wrongPin.exit()).as("curl with a wrong pin").isEqualTo(90);
		assertThat(wrongPin.stdout()).isEmpty();

		Run plain = run(List.of("curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
				"http://127.0.0.1:" + agent.httpPort() + "/v1/rentals/" + rentalId));
		assertThat(plain.exit()).as("plain HTTP to the TLS port: " + plain.stderr()).isNotZero();
		assertThat(plain.stdout()).isEqualTo("000");
	}

	@Test
	@Order(3)
	void aChallengeSurvivesTwoThousandChallengesFromOthersAndASecondRenterIsServedDuringTheFlood() throws Exception {
		BigInteger victim = rentAndWaitForAddress(1);
		BigInteger other = rentAndWaitForAddress(2);
		String victimMessage;
		try (RawHttps renter = new RawHttps(InetAddress.getByName("127.0.0.3"), agent.httpPort())) {
			victimMessage = message(renter.post("/v1/rentals/" + victim + "/challenge", null));
		}
		long spentBefore = rig.count("select count(*) from spent_nonces");

		Map<Integer, AtomicInteger> spread = new ConcurrentHashMap<>();
		Map<Integer, AtomicInteger> single = new ConcurrentHashMap<>();
		CountDownLatch flooding = new CountDownLatch(1);
		AtomicInteger sent = new AtomicInteger();
		List<Future<?>> floods = new ArrayList<>();
		double singleFloodSeconds;
		RawHttps.Response otherChallenge;
		RawHttps.Response otherConfig;
		try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
			// 2,000 challenges for the victim's rental from 50 addresses, 40 each: all within their bursts
			for (int a = 1; a <= 50; a++) {
				InetAddress from = InetAddress.getByName("127.0.1." + a);
				floods.add(pool.submit(() -> flood(from, victim, 40, spread, sent, flooding)));
			}
			// and 500 as fast as one address can send them
			Future<Long> singleFlood = pool.submit(() -> {
				long started = System.nanoTime();
				flood(InetAddress.getByName("127.0.0.2"), victim, 500, single, sent, flooding);
				return System.nanoTime() - started;
			});
			floods.add(singleFlood);
			assertThat(flooding.await(30, TimeUnit.SECONDS)).isTrue();
			try (RawHttps second = new RawHttps(InetAddress.getByName("127.0.0.4"), agent.httpPort())) {
				otherChallenge = second.post("/v1/rentals/" + other + "/challenge", null);
				String message = message(otherChallenge);
				otherConfig = second.post("/v1/rentals/" + other + "/config", FaultRig.JSON.writeValueAsString(
						Map.of("message", message, "signature", sign(DevAccounts.credentials(2), message))));
			}
			int sentWhileServed = sent.get();
			for (Future<?> flood : floods) {
				flood.get(120, TimeUnit.SECONDS);
			}
			assertThat(sentWhileServed).as("flood requests sent before the second renter was served").isLessThan(2_500);
			singleFloodSeconds = singleFlood.get() / 1e9;
		}
		assertThat(otherChallenge.status()).isEqualTo(200);
		assertThat(otherConfig.status()).as(otherConfig.body()).isEqualTo(200);
		assertThat(otherConfig.body()).contains("PrivateKey = ");
		assertThat(spread.keySet()).as("statuses of the spread flood").containsExactly(200);
		assertThat(spread.get(200).get()).isEqualTo(2_000);
		assertThat(single.keySet()).as("statuses of the one-address flood").containsOnly(200, 429);
		// GPUFLOW_RATE_LIMIT's default: 20 per second after a burst of 40
		assertThat(single.getOrDefault(200, new AtomicInteger()).get()).as("served of 500 from one address in "
				+ singleFloodSeconds + " s").isLessThanOrEqualTo(40 + (int) Math.ceil(20 * singleFloodSeconds) + 1);
		assertThat(single.get(429).get()).as("429s of 500 from one address").isPositive();
		assertThat(rig.count("select count(*) from spent_nonces")).as("what the flood stored").isEqualTo(spentBefore + 1);

		try (RawHttps renter = new RawHttps(InetAddress.getByName("127.0.0.3"), agent.httpPort())) {
			RawHttps.Response config = renter.post("/v1/rentals/" + victim + "/config", FaultRig.JSON.writeValueAsString(
					Map.of("message", victimMessage, "signature", sign(DevAccounts.credentials(1), victimMessage))));
			assertThat(config.status()).as(config.body()).isEqualTo(200);
			assertThat(config.body()).contains("PrivateKey = ");
		}
	}

	@Test
	@Order(4)
	void aConfigSignatureSentToRekeyIs401() throws Exception {
		BigInteger rentalId = rentAndWaitForAddress(3);
		try (RawHttps renter = new RawHttps(InetAddress.getByName("127.0.0.5"), agent.httpPort())) {
			String message = message(renter.post("/v1/rentals/" + rentalId + "/challenge?purpose=config", null));
			String signed = FaultRig.JSON.writeValueAsString(Map.of("message", message, "signature",
					sign(DevAccounts.credentials(3), message)));
			RawHttps.Response rekey = renter.post("/v1/rentals/" + rentalId + "/rekey", signed);
			assertThat(rekey.status()).isEqualTo(401);
			assertThat(rekey.body()).contains("invalid_challenge");
			assertThat(renter.post("/v1/rentals/" + rentalId + "/config", signed).status()).as("spent by /rekey").isEqualTo(401);
			String rekeyMessage = message(renter.post("/v1/rentals/" + rentalId + "/challenge?purpose=rekey", null));
			assertThat(rekeyMessage).endsWith("- urn:gpuflow:purpose:rekey");
			RawHttps.Response rekeyed = renter.post("/v1/rentals/" + rentalId + "/rekey", FaultRig.JSON.writeValueAsString(
					Map.of("message", rekeyMessage, "signature", sign(DevAccounts.credentials(3), rekeyMessage))));
			assertThat(rekeyed.status()).as(rekeyed.body()).isEqualTo(200);
		}
	}

	// --- helpers

	private static int flood(InetAddress from, BigInteger rentalId, int requests, Map<Integer, AtomicInteger> statuses,
			AtomicInteger sent, CountDownLatch flooding) throws IOException {
		try (RawHttps client = new RawHttps(from, agent.httpPort())) {
			for (int i = 0; i < requests; i++) {
				int status = client.post("/v1/rentals/" + rentalId + "/challenge", null).status();
				statuses.computeIfAbsent(status, s -> new AtomicInteger()).incrementAndGet();
				if (sent.incrementAndGet() == 200) {
					flooding.countDown();
				}
			}
		}
		return requests;
	}

	private static BigInteger rentAndWaitForAddress(int renter) {
		BigInteger rentalId = rig.market.rent(renter, rig.host, 3_600, RentalMarketClient.ZERO_KEY).rentalId();
		Eventually.await(Duration.ofSeconds(30), "rental " + rentalId + " active with an address",
				() -> rig.count("select count(*) from sessions where rental_id = ? and state = 'ACTIVE' and tunnel_ip is not null",
						new java.math.BigDecimal(rentalId)) == 1);
		return rentalId;
	}

	private static void publishOwnEndpoint() throws Exception {
		rig.market.setHostEndpoint(DevAccounts.PROVIDER, rig.host, agent.baseUrl(), opensslPinHex());
	}

	/** The pin as openssl computes it from the certificate file beside the server key. */
	private static String opensslPinHex() throws Exception {
		Path certificate = serverKey.resolveSibling("tls.crt");
		Run pin = run(List.of("bash", "-c", "openssl x509 -in '" + certificate + "' -pubkey -noout"
				+ " | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | od -An -tx1 | tr -d ' \\n'"));
		assertThat(pin.exit()).as(pin.stderr()).isZero();
		return "0x" + pin.stdout().trim();
	}

	private static String message(RawHttps.Response challenge) throws IOException {
		assertThat(challenge.status()).as(challenge.body()).isEqualTo(200);
		return FaultRig.JSON.readTree(challenge.body()).path("message").asText();
	}

	static String sign(Credentials wallet, String message) {
		Sign.SignatureData signature = Sign.signPrefixedMessage(message.getBytes(StandardCharsets.UTF_8),
				wallet.getEcKeyPair());
		HexFormat hex = HexFormat.of();
		return "0x" + hex.formatHex(signature.getR()) + hex.formatHex(signature.getS()) + hex.formatHex(signature.getV());
	}

	private static String onChain() {
		return health().path("components").path("tlsPin").path("details").path("onChain").asText();
	}

	private static JsonNode health() {
		try {
			HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(agent.managementUrl() + "/actuator/health"))
				.timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
			return FaultRig.JSON.readTree(response.body());
		}
		catch (IOException e) {
			throw new IllegalStateException(e);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(e);
		}
	}

	private static int occurrences(String text, String part) {
		int count = 0;
		for (int at = text.indexOf(part); at >= 0; at = text.indexOf(part, at + 1)) {
			count++;
		}
		return count;
	}

	record Run(int exit, String stdout, String stderr) {
	}

	private static Run curl(String pin, String... args) throws Exception {
		List<String> command = new ArrayList<>(List.of("curl", "-sS", "--max-time", "20", "-k", "--pinnedpubkey", pin));
		command.addAll(List.of(args));
		return run(command);
	}

	private static Run run(List<String> command) throws Exception {
		Process process = new ProcessBuilder(command).start();
		Future<String> err;
		try (ExecutorService reader = Executors.newSingleThreadExecutor()) {
			err = reader.submit(() -> new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
			String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
			if (!process.waitFor(60, TimeUnit.SECONDS)) {
				process.destroyForcibly();
				throw new IllegalStateException(command + " did not finish");
			}
			return new Run(process.exitValue(), out, err.get());
		}
	}

}
