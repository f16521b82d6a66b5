package com.gpuflow.agent.fleet;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Properties;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.jdbc.DataSourceProperties;
import org.springframework.stereotype.Component;

/**
 * Connections outside the pool, straight to PostgreSQL, for what must live on one server session:
 * the advisory locks (released when the session ends, which is how a dead agent gives up its host
 * and its reader term) and LISTEN. A pool would hand the session to someone else; a PgBouncer in
 * transaction mode breaks both, which is why these go to the database's own address:
 * {@code GPUFLOW_FLEET_DIRECT_URL} when {@code SPRING_DATASOURCE_URL} points at such a pooler.
 */
@Component
class DirectConnections {

	private final DataSourceProperties properties;

	private final String url;

	DirectConnections(DataSourceProperties properties, @Value("${gpuflow.fleet.direct-url:}") String directUrl) {
		this.properties = properties;
		this.url = directUrl.isBlank() ? properties.determineUrl() : directUrl;
	}

	/** @param socketTimeoutSeconds how long a call may wait for the server before it fails */
	Connection open(String applicationName, int socketTimeoutSeconds) throws SQLException {
		Properties props = new Properties();
		if (properties.determineUsername() != null) {
			props.setProperty("user", properties.determineUsername());
		}
		if (properties.determinePassword() != null) {
			props.setProperty("password", properties.determinePassword());
		}
		props.setProperty("connectTimeout", "3");
		props.setProperty("socketTimeout", Integer.toString(socketTimeoutSeconds));
		props.setProperty("tcpKeepAlive", "true");
		props.setProperty("ApplicationName", applicationName);
		Connection connection = DriverManager.getConnection(url, props);
		connection.setAutoCommit(true);
		return connection;
	}

}
