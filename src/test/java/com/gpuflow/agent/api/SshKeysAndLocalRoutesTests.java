package com.gpuflow.agent.api;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.gpuflow.agent.rental.SessionsChanged;
import com.gpuflow.agent.testsupport.SshKeygen;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalManagementPort;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.http.MediaType;
import org.springframework.test.context.TestPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code PUT /v1/rentals/{id}/ssh-keys} on the renter port and the local routes on the management
 * port, over real HTTP against the agent and PostgreSQL, with keys made by ssh-keygen.
 */
@TestPropertySource(properties = { "host-id=0x4444444444444444444444444444444444444444444444444444444444444444", "management.server.port=0", "gpuflow.trusted-proxies=127.0.0.1/32" })
class SshKeysAndLocalRoutesTests extends RenterApiTestSupport {

	static final Path KEYS;

	static {
		try {
			KEYS = Files.createTempDirectory("gpuflow-ssh-route-test");
		}
		catch (IOException e) {
			throw new IllegalStateException(e);
		}
	}

	static final SshKeygen.KeyPair ED25519 = SshKeygen.ed25519(KEYS, "first");

	static final SshKeygen.KeyPair ECDSA = SshKeygen.generate(KEYS, "second", "ecdsa", 384);

	@AfterAll
	static void removeKeys() throws IOException {
		try (var files = Files.list(KEYS)) {
			for (Path file : files.toList()) {
				Files.delete(file);
			}
		}
		Files.delete(KEYS);
	}

	@LocalManagementPort
	int managementPort;

	@Autowired
	ApplicationEventPublisher publisher;

	WebTestClient management() {
		return WebTestClient.bindToServer().baseUrl("http://127.0.0.1:" + managementPort).responseTimeout(Duration.ofSeconds(30)).build();
	}

	WebTestClient.ResponseSpec put(Fixture fixture, Object body) {
		return web.put().uri(fixture.path("/ssh-keys")).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange();
	}

	Map<String, Object> sshKeysBody(Fixture fixture, List<String> keys) {
		Map<String, Object> body = new java.util.HashMap<>(signedBody(fixture, Purpose.SSH_KEYS));
		body.put("keys", keys);
		return body;
	}

	String authorizedKeys() {
		String body = management().get().uri("/v1/local/ssh/authorized-keys?user=renter").exchange().expectStatus().isOk()
			.expectHeader().contentTypeCompatibleWith(MediaType.TEXT_PLAIN)
			.expectBody(String.class).returnResult().getResponseBody();
		return body == null ? "" : body;
	}

	List<String> lines(String text) {
		return text.lines().toList();
	}

	@Test
	void keysSetWithAnSshKeysChallengeAreAnsweredToSshdRestrictedToTheTunnelAddressAndReplacedWhole() {
		Fixture fixture = session(KeySource.RENTER);
		put(fixture, sshKeysBody(fixture, List.of(ED25519.publicKey(), ECDSA.publicKey()))).expectStatus().isNoContent();
		assertThat(lines(authorizedKeys())).contains(
				"from=\"" + fixture.tunnelIp() + "\" " + ED25519.typeAndBlob() + " gpuflow-rental-" + fixture.rentalId(),
				"from=\"" + fixture.tunnelIp() + "\" " + ECDSA.typeAndBlob() + " gpuflow-rental-" + fixture.rentalId());

		put(fixture, sshKeysBody(fixture, List.of(ECDSA.publicKey()))).expectStatus().isNoContent();
		List<String> mine = lines(authorizedKeys()).stream().filter(l -> l.endsWith(" gpuflow-rental-" + fixture.rentalId())).toList();
		assertThat(mine).containsExactly(
				"from=\"" + fixture.tunnelIp() + "\" " + ECDSA.typeAndBlob() + " gpuflow-rental-" + fixture.rentalId());

		List<String> kinds = jdbc.sql("select kind || ' ' || detail from audit_log where session_id = ? order by id")
			.param(fixture.sessionId()).query(String.class).list();
		assertThat(kinds).filteredOn(k -> k.startsWith("ssh_keys_set")).hasSize(2);
		assertThat(kinds.get(kinds.size() - 1)).startsWith("ssh_keys_set 1 key: ecdsa-sha2-nistp384 SHA256:");
		web.get().uri("/v1/audit/sessions/" + fixture.rentalId() + "/events").exchange().expectStatus().isUnauthorized();
	}

	@Test
	void keysOfASessionThatEndsOrExpiresAreNoLongerAnswered() {
		Fixture ending = session(KeySource.RENTER);
		Fixture expiring = session(nextRentalId(), KeySource.RENTER, "ACTIVE", clock.instant().plus(Duration.ofMinutes(30)),
				RENTER.getAddress());
		put(ending, sshKeysBody(ending, List.of(ED25519.publicKey()))).expectStatus().isNoContent();
		put(expiring, sshKeysBody(expiring, List.of(ECDSA.publicKey()))).expectStatus().isNoContent();
		assertThat(authorizedKeys()).contains("gpuflow-rental-" + ending.rentalId(), "gpuflow-rental-" + expiring.rentalId());

		jdbc.sql("update sessions set state = 'ENDED', ended_at = now(), end_reason = 'ended' where id = ?")
			.param(ending.sessionId()).update();
		assertThat(authorizedKeys()).doesNotContain("gpuflow-rental-" + ending.rentalId())
			.contains("gpuflow-rental-" + expiring.rentalId());
		// Past endsAt by the agent's clock, before any pass has marked it EXPIRED.
		clock.advance(Duration.ofMinutes(31));
		assertThat(authorizedKeys()).doesNotContain("gpuflow-rental-" + expiring.rentalId());
	}

	@Test
	void garbageKeysAre400WithAClearMessageAndSpendNothing() {
		Fixture fixture = session(KeySource.RENTER);
		Map<String, Object> body = sshKeysBody(fixture, List.of("command=\"/bin/sh\" " + ED25519.publicKey()));
		put(fixture, body).expectStatus().isBadRequest().expectBody().jsonPath("$.message").value(m ->
				assertThat((String) m).contains("key 1").contains("options"));
		body.put("keys", List.of(ED25519.publicKey(), "ssh-ed25519 AAAAnotakey"));
		put(fixture, body).expectStatus().isBadRequest().expectBody().jsonPath("$.message").value(m ->
				assertThat((String) m).startsWith("key 2 "));
		body.put("keys", List.of(ED25519.publicKey(), ED25519.publicKey()));
		put(fixture, body).expectStatus().isBadRequest().expectBody().jsonPath("$.message").isEqualTo("key 2 repeats key 1");
		body.put("keys", List.of());
		put(fixture, body).expectStatus().isBadRequest();
		body.put("keys", java.util.Collections.nCopies(9, ED25519.publicKey()));
		put(fixture, body).expectStatus().isBadRequest().expectBody().jsonPath("$.message").value(m ->
				assertThat((String) m).contains("1 to 8"));
		body.put("keys", "ssh-ed25519 AAAA");
		put(fixture, body).expectStatus().isBadRequest();
		body.put("keys", List.of(SshKeygen.generate(KEYS, "short-rsa", "rsa", 2048).publicKey()));
		put(fixture, body).expectStatus().isBadRequest().expectBody().jsonPath("$.message").value(m ->
				assertThat((String) m).contains("2048 bits"));
		// None of these reached the challenge: the same signed message still works.
		body.put("keys", List.of(ED25519.publicKey()));
		put(fixture, body).expectStatus().isNoContent();
	}

	@Test
	void theRouteKeepsTheSpecsStatusOrderAndAcceptsOnlyAnSshKeysChallenge() {
		Fixture fixture = session(KeySource.RENTER);
		List<String> keys = List.of(ED25519.publicKey());
		Map<String, Object> config = new java.util.HashMap<>(signedBody(fixture, Purpose.CONFIG));
		config.put("keys", keys);
		put(fixture, config).expectStatus().isUnauthorized();

		Map<String, Object> stranger = new java.util.HashMap<>(signedBy(STRANGER, challenge(fixture.rentalId(), Purpose.SSH_KEYS)));
		stranger.put("keys", keys);
		put(fixture, stranger).expectStatus().isForbidden().expectBody().jsonPath("$.error").isEqualTo("not_renter");

		Map<String, Object> body = sshKeysBody(fixture, keys);
		put(fixture, body).expectStatus().isNoContent();
		put(fixture, body).expectStatus().isUnauthorized();

		Fixture ended = session(nextRentalId(), KeySource.RENTER, "ENDED", clock.instant().plusSeconds(3600), RENTER.getAddress());
		web.put().uri(ended.path("/ssh-keys")).contentType(MediaType.APPLICATION_JSON)
			.bodyValue(Map.of("message", "m", "signature", "0x", "keys", keys)).exchange().expectStatus().isEqualTo(410);
		web.put().uri("/v1/rentals/" + nextRentalId() + "/ssh-keys").contentType(MediaType.APPLICATION_JSON)
			.bodyValue(Map.of("message", "m", "signature", "0x", "keys", keys)).exchange().expectStatus().isNotFound();
		web.put().uri("/v1/rentals/" + pendingRental() + "/ssh-keys").contentType(MediaType.APPLICATION_JSON)
			.bodyValue(Map.of("message", "m", "signature", "0x", "keys", keys)).exchange().expectStatus().isEqualTo(409);
		web.put().uri("/v1/rentals/x/ssh-keys").contentType(MediaType.APPLICATION_JSON)
			.bodyValue(Map.of("message", "m", "signature", "0x", "keys", keys)).exchange().expectStatus().isBadRequest();
		assertThat(raw("PUT", fixture.path("/ssh-keys"), "application/json", new byte[RenterHandler.BODY_LIMIT + 1]).statusCode())
			.isEqualTo(413);
	}

	@Test
	void whoisAnswersTheHolderOfAnAddressFromItsTableAndLearnsOfChangesAtOnce() {
		Fixture fixture = session(KeySource.RENTER);
		publisher.publishEvent(new SessionsChanged("test"));
		management().get().uri("/v1/local/whois?ip=" + fixture.tunnelIp()).exchange().expectStatus().isOk().expectBody()
			.jsonPath("$.ip").isEqualTo(fixture.tunnelIp())
			.jsonPath("$.rentalId").isEqualTo(fixture.rentalId().intValueExact())
			.jsonPath("$.renter").isEqualTo(RENTER.getAddress().toLowerCase())
			.jsonPath("$.state").isEqualTo("ACTIVE")
			.jsonPath("$.endsAt").isEqualTo(clock.instant().plus(Duration.ofHours(1)).toString())
			.jsonPath("$.startsAt").isNotEmpty()
			.jsonPath("$.peerPublicKey").isEqualTo(fixture.peerPublicKey());

		jdbc.sql("update sessions set state = 'ENDED' where id = ?").param(fixture.sessionId()).update();
		publisher.publishEvent(new SessionsChanged("test"));
		management().get().uri("/v1/local/whois?ip=" + fixture.tunnelIp()).exchange().expectStatus().isNotFound()
			.expectBody().jsonPath("$.error").isEqualTo("not_found");
	}

	@Test
	void whoisAtATimeReadsTheLeaseHistory() {
		Fixture fixture = session(KeySource.RENTER);
		java.time.Instant from = clock.instant().minus(Duration.ofHours(2));
		java.time.Instant to = clock.instant().minus(Duration.ofHours(1));
		jdbc.sql("""
				insert into leases (host_id, ip, session_id, held_from, held_to, reserved)
				values (?, ?::inet, ?, ?, ?, tstzrange(?, ?::timestamptz + interval '10 minutes'))""")
			.params(hostId, "10.99.0.9", fixture.sessionId(), from.atOffset(ZoneOffset.UTC), to.atOffset(ZoneOffset.UTC),
					from.atOffset(ZoneOffset.UTC), to.atOffset(ZoneOffset.UTC))
			.update();
		management().get().uri("/v1/local/whois?ip=10.99.0.9&at=" + from.plusSeconds(60)).exchange().expectStatus().isOk()
			.expectBody().jsonPath("$.rentalId").isEqualTo(fixture.rentalId().intValueExact()).jsonPath("$.ip").isEqualTo("10.99.0.9");
		management().get().uri("/v1/local/whois?ip=10.99.0.9&at=" + to).exchange().expectStatus().isNotFound();
		management().get().uri("/v1/local/whois?ip=10.99.0.9").exchange().expectStatus().isNotFound();
	}

	@Test
	void badAddressesTimesAndUsersAre400AndNeverLookedUp() {
		for (String query : List.of("", "?ip=", "?ip=example.org", "?ip=10.77.0.256", "?ip=10.77.0.5&ip=10.77.0.6",
				"?ip=10.77.0.5&at=yesterday", "?ip=10.77.0.5&at=2026-13-01T00:00:00Z")) {
			management().get().uri("/v1/local/whois" + query).exchange().expectStatus().isBadRequest().expectBody()
				.jsonPath("$.error").isEqualTo("invalid_parameter");
		}
		management().get().uri("/v1/local/ssh/authorized-keys").exchange().expectStatus().isBadRequest();
		management().get().uri("/v1/local/ssh/authorized-keys?user=a%0Ab").exchange().expectStatus().isBadRequest();
	}

	@Test
	void localRoutesAreOnTheManagementPortOnlyAndRenterRoutesNotThere() {
		Fixture fixture = session(KeySource.RENTER);
		publisher.publishEvent(new SessionsChanged("test"));
		management().get().uri("/v1/local/whois?ip=" + fixture.tunnelIp()).exchange().expectStatus().isOk();
		web.get().uri("/v1/local/whois?ip=" + fixture.tunnelIp()).exchange().expectStatus().isNotFound();
		web.get().uri("/v1/local/ssh/authorized-keys?user=root").exchange().expectStatus().isNotFound();
		web.get().uri(fixture.path("")).exchange().expectStatus().isOk();
		management().get().uri(fixture.path("")).exchange().expectStatus().isNotFound();
	}

	@Test
	void forwardAuthBelievesForwardedHeadersOnlyFromATrustedProxy() throws Exception {
		Fixture fixture = session(KeySource.RENTER);
		publisher.publishEvent(new SessionsChanged("test"));
		// From 127.0.0.1 (trusted here): the forwarded address decides.
		management().get().uri("/v1/local/forward-auth").header("X-Forwarded-For", fixture.tunnelIp() + ", 203.0.113.9")
			.exchange().expectStatus().isOk()
			.expectHeader().valueEquals("X-Gpuflow-Rental-Id", fixture.rentalId().toString())
			.expectHeader().valueEquals("X-Gpuflow-Renter", RENTER.getAddress().toLowerCase())
			.expectHeader().valueEquals("X-Gpuflow-Ends-At", clock.instant().plus(Duration.ofHours(1)).toString());
		management().get().uri("/v1/local/forward-auth").header("X-Real-IP", fixture.tunnelIp()).exchange().expectStatus().isOk();
		management().get().uri("/v1/local/forward-auth").header("X-Forwarded-For", "10.99.99.99").exchange().expectStatus().isForbidden();
		management().get().uri("/v1/local/forward-auth").header("X-Forwarded-For", "example.org").exchange().expectStatus().isForbidden();
		management().get().uri("/v1/local/forward-auth").exchange().expectStatus().isForbidden();

		// From 127.0.0.2 (not trusted): the same forged header is ignored.
		assertThat(statusFrom("127.0.0.2", "X-Forwarded-For: " + fixture.tunnelIp())).isEqualTo(403);
		assertThat(statusFrom("127.0.0.2", "X-Real-IP: " + fixture.tunnelIp())).isEqualTo(403);
		assertThat(statusFrom("127.0.0.1", "X-Forwarded-For: " + fixture.tunnelIp())).isEqualTo(200);

		// Past its end by the agent's clock, with the table still current: no access.
		clock.advance(Duration.ofHours(2));
		management().get().uri("/v1/local/forward-auth").header("X-Forwarded-For", fixture.tunnelIp()).exchange().expectStatus().isForbidden();
		management().get().uri("/v1/local/whois?ip=" + fixture.tunnelIp()).exchange().expectStatus().isOk().expectBody()
			.jsonPath("$.state").isEqualTo("EXPIRED");
	}

	/** A forward-auth request sent from {@code localAddress}, by hand: java.net.http cannot choose its source. */
	int statusFrom(String localAddress, String header) throws IOException {
		try (Socket socket = new Socket()) {
			socket.bind(new InetSocketAddress(InetAddress.getByName(localAddress), 0));
			socket.connect(new InetSocketAddress("127.0.0.1", managementPort), 5_000);
			socket.setSoTimeout(10_000);
			OutputStream out = socket.getOutputStream();
			out.write(("GET /v1/local/forward-auth HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header + "\r\nConnection: close\r\n\r\n")
				.getBytes(StandardCharsets.US_ASCII));
			out.flush();
			InputStream in = socket.getInputStream();
			String status = new String(in.readNBytes(12), StandardCharsets.US_ASCII);
			return Integer.parseInt(status.substring(9, 12));
		}
	}

}
