package com.gpuflow.agent.audit;

import java.math.BigInteger;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import com.fasterxml.jackson.databind.JsonNode;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The audit routes of a running agent, over HTTP, against sessions made by real rentals on anvil
 * and fixture rows in PostgreSQL.
 */
class AuditRoutesTest {

	static final List<String> ROUTES = List.of("/v1/audit/sessions", "/v1/audit/ip-history?ip=10.77.0.2",
			"/v1/audit/sessions/1/events", "/v1/audit/verify", "/v1/peers", "/v1/audit/health");

	static final List<String> ITEM_FIELDS = List.of("rentalId", "renter", "tunnelIp", "peerPublicKey", "state",
			"createdAt", "confirmedAt", "peerAddedAt", "configDeliveredAt", "firstHandshakeAt", "endedAt", "endReason",
			"rxBytes", "txBytes");

	static LiveAgent agent;

	@BeforeAll
	static void startAgent() {
		agent = LiveAgent.start();
	}

	@AfterAll
	static void stopAgent() {
		if (agent != null) {
			agent.close();
		}
	}

	static List<String> fieldNames(JsonNode node) {
		List<String> names = new ArrayList<>();
		node.fieldNames().forEachRemaining(names::add);
		return names;
	}

	@Test
	void everyRouteRefusesAMissingOrWrongTokenAndServesTheRightOne() {
		for (String route : ROUTES) {
			for (String[] headers : List.of(new String[0], new String[] { "Authorization", "Bearer wrong-token-of-some-length" },
					new String[] { "Authorization", "Bearer " + LiveAgent.TOKEN + "x" },
					new String[] { "Authorization", "Basic " + LiveAgent.TOKEN },
					new String[] { "Authorization", "Bearer" })) {
				HttpResponse<String> response = agent.get(route, headers);
				assertThat(response.statusCode()).as(route + " " + List.of(headers)).isEqualTo(401);
				assertThat(agent.json(response).get("error").asText()).isEqualTo("unauthorized");
				assertThat(response.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(v -> assertThat(v).startsWith("Bearer"));
				assertThat(response.body()).doesNotContain(LiveAgent.TOKEN);
			}
			assertThat(agent.audit(route).statusCode()).as(route).isEqualTo(200);
			assertThat(agent.get(route, "Authorization", "bearer " + LiveAgent.TOKEN).statusCode())
				.as("the scheme is case-insensitive").isEqualTo(200);
		}
	}

	@Test
	void theFullHealthIsServedToTokenHoldersForTheDashboard() {
		JsonNode health = agent.json(agent.audit("/v1/audit/health"));
		assertThat(health.at("/components/db/status").asText()).isEqualTo("UP");
		assertThat(health.at("/components/chain/details").has("head")).isTrue();
	}

	@Test
	void sessionsListEveryFieldOfTheSpecNewestFirst() {
		JsonNode page = agent.json(agent.audit("/v1/audit/sessions"));
		assertThat(fieldNames(page)).containsExactly("items", "nextCursor");
		assertThat(page.get("nextCursor").isNull()).isTrue();
		JsonNode items = page.get("items");
		assertThat(items).hasSize(5);
		for (JsonNode item : items) {
			assertThat(fieldNames(item)).containsExactlyElementsOf(ITEM_FIELDS);
		}
		List<String> created = new ArrayList<>();
		items.forEach(item -> created.add(item.get("createdAt").asText()));
		assertThat(created).isSortedAccordingTo(java.util.Comparator.<String>naturalOrder().reversed());

		var first = agent.rentals.get(0);
		JsonNode ended = find(items, first.rentalId().longValueExact());
		assertThat(ended.get("rentalId").isNumber()).isTrue();
		assertThat(ended.get("renter").asText()).isEqualTo(first.renter());
		assertThat(ended.get("state").asText()).isEqualTo("ENDED");
		assertThat(ended.get("endReason").asText()).isEqualTo("ended");
		assertThat(ended.get("endedAt").asText()).matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z");
		assertThat(ended.get("tunnelIp").asText()).isEqualTo("10.77.0.2");
		assertThat(ended.get("configDeliveredAt").isNull()).as("absent times are null, not missing").isTrue();
		assertThat(ended.get("firstHandshakeAt").isNull()).isTrue();
		assertThat(ended.get("rxBytes").isNumber()).isTrue();

		JsonNode huge = items.get(0).get("rentalId").isTextual() ? items.get(0) : null;
		for (JsonNode item : items) {
			if (item.get("rentalId").isTextual()) {
				huge = item;
			}
		}
		assertThat(huge).as("a rental id above 2^53 is a string").isNotNull();
		assertThat(huge.get("rentalId").asText()).isEqualTo(LiveAgent.HUGE_RENTAL_ID.toString());
		assertThat(huge.get("rxBytes").asLong()).isEqualTo(123456789012L);
	}

	static JsonNode find(JsonNode items, long rentalId) {
		for (JsonNode item : items) {
			if (item.get("rentalId").isNumber() && item.get("rentalId").asLong() == rentalId
					&& !item.get("peerPublicKey").asText().startsWith("fixture")) {
				return item;
			}
		}
		throw new AssertionError("no item for rental " + rentalId + " in " + items);
	}

	@Test
	void filtersByRenterStateAndPeriod() {
		String renter1 = agent.rentals.get(0).renter();
		JsonNode byRenter = agent.json(agent.audit("/v1/audit/sessions?renter=" + renter1.toUpperCase().replace("0X", "0x"))).get("items");
		assertThat(byRenter).hasSize(2);
		byRenter.forEach(item -> assertThat(item.get("renter").asText()).isEqualTo(renter1));

		JsonNode active = agent.json(agent.audit("/v1/audit/sessions?state=active")).get("items");
		assertThat(active).hasSize(2);
		active.forEach(item -> assertThat(item.get("state").asText()).isEqualTo("ACTIVE"));

		JsonNode both = agent.json(agent.audit("/v1/audit/sessions?renter=" + renter1 + "&state=ENDED")).get("items");
		assertThat(both).hasSize(1);

		// The fixtures lived on 5 and 6 January 2026: a window on the 6th finds only the second one.
		JsonNode onTheSixth = agent
			.json(agent.audit("/v1/audit/sessions?from=2026-01-06T00:00:00Z&to=2026-01-06T23:59:59%2B00:00"))
			.get("items");
		assertThat(onTheSixth).hasSize(1);
		assertThat(onTheSixth.get(0).get("rentalId").asText()).isEqualTo(LiveAgent.HUGE_RENTAL_ID.toString());
		JsonNode bothDays = agent.json(agent.audit("/v1/audit/sessions?from=2026-01-05&to=2026-01-07")).get("items");
		assertThat(bothDays).hasSize(2);
		JsonNode empty = agent.json(agent.audit("/v1/audit/sessions?renter=&state=&from=&to=")).get("items");
		assertThat(empty).as("empty values are no filter").hasSize(5);
	}

	@Test
	void keysetPagesWalkEverySessionOnceWhateverThePageSize() {
		JsonNode all = agent.json(agent.audit("/v1/audit/sessions?limit=1000")).get("items");
		for (int size = 1; size <= 3; size++) {
			List<JsonNode> walked = new ArrayList<>();
			String cursor = null;
			int pages = 0;
			do {
				JsonNode page = agent.json(agent.audit("/v1/audit/sessions?limit=" + size + (cursor == null ? "" : "&cursor=" + cursor)));
				page.get("items").forEach(walked::add);
				cursor = page.get("nextCursor").isNull() ? null : page.get("nextCursor").asText();
				pages++;
				assertThat(pages).isLessThan(20);
			}
			while (cursor != null);
			assertThat(walked).as("page size " + size).containsExactlyElementsOf(iterable(all));
		}
		JsonNode filtered = agent.json(agent.audit("/v1/audit/sessions?state=ENDED&limit=2"));
		assertThat(filtered.get("items")).hasSize(2);
		JsonNode rest = agent.json(agent.audit("/v1/audit/sessions?state=ENDED&limit=2&cursor=" + filtered.get("nextCursor").asText()));
		assertThat(rest.get("items")).hasSize(1);
		assertThat(rest.get("nextCursor").isNull()).isTrue();
	}

	static List<JsonNode> iterable(JsonNode array) {
		List<JsonNode> list = new ArrayList<>();
		array.forEach(list::add);
		return list;
	}

	@Test
	void csvHasTheSameColumnsAndRowsAsJson() {
		JsonNode items = agent.json(agent.audit("/v1/audit/sessions")).get("items");
		HttpResponse<String> csv = agent.audit("/v1/audit/sessions", "Accept", "text/csv");
		assertThat(csv.statusCode()).isEqualTo(200);
		assertThat(csv.headers().firstValue("Content-Type")).hasValueSatisfying(v -> assertThat(v).startsWith("text/csv"));
		assertThat(csv.body()).contains("\r\n").contains("\"ended by operator, \"\"for maintenance\"\"\nsee ticket 7\"");
		List<List<String>> records = Rfc4180.parse(csv.body());
		assertThat(records.get(0)).containsExactlyElementsOf(ITEM_FIELDS);
		assertThat(records).hasSize(items.size() + 1);
		for (int i = 0; i < items.size(); i++) {
			Map<String, String> fromJson = new LinkedHashMap<>();
			for (Iterator<Map.Entry<String, JsonNode>> it = items.get(i).fields(); it.hasNext();) {
				Map.Entry<String, JsonNode> field = it.next();
				fromJson.put(field.getKey(), field.getValue().isNull() ? "" : field.getValue().asText());
			}
			Map<String, String> fromCsv = new LinkedHashMap<>();
			for (int c = 0; c < ITEM_FIELDS.size(); c++) {
				fromCsv.put(ITEM_FIELDS.get(c), records.get(i + 1).get(c));
			}
			assertThat(fromCsv).isEqualTo(fromJson);
		}

		HttpResponse<String> paged = agent.audit("/v1/audit/sessions?limit=2", "Accept", "text/csv;q=0.9, application/json;q=0.5");
		assertThat(Rfc4180.parse(paged.body())).hasSize(3);
		assertThat(paged.headers().firstValue(AuditHandler.NEXT_CURSOR_HEADER)).isPresent();
		assertThat(agent.audit("/v1/audit/sessions", "Accept", "application/json, text/csv;q=0.5").body()).startsWith("{");
		assertThat(agent.audit("/v1/audit/sessions", "Accept", "*/*").body()).startsWith("{");
	}

	@Test
	void ipHistoryListsTheHoldersOfAnAddressOldestFirst() {
		JsonNode history = agent.json(agent.audit("/v1/audit/ip-history?ip=" + LiveAgent.HISTORY_IP));
		assertThat(fieldNames(history)).containsExactly("ip", "leases");
		assertThat(history.get("ip").asText()).isEqualTo(LiveAgent.HISTORY_IP);
		JsonNode leases = history.get("leases");
		assertThat(leases).hasSize(2);
		assertThat(fieldNames(leases.get(0))).containsExactly("rentalId", "renter", "from", "to");
		assertThat(leases.get(0).get("rentalId").asLong()).isEqualTo(900_001);
		assertThat(leases.get(0).get("from").asText()).isEqualTo("2026-01-05T10:00:05Z");
		assertThat(leases.get(0).get("to").asText()).isEqualTo("2026-01-05T12:00:00Z");
		assertThat(leases.get(1).get("rentalId").asText()).isEqualTo(LiveAgent.HUGE_RENTAL_ID.toString());

		var second = agent.rentals.get(1);
		String ip = agent.jdbc.sql("select host(tunnel_ip) from sessions where rental_id = ? and contract <> ?")
			.params(new java.math.BigDecimal(second.rentalId()), LiveAgent.FIXTURE_CONTRACT)
			.query(String.class)
			.single();
		JsonNode held = agent.json(agent.audit("/v1/audit/ip-history?ip=" + ip)).get("leases");
		assertThat(held).hasSize(1);
		assertThat(held.get(0).get("renter").asText()).isEqualTo(second.renter());
		assertThat(held.get(0).get("to").isNull()).as("still held").isTrue();

		assertThat(agent.json(agent.audit("/v1/audit/ip-history?ip=10.77.99.99")).get("leases")).isEmpty();
	}

	@Test
	void eventsOfARentalComeInChainOrder() {
		var first = agent.rentals.get(0);
		JsonNode events = agent.json(agent.audit("/v1/audit/sessions/" + first.rentalId() + "/events"));
		assertThat(fieldNames(events)).startsWith("rentalId", "events");
		assertThat(events.get("rentalId").asLong()).isEqualTo(first.rentalId().longValueExact());
		List<String> kinds = new ArrayList<>();
		List<Long> ids = new ArrayList<>();
		events.get("events").forEach(event -> {
			kinds.add(event.get("kind").asText());
			ids.add(event.get("id").asLong());
			assertThat(fieldNames(event)).contains("id", "at", "kind", "detail");
		});
		assertThat(kinds).startsWith("created", "confirmed").contains("ended");
		assertThat(ids).isSorted();

		JsonNode huge = agent.json(agent.audit("/v1/audit/sessions/" + LiveAgent.HUGE_RENTAL_ID + "/events"));
		assertThat(huge.get("rentalId").asText()).isEqualTo(LiveAgent.HUGE_RENTAL_ID.toString());

		HttpResponse<String> unknown = agent.audit("/v1/audit/sessions/424242/events");
		assertThat(unknown.statusCode()).isEqualTo(404);
		assertThat(agent.json(unknown).get("error").asText()).isEqualTo("not_found");
		String tooBig = BigInteger.TWO.pow(256).toString();
		for (String bad : List.of("abc", "-1", "1.5", "0x10", tooBig, "1".repeat(200))) {
			HttpResponse<String> response = agent.audit("/v1/audit/sessions/" + bad + "/events");
			assertThat(response.statusCode()).as(bad).isEqualTo(400);
			assertThat(agent.json(response).get("error").asText()).isEqualTo("bad_request");
		}
	}

	@Test
	void verifyRecomputesTheWholeChainOfThisHost() {
		JsonNode verdict = agent.json(agent.audit("/v1/audit/verify"));
		assertThat(fieldNames(verdict)).containsExactly("ok", "events", "firstBadEventId");
		assertThat(verdict.get("ok").asBoolean()).isTrue();
		assertThat(verdict.get("firstBadEventId").isNull()).isTrue();
		assertThat(verdict.get("events").asLong()).isGreaterThanOrEqualTo(8)
			.isLessThanOrEqualTo(agent.count("select count(*) from audit_log where host_id = ?", LiveAgent.HOST));
	}

	@Test
	void peersAreAnEmptyListWithoutAnInterface() {
		JsonNode peers = agent.json(agent.audit("/v1/peers"));
		assertThat(fieldNames(peers)).containsExactly("peers");
		assertThat(peers.get("peers")).isEmpty();
	}

	@Test
	void badParametersAreRefusedWithTheErrorFormat() {
		Map<String, String> bad = new LinkedHashMap<>();
		bad.put("/v1/audit/sessions?limit=0", "limit");
		bad.put("/v1/audit/sessions?limit=1001", "limit");
		bad.put("/v1/audit/sessions?limit=ten", "limit");
		bad.put("/v1/audit/sessions?limit=99999999999999999999", "limit");
		bad.put("/v1/audit/sessions?limit=1&limit=2", "limit");
		bad.put("/v1/audit/sessions?state=RUNNING", "state");
		bad.put("/v1/audit/sessions?state=PENDING", "state");
		bad.put("/v1/audit/sessions?renter=0x123", "renter");
		bad.put("/v1/audit/sessions?renter=" + "0x" + "g".repeat(40), "renter");
		bad.put("/v1/audit/sessions?from=yesterday", "from");
		bad.put("/v1/audit/sessions?from=2026-13-01T00:00:00Z", "from");
		bad.put("/v1/audit/sessions?to=2026-01-01T00:00:00", "to");
		bad.put("/v1/audit/sessions?to=%2B999999999-01-01T00:00:00Z", "to");
		bad.put("/v1/audit/sessions?from=2026-02-01&to=2026-01-01", "from");
		bad.put("/v1/audit/sessions?cursor=not-a-cursor", "cursor");
		bad.put("/v1/audit/sessions?cursor=" + java.util.Base64.getUrlEncoder().encodeToString("v1:999999999999999999:1".getBytes()), "cursor");
		bad.put("/v1/audit/sessions?cursor=" + "A".repeat(500), "cursor");
		bad.put("/v1/audit/ip-history", "ip");
		bad.put("/v1/audit/ip-history?ip=", "ip");
		bad.put("/v1/audit/ip-history?ip=10.77.0.256", "ip");
		bad.put("/v1/audit/ip-history?ip=10.77.0", "ip");
		bad.put("/v1/audit/ip-history?ip=example.com", "ip");
		bad.put("/v1/audit/ip-history?ip=10.77.0.5/32", "ip");
		bad.put("/v1/audit/ip-history?ip=" + URLEncoder.encode("10.77.0.5' or '1'='1", StandardCharsets.UTF_8), "ip");
		for (Map.Entry<String, String> entry : bad.entrySet()) {
			HttpResponse<String> response = agent.audit(entry.getKey());
			assertThat(response.statusCode()).as(entry.getKey()).isEqualTo(400);
			JsonNode body = agent.json(response);
			assertThat(fieldNames(body)).as(entry.getKey()).containsExactly("error", "message");
			assertThat(body.get("error").asText()).isEqualTo("invalid_parameter");
			assertThat(body.get("message").asText()).as(entry.getKey()).startsWith(entry.getValue());
		}
		assertThat(agent.audit("/v1/audit/ip-history?ip=::1").statusCode()).as("IPv6 is an address").isEqualTo(200);
	}

	@Test
	void hostileQueryStringsNeverGetA5xx() throws Exception {
		Random random = new Random(20261125);
		List<String> routes = List.of("/v1/audit/sessions", "/v1/audit/ip-history", "/v1/audit/sessions/1/events",
				"/v1/audit/verify", "/v1/peers");
		List<String> names = List.of("renter", "state", "from", "to", "limit", "cursor", "ip", "id", "", "renter[]");
		List<String> nasty = List.of("'%3B%20drop%20table%20audit_log%3B%20--", "1%20or%201=1", "1'--", "%", "%ZZ", "%E2%82", "%C0%AF", "%00",
				"%FF%FE", "..%2F..%2Fetc%2Fpasswd", "${jndi:ldap://127.0.0.1/x}", "<script>alert(1)</script>", "-1", "NaN",
				"1e309", "0x" + "f".repeat(41), "2026-02-30T00:00:00Z", "9999-12-31T23:59:59.9999999Z", "%2B1000000000-01-01",
				"::ffff:10.77.0.5", "10.77.0.5%0d%0aX-Injected:%20yes", "\u00e9", "%F0%9F%9A%80", "A".repeat(2000));
		int requests = 0;
		List<String> failures = new ArrayList<>();
		Map<Integer, Integer> statuses = new java.util.TreeMap<>();
		while (requests < 200) {
			StringBuilder target = new StringBuilder(routes.get(random.nextInt(routes.size()))).append('?');
			int params = 1 + random.nextInt(4);
			for (int p = 0; p < params; p++) {
				if (p > 0) {
					target.append('&');
				}
				target.append(names.get(random.nextInt(names.size()))).append('=');
				target.append(random.nextBoolean() ? nasty.get(random.nextInt(nasty.size())) : randomValue(random));
			}
			int status = agent.rawStatus(target.toString());
			statuses.merge(status, 1, Integer::sum);
			requests++;
			if (status >= 500 || status < 0) {
				failures.add(status + " " + target);
			}
		}
		assertThat(failures).as("requests answered with a 5xx or not at all").isEmpty();
		assertThat(statuses.getOrDefault(400, 0)).as("most were refused as bad input: " + statuses).isGreaterThan(100);
		assertThat(agent.audit("/v1/audit/verify").statusCode()).as("still serving").isEqualTo(200);
		assertThat(agent.count("select count(*) from audit_log")).isPositive();
	}

	static String randomValue(Random random) {
		int length = random.nextInt(random.nextInt(10) == 0 ? 3000 : 40);
		String alphabet = "abcXYZ019-_.~:/?#[]@!$'()*+,;= %\"<>\\^`{|}\t";
		StringBuilder value = new StringBuilder();
		for (int i = 0; i < length; i++) {
			char c = alphabet.charAt(random.nextInt(alphabet.length()));
			// raw bytes a client would never send: keep the request line itself parseable for the
			// server (no space or CR/LF unescaped), everything else goes through as is
			if (c == ' ') {
				value.append("%20");
			}
			else if (c == '\t') {
				value.append("%09");
			}
			else {
				value.append(c);
			}
		}
		return value.toString();
	}

	/** An independent RFC 4180 reader, so the CSV check does not trust the writer. */
	static final class Rfc4180 {

		static List<List<String>> parse(String text) {
			List<List<String>> records = new ArrayList<>();
			List<String> record = new ArrayList<>();
			StringBuilder field = new StringBuilder();
			int i = 0;
			boolean quoted = false;
			while (i < text.length()) {
				char c = text.charAt(i);
				if (quoted) {
					if (c == '"' && i + 1 < text.length() && text.charAt(i + 1) == '"') {
						field.append('"');
						i += 2;
						continue;
					}
					if (c == '"') {
						quoted = false;
					}
					else {
						field.append(c);
					}
					i++;
					continue;
				}
				if (c == '"' && field.isEmpty()) {
					quoted = true;
				}
				else if (c == ',') {
					record.add(field.toString());
					field.setLength(0);
				}
				else if (c == '\r' && i + 1 < text.length() && text.charAt(i + 1) == '\n') {
					record.add(field.toString());
					field.setLength(0);
					records.add(record);
					record = new ArrayList<>();
					i++;
				}
				else {
					field.append(c);
				}
				i++;
			}
			if (!field.isEmpty() || !record.isEmpty()) {
				throw new AssertionError("the last record does not end with CRLF");
			}
			return records;
		}

	}

}
