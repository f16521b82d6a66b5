package com.gpuflow.agent.api;

import java.time.Clock;
import java.util.HashMap;
import java.util.Map;

import com.fasterxml.jackson.databind.ObjectMapper;
import javax.sql.DataSource;

import com.gpuflow.agent.audit.AuditLog;
import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.config.ConnectionSettings;
import com.gpuflow.agent.ipam.Leases;
import com.gpuflow.agent.keys.RenterKeyVault;
import com.gpuflow.agent.keys.ServerIdentity;
import com.gpuflow.agent.rental.RenterSessions;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import reactor.core.scheduler.Schedulers;

import org.springframework.context.annotation.AnnotationConfigApplicationContext;
import org.springframework.http.HttpStatus;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.jdbc.datasource.DriverManagerDataSource;
import org.springframework.test.web.reactive.server.WebTestClient;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * A database that cannot be reached (or a pool with no free connection under load) is a 503 with
 * the SPEC's error body, which a renter can retry, never a 500.
 */
class RenterDatabaseDownTests {

	/** The rental package's renter face, wired by Spring as the agent wires it, over the given database. */
	private static RenterSessions renterSessionsOver(DataSource dataSource, AgentSettings settings) {
		AnnotationConfigApplicationContext context = new AnnotationConfigApplicationContext();
		context.registerBean(AgentSettings.class, () -> settings);
		context.registerBean(ConnectionSettings.class, () -> ConnectionSettings.from(key -> null));
		context.registerBean(JdbcClient.class, () -> JdbcClient.create(dataSource));
		context.registerBean(TransactionTemplate.class,
				() -> new TransactionTemplate(new DataSourceTransactionManager(dataSource)));
		context.registerBean(MeterRegistry.class, SimpleMeterRegistry::new);
		context.registerBean(RenterKeyVault.class, () -> new RenterKeyVault(settings));
		context.registerBean(ServerIdentity.class, () -> () -> "c2VydmVyLXB1YmxpYy1rZXktZm9yLXRlc3RzLTMyYg==");
		context.scan("com.gpuflow.agent.rental");
		context.registerBean(AuditLog.class);
		context.registerBean(Leases.class);
		context.refresh();
		return context.getBean(RenterSessions.class);
	}

	@Test
	void anUnreachableDatabaseIsA503WithTheErrorFormat() {
		// Port 1 on loopback: nothing listens, the connection is refused at once.
		DriverManagerDataSource nowhere = new DriverManagerDataSource("jdbc:postgresql://127.0.0.1:1/gpuflow?connectTimeout=2",
				"gpuflow", "gpuflow");
		Map<String, String> properties = new HashMap<>();
		properties.put("host-id", "0x" + "3c".repeat(32));
		properties.put("rental-contract", "0x" + "1".repeat(40));
		properties.put("wg.endpoint", "127.0.0.1:51820");
		AgentSettings settings = AgentSettings.from(properties::get);
		RenterSessions sessions = renterSessionsOver(nowhere, settings);
		RenterService service = new RenterService(sessions, () -> 31337L,
				() -> "c2VydmVyLXB1YmxpYy1rZXktZm9yLXRlc3RzLTMyYg==", settings, Clock.systemUTC(),
				new ChallengeNonce(new byte[32]), new SpentNonces(JdbcClient.create(nowhere), settings),
				new IssuingLookups(sessions), null);
		RenterHandler handler = new RenterHandler(service, Schedulers.boundedElastic(), new ObjectMapper(), 16);
		WebTestClient client = WebTestClient.bindToRouterFunction(new RenterApiConfiguration().renterRoutes(handler)).build();

		client.get().uri("/v1/rentals/1").exchange().expectStatus().isEqualTo(HttpStatus.SERVICE_UNAVAILABLE)
			.expectBody().jsonPath("$.error").isEqualTo("unavailable");
		client.post().uri("/v1/rentals/1/challenge").exchange().expectStatus().isEqualTo(HttpStatus.SERVICE_UNAVAILABLE)
			.expectBody().jsonPath("$.error").isEqualTo("unavailable");
		client.post()
			.uri("/v1/rentals/1/config")
			.bodyValue(Map.of("message", "hello", "signature", "0x" + "00".repeat(65)))
			.exchange()
			.expectStatus()
			.isEqualTo(HttpStatus.SERVICE_UNAVAILABLE)
			.expectBody()
			.jsonPath("$.error")
			.isEqualTo("unavailable");
	}

}
