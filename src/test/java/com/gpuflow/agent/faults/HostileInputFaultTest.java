package com.gpuflow.agent.faults;

import java.math.BigInteger;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import com.gpuflow.agent.chain.ChainLog;
import com.gpuflow.agent.rental.RentalEvent;
import com.gpuflow.agent.chain.RentalMarketLogs;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Hostile input, generated: random routes, ids, bodies, headers, content types, signatures and
 * messages against a running agent (no 5xx, and a rejected request changes nothing), and random
 * topics and data through the log decoder (an event that makes sense, or UndecodableLogException,
 * nothing else). Malformed logs through the real ingestion path are in
 * {@link ChainFaultTest#aNodeAnsweringErrorsAndGarbageStillYieldsCompleteExactlyOnceIngestion}.
 */
class HostileInputFaultTest {

	/** Requests per generated case: the long form sends five times as many. */
	static final int PER_TRY = FaultRig.longForm() ? 5 : 1;

	static FaultRig rig;

	static AgentProcess agent;

	static List<BigInteger> rentals = new ArrayList<>();

	static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

	static final AtomicInteger requests = new AtomicInteger();

	static final Map<Integer, AtomicInteger> statuses = new java.util.TreeMap<>();

	static final AtomicLong decoded = new AtomicLong();

	static final AtomicLong refused = new AtomicLong();

	static final AtomicLong notOurs = new AtomicLong();

	@BeforeContainer
	static void startAgent() {
		rig = new FaultRig(AnvilNode.startDefault());
		agent = rig.agent(rig.environment(false)).start();
		// One rental of each kind a hostile request could aim at: renter key, generated key, ended.
		rentals.add(rig.market.rent(1, rig.host, 36_000, FaultRig.renterKey()).rentalId());
		rentals.add(rig.market.rent(2, rig.host, 36_000, RentalMarketClient.ZERO_KEY).rentalId());
		BigInteger ended = rig.market.rent(3, rig.host, 36_000, FaultRig.renterKey()).rentalId();
		rig.market.endRental(3, ended);
		rentals.add(ended);
		Eventually.await(Duration.ofSeconds(30), "three sessions stored",
				() -> rig.count("select count(*) from sessions") == 3 && rig.count("select count(*) from sessions where state = 'ENDED'") == 1);
		// The routes answer at all: a hostile case of all 404s would prove nothing.
		assertThat(rig.status(agent, "/v1/rentals/" + rentals.get(0))).isEqualTo(200);
	}

	@AfterContainer
	static void stopAgent() {
		Map<String, Object> figures = new LinkedHashMap<>();
		figures.put("HTTP requests", requests.get());
		synchronized (statuses) {
			figures.put("statuses", statuses.toString());
		}
		figures.put("logs decoded / refused / not rental events", decoded + " / " + refused + " / " + notOurs);
		FaultRig.printFigures("HostileInputFaultTest", figures);
		if (rig != null) {
			rig.close();
		}
	}

	// --- HTTP

	record Hostile(String method, String path, String contentType, String authorization, String body) {
	}

	@Property(tries = 1500)
	void hostileRequestsGetNoServerErrorAndChangeNothing(@ForAll("hostileRequests") Hostile request) throws Exception {
		for (int i = 0; i < PER_TRY; i++) {
			State before = State.read();
			int status = send(request);
			State after = State.read();
			assertThat(status).as(request + " answered").isBetween(200, 499);
			// Issuing a challenge stores nothing, and none of these requests holds a nonce the agent issued.
			assertThat(after).as("state after " + request).isEqualTo(before);
		}
	}

	record State(String sessions, long audit, long spentNonces) {

		static State read() {
			return rig.query("""
					select (select md5(coalesce(string_agg(id || state || coalesce(config_delivered_at::text, '')
					          || coalesce(key_destroyed_at::text, '') || coalesce(peer_public_key, '')
					          || (sealed_private_key is null)::text || ends_at::text, ',' order by id), '')) from sessions),
					       (select count(*) from audit_log),
					       (select count(*) from spent_nonces)""", rs -> {
				rs.next();
				return new State(rs.getString(1), rs.getLong(2), rs.getLong(3));
			});
		}

	}

	static int send(Hostile hostile) throws Exception {
		HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(agent.baseUrl() + hostile.path()))
			.timeout(Duration.ofSeconds(30))
			.method(hostile.method(), hostile.body() == null ? HttpRequest.BodyPublishers.noBody()
					: HttpRequest.BodyPublishers.ofString(hostile.body()));
		if (hostile.contentType() != null) {
			builder.header("Content-Type", hostile.contentType());
		}
		if (hostile.authorization() != null) {
			builder.header("Authorization", hostile.authorization());
		}
		int status = HTTP.send(builder.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
		requests.incrementAndGet();
		synchronized (statuses) {
			statuses.computeIfAbsent(status, s -> new AtomicInteger()).incrementAndGet();
		}
		return status;
	}

	@Provide
	Arbitrary<Hostile> hostileRequests() {
		Arbitrary<String> ids = Arbitraries.oneOf(Arbitraries.of(rentals.stream().map(BigInteger::toString).toList()),
				Arbitraries.of("0", "-1", "00001", "1e3", "0x10", "1.0", " 1", "+1", "999999",
						BigInteger.TWO.pow(256).toString(), BigInteger.TWO.pow(256).subtract(BigInteger.ONE).toString(),
						"9".repeat(100), "%00", "..", "%2e%2e", "null", "undefined", "[1]", "{}", "ü", "💥", "1;drop table sessions")
					.map(id -> id.contains("%") ? id : encode(id)),
				Arbitraries.strings().ofMaxLength(40).map(HostileInputFaultTest::encode));
		Arbitrary<String> renterPaths = Combinators.combine(ids,
				Arbitraries.of("", "/", "/challenge", "/config", "/rekey", "/config?format=qr", "/config?format=%00",
						"/config?format=" + "x".repeat(300), "/challenge?x=1", "/events"))
			.as((id, suffix) -> "/v1/rentals/" + id + suffix);
		Arbitrary<String> auditPaths = Combinators.combine(ids, Arbitraries.strings().ofMaxLength(30).map(HostileInputFaultTest::encode))
			.as((id, junk) -> List.of("/v1/audit/sessions?limit=" + junk, "/v1/audit/sessions?cursor=" + junk,
					"/v1/audit/sessions?state=" + junk + "&from=" + junk, "/v1/audit/ip-history?ip=" + junk,
					"/v1/audit/sessions/" + id + "/events", "/v1/peers", "/v1/audit/verify", "/v1/audit/sessions?renter=" + junk))
			.flatMap(Arbitraries::of);
		Arbitrary<String> paths = Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(4, renterPaths), net.jqwik.api.Tuple.of(1, auditPaths));
		Arbitrary<String> methods = Arbitraries.of("POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH");
		Arbitrary<String> contentTypes = Arbitraries.of(null, "application/json", "application/json; charset=utf-8", "text/plain",
				"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin-7",
				"*/*", "garbage", "application/json;;;");
		Arbitrary<String> authorizations = Arbitraries.oneOf(Arbitraries.of(null, "Bearer ", "Basic Zm9vOmJhcg==", "Bearer " + "a".repeat(5000)),
				Arbitraries.strings().ofMaxLength(60).map(s -> "Bearer " + s.replaceAll("[^\\x20-\\x7e]", "")),
				// The real token, only on reads: a GET must not change anything either.
				Arbitraries.just("Bearer " + FaultRig.AUDIT_TOKEN));
		return Combinators.combine(methods, paths, contentTypes, authorizations, bodies())
			.as((method, path, type, auth, body) -> new Hostile(method, path, type,
					(auth != null && auth.contains(FaultRig.AUDIT_TOKEN) && !method.equals("GET")) ? null : auth,
					method.equals("GET") ? null : body));
	}

	Arbitrary<String> bodies() {
		Arbitrary<String> hexes = Arbitraries.integers().between(0, 140).map(n -> {
			byte[] bytes = new byte[n];
			java.util.concurrent.ThreadLocalRandom.current().nextBytes(bytes);
			return "0x" + HexFormat.of().formatHex(bytes);
		});
		Arbitrary<String> signatures = Arbitraries.oneOf(hexes, Arbitraries.strings().ofMaxLength(140),
				Arbitraries.of("0x", "", "0x" + "00".repeat(65), "0x" + "ff".repeat(65), "0x" + "1b".repeat(65)));
		Arbitrary<String> messages = Arbitraries.oneOf(Arbitraries.strings().ofMaxLength(400), Arbitraries.of(siwe("nonce0000"), ""),
				Arbitraries.strings().alpha().numeric().ofLength(17).map(HostileInputFaultTest::siwe));
		Arbitrary<String> json = Combinators.combine(messages, signatures).as((m, s) -> {
			try {
				return FaultRig.JSON.writeValueAsString(Map.of("message", m, "signature", s));
			}
			catch (Exception e) {
				throw new IllegalStateException(e);
			}
		});
		return Arbitraries.oneOf(json, Arbitraries.strings().ofMaxLength(300),
				Arbitraries.of("", "{}", "[]", "null", "{\"message\":null,\"signature\":null}", "{\"message\":1,\"signature\":[]}",
						"{\"message\":\"", "{" + "\"a\":{".repeat(2000), "x".repeat(17_000), "{\"message\":\"" + "m".repeat(20_000) + "\"}"));
	}

	/** A well-formed sign-in message with a nonce the agent never issued. */
	static String siwe(String nonce) {
		return """
				127.0.0.1 wants you to sign in with your Ethereum account:
				0x70997970C51812dc3A010C7d01b50e0d17dc79C8

				Fetch the WireGuard config of rental 1

				URI: http://127.0.0.1:8082
				Version: 1
				Chain ID: 31337
				Nonce: %s
				Issued At: 2026-11-25T18:00:00Z
				Expiration Time: 2099-11-25T18:05:00Z
				Resources:
				- urn:gpuflow:rental:1""".formatted(nonce);
	}

	static String encode(String raw) {
		return URLEncoder.encode(raw, StandardCharsets.UTF_8);
	}

	// --- decoded chain logs

	@Property(tries = 3000)
	void aLogDecodesToASaneEventOrIsRefused(@ForAll("logs") ChainLog log) {
		RentalEvent event;
		try {
			event = RentalMarketLogs.decode(log);
		}
		catch (RentalMarketLogs.UndecodableLogException e) {
			refused.incrementAndGet();
			return;
		}
		catch (Throwable e) {
			fail("decode threw " + e + " for topics " + log.topics() + " data " + log.data(), e);
			return;
		}
		String signature = (log.topics() == null || log.topics().isEmpty() || log.topics().get(0) == null) ? null
				: log.topics().get(0).toLowerCase();
		if (event == null) {
			notOurs.incrementAndGet();
			assertThat(RentalMarketLogs.TOPICS).as("a rental event's signature must decode or be refused").doesNotContain(signature);
			return;
		}
		decoded.incrementAndGet();
		assertThat(event.rentalId()).isBetween(BigInteger.ZERO, BigInteger.TWO.pow(256).subtract(BigInteger.ONE));
		switch (event) {
			case RentalEvent.Created created -> {
				assertThat(signature).isEqualTo(RentalMarketLogs.CREATED_TOPIC);
				assertThat(created.hostId()).matches("0x[0-9a-f]{64}");
				assertThat(created.renter()).matches("0x[0-9a-f]{40}");
				assertThat(created.endsAt()).isAfterOrEqualTo(created.startsAt());
			}
			case RentalEvent.Extended extended -> assertThat(signature).isEqualTo(RentalMarketLogs.EXTENDED_TOPIC);
			case RentalEvent.Ended ended -> assertThat(signature).isEqualTo(RentalMarketLogs.ENDED_TOPIC);
			default -> fail("unexpected event " + event);
		}
	}

	@Provide
	Arbitrary<ChainLog> logs() {
		Arbitrary<String> words = Arbitraries.integers().between(0, 40).flatMap(n -> Arbitraries.bytes().array(byte[].class).ofSize(n))
			.map(bytes -> "0x" + HexFormat.of().formatHex(bytes));
		Arbitrary<String> word32 = Arbitraries.bytes().array(byte[].class).ofSize(32).map(b -> "0x" + HexFormat.of().formatHex(b));
		Arbitrary<String> small32 = Arbitraries.longs().between(0, 1L << 41).map(v -> "0x" + "%064x".formatted(v));
		Arbitrary<String> address32 = Arbitraries.bytes().array(byte[].class).ofSize(20)
			.map(b -> "0x" + "00".repeat(12) + HexFormat.of().formatHex(b));
		Arbitrary<String> signatures = Arbitraries.of(RentalMarketLogs.CREATED_TOPIC, RentalMarketLogs.EXTENDED_TOPIC,
				RentalMarketLogs.ENDED_TOPIC, RentalMarketLogs.CREATED_TOPIC.toUpperCase().replace("0X", "0x"));
		Arbitrary<String> topic = Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(3, signatures), net.jqwik.api.Tuple.of(3, word32),
				net.jqwik.api.Tuple.of(2, small32), net.jqwik.api.Tuple.of(2, address32), net.jqwik.api.Tuple.of(2, words),
				net.jqwik.api.Tuple.of(1, Arbitraries.of("0xzz", "0x1", "deadbeef", "", "0X" + "ab".repeat(32))),
				net.jqwik.api.Tuple.of(1, Arbitraries.just((String) null)));
		Arbitrary<List<String>> topics = Arbitraries.oneOf(
				// shaped like ours: a signature first
				Combinators.combine(signatures, topic.list().ofMaxSize(4)).as((s, rest) -> {
					List<String> all = new ArrayList<>();
					all.add(s);
					all.addAll(rest);
					return all;
				}), topic.list().ofMaxSize(5), Arbitraries.just((List<String>) null));
		Arbitrary<String> data = Arbitraries.oneOf(
				Combinators.combine(small32, small32, word32).as((a, b, c) -> a + b.substring(2) + c.substring(2)),
				small32, words,
				Arbitraries.integers().between(0, 200).flatMap(n -> Arbitraries.bytes().array(byte[].class).ofSize(n))
					.map(b -> "0x" + HexFormat.of().formatHex(b)),
				Arbitraries.of("0x", "0x0", "0xgg", "", "00", "0X00"), Arbitraries.just((String) null));
		return Combinators.combine(topics, data).as((t, d) -> new ChainLog(7, "0x" + "aa".repeat(32), "0x" + "bb".repeat(32), 0,
				"0x" + "cc".repeat(20), t == null ? null : java.util.Collections.unmodifiableList(new ArrayList<>(t)), d));
	}


}
