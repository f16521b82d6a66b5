package com.gpuflow.agent.audit;

import org.junit.jupiter.api.Test;

import org.springframework.http.HttpStatus;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.jdbc.datasource.DriverManagerDataSource;
import org.springframework.test.web.reactive.server.WebTestClient;

/** With the database away, the routes say so with 503 and the error format, not a bare 500. */
class AuditDatabaseDownTest {

	@Test
	void anUnreachableDatabaseIsA503WithTheErrorFormat() {
		// Port 1 on loopback: nothing listens, the connection is refused at once.
		DriverManagerDataSource nowhere = new DriverManagerDataSource("jdbc:postgresql://127.0.0.1:1/gpuflow?connectTimeout=2",
				"gpuflow", "gpuflow");
		var settings = AuditDatabase.settings(AuditDatabase.HOST);
		JdbcClient jdbc = JdbcClient.create(nowhere);
		AuditHandler handler = new AuditHandler(settings, new AuditReader(jdbc, settings),
				new AuditChainVerifier(jdbc, new DataSourceTransactionManager(nowhere), settings), java.util.List::of);
		WebTestClient client = WebTestClient.bindToRouterFunction(new AuditRoutes().auditRouter(handler,
				// not asked here: the health route reports a database down inside its body, not as a 503
				new AuditHealth(null))).build();
		for (String route : new String[] { "/v1/audit/sessions", "/v1/audit/ip-history?ip=10.77.0.2",
				"/v1/audit/sessions/1/events", "/v1/audit/verify" }) {
			client.get()
				.uri(route)
				.header("Authorization", "Bearer a-test-token-of-enough-length")
				.exchange()
				.expectStatus()
				.isEqualTo(HttpStatus.SERVICE_UNAVAILABLE)
				.expectBody()
				.jsonPath("$.error")
				.isEqualTo("unavailable");
		}
	}

}
