package com.gpuflow.agent.testsupport;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;

import org.testcontainers.containers.PostgreSQLContainer;

/**
 * A fresh, empty database per call on a real PostgreSQL. The server comes from
 * {@code GPUFLOW_TEST_DATABASE_URL} (a JDBC URL of any database on it, for example
 * {@code jdbc:postgresql://127.0.0.1:5432/postgres}) with {@code GPUFLOW_TEST_DATABASE_USER} and
 * {@code GPUFLOW_TEST_DATABASE_PASSWORD}; without it, a Testcontainers PostgreSQL is started.
 */
public final class TestDatabase {

	public record Connection(String url, String username, String password) {

		public java.sql.Connection open() throws SQLException {
			return DriverManager.getConnection(url, username, password);
		}

	}

	private static PostgreSQLContainer<?> container;

	private TestDatabase() {
	}

	public static synchronized Connection create() {
		String adminUrl = System.getenv("GPUFLOW_TEST_DATABASE_URL");
		String user = System.getenv().getOrDefault("GPUFLOW_TEST_DATABASE_USER", "gpuflow");
		String password = System.getenv().getOrDefault("GPUFLOW_TEST_DATABASE_PASSWORD", "gpuflow");
		if (adminUrl == null || adminUrl.isBlank()) {
			if (container == null) {
				container = new PostgreSQLContainer<>("postgres:15-alpine");
				container.start();
			}
			adminUrl = container.getJdbcUrl();
			user = container.getUsername();
			password = container.getPassword();
		}
		String name = "gpuflow_test_" + UUID.randomUUID().toString().replace("-", "").substring(0, 16);
		try (java.sql.Connection admin = DriverManager.getConnection(adminUrl, user, password);
				Statement statement = admin.createStatement()) {
			statement.execute("create database " + name);
		}
		catch (SQLException e) {
			throw new IllegalStateException("cannot create a test database on " + adminUrl + ": " + e.getMessage(), e);
		}
		int slash = adminUrl.lastIndexOf('/');
		int query = adminUrl.indexOf('?', slash);
		String url = adminUrl.substring(0, slash + 1) + name + (query > 0 ? adminUrl.substring(query) : "");
		return new Connection(url, user, password);
	}

}
