package com.gpuflow.agent.api;

import java.math.BigInteger;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Everything a hostile or broken client might send. None of it may get a 5xx, a config, or change a
 * session or the audit trail.
 */
@ExtendWith(OutputCaptureExtension.class)
class HostileInputTests extends RenterApiTestSupport {

	static final ObjectMapper JSON = new ObjectMapper();

	static final List<String> CONTENT_TYPES = java.util.Arrays.asList(null, "application/json", "text/plain",
			"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin1",
			"*/*", "garbage", ";;;", "application/", "application/json; q=\"");

	static final String JSONISH = "{}[]\":,0123456789abcdef xnulltruefalse\\u\n";

	record Attempt(String method, String path, String contentType, byte[] body) {

		@Override
		public String toString() {
			return method + " " + path + " [" + contentType + "] " + body.length + " bytes";
		}

	}

	@Test
	void hostileRequestsNeverGetA5xxNorAConfigNorChangeState(CapturedOutput output) throws Exception {
		Fixture generated = session(KeySource.GENERATED);
		Fixture own = session(KeySource.RENTER);
		String message = challenge(generated);
		String signature = Signatures.personalSign(RENTER, message);
		String replayedMessage = challenge(own);
		assertThat(post(own.path("/config"), Map.of("message", replayedMessage, "signature",
				Signatures.personalSign(RENTER, replayedMessage))).returnResult(String.class).getStatus().value())
			.isEqualTo(200);
		String expiringMessage = challenge(generated);

		String sessionsBefore = sessionsSnapshot();
		String auditBefore = auditSnapshot();
		List<Attempt> attempts = new ArrayList<>();
		Random random = new Random(20261125);
		String overflow = BigInteger.ONE.shiftLeft(256).toString();
		List<String> ids = List.of(generated.rentalId().toString(), "abc", "-1", "0x1", overflow, "9".repeat(1000),
				"1%00", "%F0%28%8C%28", "1.0", "+1", "1e9", "%E2%80%8B1");
		for (String id : ids) {
			for (String route : List.of("", "/challenge", "/config", "/rekey", "/config?format=qr")) {
				attempts.add(new Attempt(route.isEmpty() ? "GET" : "POST", "/v1/rentals/" + id + route, "application/json",
						body(message, Signatures.personalSign(STRANGER, message))));
			}
		}
		// random bytes and random JSON-ish text in every size around the limit, with any content type
		for (int i = 0; i < 120; i++) {
			int size = switch (i % 4) {
				case 0 -> random.nextInt(64);
				case 1 -> random.nextInt(4096);
				case 2 -> 16 * 1024 - 8 + random.nextInt(16);
				default -> 16 * 1024 + random.nextInt(200_000);
			};
			byte[] body = new byte[size];
			if (i % 3 == 0) {
				random.nextBytes(body);
			}
			else {
				for (int b = 0; b < size; b++) {
					body[b] = (byte) JSONISH.charAt(random.nextInt(JSONISH.length()));
				}
			}
			String route = List.of("/config", "/rekey", "/challenge", "").get(i % 4);
			attempts.add(new Attempt(route.isEmpty() ? "GET" : "POST", generated.path(route),
					CONTENT_TYPES.get(random.nextInt(CONTENT_TYPES.size())), body));
		}
		// signatures: wrong length, bad v, high s, not hex, other types
		byte[] raw = Signatures.raw(signature);
		raw[64] = 29;
		for (Object bad : List.of(signature.substring(0, 130), signature + "00", Signatures.hex(raw),
				Signatures.highS(signature), signature.replace('a', 'z'), "", "0x", 42, List.of(signature),
				Map.of("r", "0x1"), "0x" + "ff".repeat(65), "\u0000".repeat(10))) {
			attempts.add(new Attempt("POST", generated.path("/config"), "application/json",
					JSON.writeValueAsBytes(Map.of("message", message, "signature", bad))));
		}
		// a stranger's signature, an edited message, a replayed nonce, an expired nonce
		attempts.add(signed(generated, message, Signatures.personalSign(STRANGER, message)));
		String edited = message.replace("Chain ID: 31337", "Chain ID: 1");
		attempts.add(signed(generated, edited, Signatures.personalSign(RENTER, edited)));
		attempts.add(signed(generated, edited, signature));
		attempts.add(signed(own, replayedMessage, Signatures.personalSign(RENTER, replayedMessage)));
		attempts.add(signed(generated, replayedMessage, Signatures.personalSign(RENTER, replayedMessage)));
		attempts.add(signed(generated, "Nonce: " + "A".repeat(24), Signatures.personalSign(RENTER, "x")));
		attempts.add(signed(generated, message + "\n", Signatures.personalSign(RENTER, message + "\n")));
		attempts.add(signed(generated, message.repeat(3), Signatures.personalSign(RENTER, message.repeat(3))));

		for (Attempt attempt : attempts) {
			HttpResponse<String> response;
			try {
				response = raw(attempt.method(), attempt.path(), attempt.contentType(), attempt.body());
			}
			catch (RuntimeException e) {
				throw new AssertionError(attempt + ": " + e.getMessage(), e);
			}
			assertThat(response.statusCode()).as(attempt.toString()).isLessThan(500);
			if (attempt.path().contains("/config") || attempt.path().contains("/rekey")) {
				assertThat(response.statusCode()).as(attempt.toString()).isBetween(400, 499);
			}
			assertThat(response.body()).as(attempt.toString()).doesNotContain(generated.privateKey());
		}
		// the expired challenge, signed correctly, after the clock passed its expiry
		clock.advance(Duration.ofMinutes(6));
		HttpResponse<String> late = send(signed(generated, expiringMessage, Signatures.personalSign(RENTER, expiringMessage)));
		clock.reset();
		assertThat(late.statusCode()).isEqualTo(401);

		assertThat(sessionsSnapshot()).isEqualTo(sessionsBefore);
		assertThat(auditSnapshot()).isEqualTo(auditBefore);
		assertThat(output.getAll()).doesNotContain(generated.privateKey()).doesNotContain(signature)
			.doesNotContain(" ERROR ")
			.doesNotContain("at com.gpuflow.agent");
		// the legitimate renter is still served, once
		HttpResponse<String> served = send(signed(generated, challenge(generated), null));
		assertThat(served.statusCode()).isEqualTo(200);
		assertThat(served.body()).contains(generated.privateKey());
	}

	private HttpResponse<String> send(Attempt attempt) {
		return raw(attempt.method(), attempt.path(), attempt.contentType(), attempt.body());
	}

	private static Attempt signed(Fixture fixture, String message, String signature) throws Exception {
		String sig = signature != null ? signature : Signatures.personalSign(RENTER, message);
		return new Attempt("POST", fixture.path("/config"), "application/json",
				JSON.writeValueAsBytes(Map.of("message", message, "signature", sig)));
	}

	private static byte[] body(String message, String signature) throws Exception {
		return JSON.writeValueAsString(Map.of("message", message, "signature", signature))
			.getBytes(StandardCharsets.UTF_8);
	}

}
