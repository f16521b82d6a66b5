package com.gpuflow.agent.audit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.gpuflow.agent.GpuflowAgentApplication;
import com.gpuflow.agent.testsupport.AgentContext;
import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.Eventually;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.TestDatabase;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.jdbc.core.simple.JdbcClient;

/**
 * The whole agent on a real anvil and PostgreSQL with a few real rentals, plus rows written with
 * SQL for what the chain cannot give quickly (a rental id above 2^53, an address's lease history).
 * Fixture rows use their own contract address, so the ingester never touches them.
 */
final class LiveAgent implements AutoCloseable {

	static final String HOST = RentalMarketClient.hostId("audit-routes-host");

	static final String TOKEN = "audit-token-for-the-tests-0123456789";

	static final String FIXTURE_CONTRACT = "0x" + "f".repeat(40);

	static final BigInteger HUGE_RENTAL_ID = BigInteger.TWO.pow(53).add(BigInteger.ONE);

	static final String HISTORY_IP = "10.77.200.9";

	static final ObjectMapper JSON = new ObjectMapper();

	final AnvilNode chain;

	final RentalMarketClient market;

	final ConfigurableApplicationContext context;

	final JdbcClient jdbc;

	final List<RentalMarketClient.RentalCreated> rentals = new ArrayList<>();

	final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

	private LiveAgent(AnvilNode chain, RentalMarketClient market, ConfigurableApplicationContext context) {
		this.chain = chain;
		this.market = market;
		this.context = context;
		this.jdbc = context.getBean(JdbcClient.class);
	}

	/**
	 * Three rentals on chain (renter 1 twice, one of them ended; renter 2 once, with its own key),
	 * then the agent, then the SQL fixtures.
	 */
	static LiveAgent start(Class<?>... extraConfiguration) {
		AnvilNode chain = AnvilNode.startDefault();
		try {
			RentalMarketClient market = RentalMarketClient.deploy(chain);
			market.registerHost(0, HOST, BigInteger.ONE);
			var first = market.rent(1, HOST, 3600, RentalMarketClient.ZERO_KEY);
			var second = market.rent(2, HOST, 7200, RentalMarketClient.randomBytes32());
			var third = market.rent(1, HOST, 5400, RentalMarketClient.ZERO_KEY);
			market.endRental(1, first.rentalId());
			Map<String, Object> properties = AgentContext.properties(TestDatabase.create(), chain, market.address(), HOST);
			properties.put("audit-token", TOKEN);
			properties.put("gpuflow.metrics.session-refresh-ms", "200");
			String[] args = properties.entrySet().stream().map(e -> "--" + e.getKey() + "=" + e.getValue()).toArray(String[]::new);
			List<Class<?>> sources = new ArrayList<>(List.of(GpuflowAgentApplication.class));
			sources.addAll(List.of(extraConfiguration));
			ConfigurableApplicationContext context = new SpringApplicationBuilder(sources.toArray(Class<?>[]::new)).run(args);
			LiveAgent agent = new LiveAgent(chain, market, context);
			agent.rentals.addAll(List.of(first, second, third));
			Eventually.await(Duration.ofSeconds(30), "three sessions, the first ended",
					() -> agent.count("select count(*) from sessions where state = 'ACTIVE'") == 2
							&& agent.count("select count(*) from sessions where state = 'ENDED'") == 1);
			agent.insertFixtures();
			return agent;
		}
		catch (RuntimeException | Error e) {
			chain.close();
			throw e;
		}
	}

	long count(String sql, Object... params) {
		return jdbc.sql(sql).params(params).query(Long.class).single();
	}

	int port() {
		return Integer.parseInt(context.getEnvironment().getProperty("local.server.port"));
	}

	/** Two earlier holders of {@link #HISTORY_IP} (one of them the huge rental id), none now. */
	private void insertFixtures() {
		long older = fixtureSession(BigInteger.valueOf(900_001), "0x" + "a".repeat(40), "2026-01-05T10:00:00Z",
				"2026-01-05T12:00:00Z", "ended");
		long newer = fixtureSession(HUGE_RENTAL_ID, "0x" + "b".repeat(40), "2026-01-06T09:00:00Z", "2026-01-06T15:30:00Z",
				"ended by operator, \"for maintenance\"\nsee ticket 7");
		lease(older, "2026-01-05T10:00:05Z", "2026-01-05T12:00:00Z");
		lease(newer, "2026-01-06T09:00:05Z", "2026-01-06T15:30:00Z");
	}

	private long fixtureSession(BigInteger rentalId, String renter, String from, String to, String endReason) {
		long event = jdbc.sql("""
				insert into chain_events (host_id, contract, block_number, block_hash, tx_hash, log_index, kind, rental_id, payload)
				values (?, ?, 0, '0x00', ?, 0, 'RentalCreated', ?, '{}'::jsonb) returning id""")
			.params(HOST, FIXTURE_CONTRACT, "0xfixture" + rentalId, new BigDecimal(rentalId))
			.query(Long.class)
			.single();
		long session = jdbc.sql("""
				insert into sessions (host_id, contract, rental_id, renter, state, starts_at, ends_at, created_event_id,
				                      key_source, peer_public_key, tunnel_ip, created_at, confirmed_at, peer_added_at,
				                      ended_at, end_reason, rx_bytes, tx_bytes)
				values (?, ?, ?, ?, 'ENDED', ?::timestamptz, ?::timestamptz, ?, 'RENTER', ?, ?::inet, ?::timestamptz,
				        ?::timestamptz, ?::timestamptz, ?::timestamptz, ?, 123456789012, 987654321)
				returning id""")
			.params(HOST, FIXTURE_CONTRACT, new BigDecimal(rentalId), renter, from, to, event,
					"fixture" + rentalId + "=", HISTORY_IP, from, from, from, to, endReason)
			.query(Long.class)
			.single();
		jdbc.sql("insert into audit_log (host_id, session_id, rental_id, kind, detail) values (?, ?, ?, 'created', 'fixture')")
			.params(HOST, session, new BigDecimal(rentalId))
			.update();
		return session;
	}

	private void lease(long session, String from, String to) {
		jdbc.sql("""
				insert into leases (host_id, ip, session_id, held_from, held_to, reserved)
				values (?, ?::inet, ?, ?::timestamptz, ?::timestamptz,
				        tstzrange(?::timestamptz, ?::timestamptz + interval '10 minutes'))""")
			.params(HOST, HISTORY_IP, session, from, to, from, to)
			.update();
	}

	HttpResponse<String> get(String pathAndQuery, String... headers) {
		HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port() + pathAndQuery))
			.timeout(Duration.ofSeconds(20));
		if (headers.length > 0) {
			request.headers(headers);
		}
		try {
			return http.send(request.GET().build(), HttpResponse.BodyHandlers.ofString());
		}
		catch (IOException e) {
			throw new java.io.UncheckedIOException(e);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(e);
		}
	}

	HttpResponse<String> audit(String pathAndQuery, String... headers) {
		List<String> all = new ArrayList<>(List.of("Authorization", "Bearer " + TOKEN));
		all.addAll(List.of(headers));
		return get(pathAndQuery, all.toArray(String[]::new));
	}

	JsonNode json(HttpResponse<String> response) {
		try {
			return JSON.readTree(response.body());
		}
		catch (IOException e) {
			throw new AssertionError("not JSON: " + response.body(), e);
		}
	}

	/**
	 * A request line sent as raw bytes, so the test can send what well-behaved clients refuse to
	 * build (bad percent-encoding, raw spaces, control characters). Returns the status code.
	 */
	int rawStatus(String target) throws IOException {
		try (Socket socket = new Socket("127.0.0.1", port())) {
			socket.setSoTimeout(20_000);
			OutputStream out = socket.getOutputStream();
			out.write(("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + TOKEN
					+ "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
			out.flush();
			InputStream in = socket.getInputStream();
			StringBuilder line = new StringBuilder();
			int b;
			while ((b = in.read()) >= 0 && b != '\n') {
				line.append((char) b);
			}
			String[] parts = line.toString().split(" ");
			if (parts.length < 2) {
				// The server closed without answering: not a 5xx, but worth seeing as a distinct code.
				return -1;
			}
			return Integer.parseInt(parts[1]);
		}
	}

	@Override
	public void close() {
		try {
			context.close();
		}
		finally {
			chain.close();
		}
	}

}
