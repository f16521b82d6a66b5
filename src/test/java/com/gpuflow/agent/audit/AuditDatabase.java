package com.gpuflow.agent.audit;

import java.util.HashMap;
import java.util.Map;

import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.testsupport.RentalMarketClient;
import com.gpuflow.agent.testsupport.TestDatabase;
import org.flywaydb.core.Flyway;

import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.jdbc.datasource.DriverManagerDataSource;

/** A fresh, migrated database and the audit classes over it, without starting the agent. */
record AuditDatabase(TestDatabase.Connection connection, DriverManagerDataSource dataSource, JdbcClient jdbc,
		AgentSettings settings) {

	static final String HOST = RentalMarketClient.hostId("audit-host");

	static final String OTHER_HOST = RentalMarketClient.hostId("audit-other-host");

	static AuditDatabase create() {
		TestDatabase.Connection connection = TestDatabase.create();
		DriverManagerDataSource dataSource = new DriverManagerDataSource(connection.url(), connection.username(),
				connection.password());
		Flyway.configure().dataSource(dataSource).locations("classpath:db/migration").load().migrate();
		return new AuditDatabase(connection, dataSource, JdbcClient.create(dataSource), settings(HOST));
	}

	static AgentSettings settings(String hostId) {
		Map<String, String> properties = new HashMap<>();
		properties.put("host-id", hostId);
		properties.put("rental-contract", "0x" + "1".repeat(40));
		properties.put("wg.endpoint", "127.0.0.1:51820");
		properties.put("audit-token", "a-test-token-of-enough-length");
		return AgentSettings.from(properties::get);
	}

	AuditChainVerifier verifier() {
		return verifier(HOST);
	}

	AuditChainVerifier verifier(String hostId) {
		return new AuditChainVerifier(jdbc, new DataSourceTransactionManager(dataSource), settings(hostId));
	}

	/** Appends through the trigger, as {@link AuditLog} does; returns the id the chain gave the row. */
	long append(String hostId, Long sessionId, Long rentalId, String kind, String detail) {
		return jdbc.sql("""
				insert into audit_log (host_id, session_id, rental_id, kind, detail) values (?, ?, ?, ?, ?) returning id""")
			.params(hostId, sessionId, rentalId == null ? null : new java.math.BigDecimal(rentalId), kind, detail)
			.query(Long.class)
			.single();
	}

}
