package com.gpuflow.agent.api;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

import javax.sql.DataSource;

import com.gpuflow.agent.keys.KeySealer;
import com.gpuflow.agent.keys.WireGuardKeys;
import com.gpuflow.agent.rental.SessionsChanged;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.junit.jupiter.api.BeforeEach;
import org.web3j.crypto.Credentials;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.context.event.EventListener;
import org.springframework.http.MediaType;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.jdbc.datasource.DelegatingDataSource;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * The running agent over real HTTP on a fresh PostgreSQL database, with a clock the tests move, a
 * fixed chain id, and fixtures that insert sessions the way the chain ingester does.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
		properties = { "host-id=0x1111111111111111111111111111111111111111111111111111111111111111",
				"rental-contract=0x2222222222222222222222222222222222222222", "wg.endpoint=127.0.0.1:51820",
				"gpuflow.public-url=https://gpu.example.org", "gpuflow.tls=off", "gpuflow.rate-limit=0",
				"gpuflow.key-encryption-key=" + RenterApiTestSupport.KEY_ENCRYPTION_KEY })
@Import(RenterApiTestSupport.Beans.class)
abstract class RenterApiTestSupport {

	static final String KEY_ENCRYPTION_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

	/**
	 * The host id of the default context. A subclass with a context of its own (its own
	 * {@code @TestPropertySource}) names another: cached contexts live side by side on the one database
	 * below, as agents of different hosts would, and a second agent of one host would not start.
	 */
	static final String HOST_ID = "0x" + "11".repeat(32);

	static final String CONTRACT = "0x" + "22".repeat(20);

	static final long CHAIN_ID = 31337;

	static final Credentials RENTER = Credentials.create(CastWallet.PRIVATE_KEY);

	static final Credentials STRANGER = Credentials
		.create("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");

	private static final TestDatabase.Connection DATABASE = TestDatabase.create();

	private static final Path KEY_DIRECTORY;

	static {
		try {
			KEY_DIRECTORY = Files.createTempDirectory("gpuflow-api-test");
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
	}

	// Shared by every test class in the JVM (their contexts share one database), so ids never collide.
	private static final AtomicLong NEXT_RENTAL = new AtomicLong(1000);

	static Path serverKeyFile() {
		return KEY_DIRECTORY.resolve("server.key");
	}

	@DynamicPropertySource
	static void database(DynamicPropertyRegistry registry) {
		registry.add("spring.datasource.url", DATABASE::url);
		registry.add("spring.datasource.username", DATABASE::username);
		registry.add("spring.datasource.password", DATABASE::password);
		registry.add("wg.private-key-file", () -> serverKeyFile().toString());
	}

	@TestConfiguration(proxyBeanMethods = false)
	static class Beans {

		@Bean
		@Primary
		MutableClock testClock() {
			return new MutableClock();
		}

		@Bean
		@Primary
		ChainIdSource fixedChainId() {
			return () -> CHAIN_ID;
		}

		@Bean
		JdbcThreads jdbcThreads() {
			return new JdbcThreads();
		}

		@Bean
		static BeanPostProcessor recordJdbcThreads() {
			return new BeanPostProcessor() {
				@Override
				public Object postProcessAfterInitialization(Object bean, String name) {
					return bean instanceof DataSource dataSource && !(bean instanceof RecordingDataSource)
							? new RecordingDataSource(dataSource) : bean;
				}
			};
		}

		@Bean
		PublishedEvents publishedEvents() {
			return new PublishedEvents();
		}

	}

	/** The threads that opened a JDBC connection. */
	static final class JdbcThreads {

		static final int LIMIT = 1_000;

		static final List<Thread> THREADS = new CopyOnWriteArrayList<>();

		List<Thread> threads() {
			return THREADS;
		}

		void clear() {
			THREADS.clear();
		}

	}

	static final class RecordingDataSource extends DelegatingDataSource {

		RecordingDataSource(DataSource target) {
			super(target);
		}

		@Override
		public Connection getConnection() throws SQLException {
			// Bounded: a copy-on-write list that grew by every connection of a benchmark run cost
			// quadratic copying (over a gigabyte of garbage per 15 s) and skewed its figures.
			if (JdbcThreads.THREADS.size() < JdbcThreads.LIMIT) {
				JdbcThreads.THREADS.add(Thread.currentThread());
			}
			return super.getConnection();
		}

	}

	static final class PublishedEvents {

		final List<SessionsChanged> sessionsChanged = new CopyOnWriteArrayList<>();

		@EventListener
		void on(SessionsChanged event) {
			sessionsChanged.add(event);
		}

	}

	record Fixture(long sessionId, BigInteger rentalId, String tunnelIp, String peerPublicKey, String privateKey) {

		String path(String suffix) {
			return "/v1/rentals/" + rentalId + suffix;
		}

		@Override
		public String toString() {
			return "Fixture[rental=" + rentalId + "]";
		}

	}

	enum KeySource {

		RENTER, GENERATED

	}

	@LocalServerPort
	int port;

	/** This context's host id ({@link #HOST_ID} unless the subclass names its own). */
	@Value("${host-id}")
	String hostId;

	@Autowired
	WebTestClient web;

	@Autowired
	JdbcClient jdbc;

	@Autowired
	MutableClock clock;

	@Autowired
	JdbcThreads jdbcThreads;

	@Autowired
	PublishedEvents events;

	final KeySealer sealer = new KeySealer(Base64.getDecoder().decode(KEY_ENCRYPTION_KEY));

	@BeforeEach
	void resetClock() {
		clock.reset();
		web = web.mutate().responseTimeout(Duration.ofSeconds(30)).build();
	}

	BigInteger nextRentalId() {
		return BigInteger.valueOf(NEXT_RENTAL.incrementAndGet());
	}

	Fixture session(KeySource keySource) {
		return session(nextRentalId(), keySource, "ACTIVE", clock.instant().plus(Duration.ofHours(1)), RENTER.getAddress());
	}

	/** A session as the chain ingester writes it, with the chain event that created it. */
	Fixture session(BigInteger rentalId, KeySource keySource, String state, Instant endsAt, String renter) {
		Instant now = clock.instant();
		long eventId = jdbc.sql("""
				insert into chain_events (host_id, contract, block_number, block_hash, tx_hash, log_index, kind, rental_id, payload)
				values (?, ?, 7, ?, ?, 0, 'RentalCreated', ?, '{}'::jsonb) returning id""")
			.params(hostId, CONTRACT, "0x" + "ab".repeat(32), "0x" + rentalId.toString(16) + "-" + System.nanoTime(),
					new BigDecimal(rentalId))
			.query(Long.class)
			.single();
		WireGuardKeys.KeyPairText pair = WireGuardKeys.generate();
		long n = rentalId.mod(BigInteger.valueOf(65000)).longValue() + 2;
		String tunnelIp = "10.77." + (n / 256) + "." + (n % 256);
		long sessionId = jdbc.sql("""
				insert into sessions (host_id, contract, rental_id, renter, state, starts_at, ends_at, created_event_id,
				    key_source, peer_public_key, tunnel_ip, created_at, confirmed_at, peer_added_at)
				values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::inet, ?, ?, ?) returning id""")
			.params(hostId, CONTRACT, new BigDecimal(rentalId), renter.toLowerCase(), state,
					now.minus(Duration.ofMinutes(1)).atOffset(ZoneOffset.UTC), endsAt.atOffset(ZoneOffset.UTC), eventId,
					keySource.name(), pair.publicKey(), tunnelIp, now.atOffset(ZoneOffset.UTC),
					now.atOffset(ZoneOffset.UTC), now.atOffset(ZoneOffset.UTC))
			.query(Long.class)
			.single();
		if (keySource == KeySource.GENERATED) {
			jdbc.sql("update sessions set sealed_private_key = ? where id = ?")
				.params(sealer.seal(pair.privateKey(), sessionId), sessionId)
				.update();
			return new Fixture(sessionId, rentalId, tunnelIp, pair.publicKey(), pair.privateKey());
		}
		return new Fixture(sessionId, rentalId, tunnelIp, pair.publicKey(), null);
	}

	BigInteger pendingRental() {
		BigInteger rentalId = nextRentalId();
		Instant now = clock.instant();
		jdbc.sql("""
				insert into pending_rentals (host_id, contract, rental_id, renter, starts_at, ends_at, block_number)
				values (?, ?, ?, ?, ?, ?, 9)""")
			.params(hostId, CONTRACT, new BigDecimal(rentalId), RENTER.getAddress(), now.atOffset(ZoneOffset.UTC),
					now.plus(Duration.ofHours(1)).atOffset(ZoneOffset.UTC))
			.update();
		return rentalId;
	}

	String challenge(Fixture fixture) {
		return challenge(fixture.rentalId());
	}

	String challenge(BigInteger rentalId) {
		return challenge(rentalId, Purpose.CONFIG);
	}

	/** A challenge for {@code purpose}: {@code ?purpose=} is sent only for other purposes than config. */
	String challenge(BigInteger rentalId, Purpose purpose) {
		String query = purpose == Purpose.CONFIG ? "" : "?purpose=" + purpose.wire();
		Map<?, ?> body = web.post()
			.uri("/v1/rentals/" + rentalId + "/challenge" + query)
			.exchange()
			.expectStatus()
			.isOk()
			.expectBody(Map.class)
			.returnResult()
			.getResponseBody();
		return (String) body.get("message");
	}

	/** A fresh config challenge signed by the renter, as the body of config. */
	Map<String, String> signedBody(Fixture fixture) {
		return signedBody(fixture, Purpose.CONFIG);
	}

	/** A fresh challenge for {@code purpose} signed by the renter. */
	Map<String, String> signedBody(Fixture fixture, Purpose purpose) {
		return signedBy(RENTER, challenge(fixture.rentalId(), purpose));
	}

	/** A config or rekey body: {@code message} with {@code signer}'s personal_sign of it. */
	static Map<String, String> signedBy(Credentials signer, String message) {
		return Map.of("message", message, "signature", Signatures.personalSign(signer, message));
	}

	WebTestClient.ResponseSpec post(String path, Object body) {
		return web.post().uri(path).contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange();
	}

	static final java.net.http.HttpClient HTTP = java.net.http.HttpClient.newBuilder()
		.version(java.net.http.HttpClient.Version.HTTP_1_1)
		.build();

	/** A request exactly as given, for headers a well-behaved client library refuses to send. */
	java.net.http.HttpResponse<String> raw(String method, String path, String contentType, byte[] body) {
		java.net.http.HttpRequest.Builder request = java.net.http.HttpRequest
			.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + path))
			.timeout(Duration.ofSeconds(30))
			.method(method, java.net.http.HttpRequest.BodyPublishers.ofByteArray(body));
		if (contentType != null) {
			request.header("Content-Type", contentType);
		}
		try {
			return HTTP.send(request.build(), java.net.http.HttpResponse.BodyHandlers.ofString());
		}
		catch (IOException e) {
			throw new UncheckedIOException(e);
		}
		catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException(e);
		}
	}

	String sessionsSnapshot() {
		return String.join("\n", jdbc.sql("select row_to_json(s)::text from sessions s order by id").query(String.class).list());
	}

	String auditSnapshot() {
		return String.join("\n", jdbc.sql("select row_to_json(a)::text from audit_log a order by id").query(String.class).list());
	}

	List<String> auditKinds(Fixture fixture) {
		return jdbc.sql("select kind from audit_log where session_id = ? order by id")
			.param(fixture.sessionId())
			.query(String.class)
			.list();
	}

}
