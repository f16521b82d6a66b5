package com.gpuflow.agent.testsupport;

import java.io.IOException;
import java.net.URI;
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

		/** A proxy in front of this database's server, for a test that cuts the agent off from it. */
		public TcpProxy proxy() throws IOException {
			URI server = server();
			return new TcpProxy(server.getHost(), server.getPort());
		}

		/** This database's JDBC URL with {@code proxy} in place of the server. */
		public String urlThrough(TcpProxy proxy) {
			return url.replace(":" + server().getPort() + "/", ":" + proxy.port() + "/");
		}

		private URI server() {
			return URI.create(url.substring("jdbc:".length()));
		}

	}

	private static final String PREFIX = "gpuflow_test_";

	/** Older than this, a test database belongs to a run that is over (a suite takes minutes). */
	private static final long STALE_AFTER_SECONDS = 6 * 3600;

	private static PostgreSQLContainer<?> container;

	private static boolean staleDropped;

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
		// The creation time in the name lets a later run drop what an earlier one left behind.
		String name = PREFIX + Long.toString(System.currentTimeMillis() / 1000, 36) + "_"
				+ UUID.randomUUID().toString().replace("-", "").substring(0, 12);
		try (java.sql.Connection admin = DriverManager.getConnection(adminUrl, user, password);
				Statement statement = admin.createStatement()) {
			if (!staleDropped) {
				staleDropped = true;
				dropStale(admin);
			}
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

	/**
	 * Drops the test databases of runs that ended hours ago, so repeated runs on one server do not
	 * fill its disk. Only names this class made, with a creation time well past, and without
	 * {@code FORCE}: a database someone is still connected to stays.
	 */
	private static void dropStale(java.sql.Connection admin) throws SQLException {
		long now = System.currentTimeMillis() / 1000;
		java.util.List<String> stale = new java.util.ArrayList<>();
		try (Statement statement = admin.createStatement();
				java.sql.ResultSet names = statement
					.executeQuery("select datname from pg_database where datname like '" + PREFIX + "%'")) {
			while (names.next()) {
				String name = names.getString(1);
				String[] parts = name.substring(PREFIX.length()).split("_");
				if (parts.length != 2) {
					continue; // a name from before the time was part of it: left for an operator
				}
				try {
					if (now - Long.parseLong(parts[0], 36) > STALE_AFTER_SECONDS) {
						stale.add(name);
					}
				}
				catch (NumberFormatException notOurs) {
					// not a name this class made
				}
			}
		}
		for (String name : stale) {
			try (Statement statement = admin.createStatement()) {
				statement.execute("drop database if exists " + name);
			}
			catch (SQLException inUse) {
				// still connected: a run that is not over, or will be dropped next time
			}
		}
	}

}
