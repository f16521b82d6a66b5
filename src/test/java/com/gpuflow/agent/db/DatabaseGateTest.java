package com.gpuflow.agent.db;

import java.io.EOFException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicInteger;

import javax.sql.DataSource;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
class DatabaseGateTest {

	interface NextConnection {

		Connection get() throws SQLException;

	}

	/**
	 * A pool that answers getConnection from a script. A JDK proxy, not a mock library: Mockito's
	 * inline mock maker must self-attach an agent to the JVM, which failed under load on Java 25.
	 */
	static DataSource pool(NextConnection next) {
		return (DataSource) Proxy.newProxyInstance(DatabaseGateTest.class.getClassLoader(),
				new Class<?>[] { DataSource.class }, (proxy, method, args) -> {
					if (method.getName().equals("getConnection")) {
						return next.get();
					}
					throw new UnsupportedOperationException(method.getName());
				});
	}

	static Connection connection() {
		return (Connection) Proxy.newProxyInstance(DatabaseGateTest.class.getClassLoader(),
				new Class<?>[] { Connection.class }, (proxy, method, args) -> {
					throw new UnsupportedOperationException(method.getName());
				});
	}

	@Test
	void connectionFailuresCountAsUnreachableButABusyPoolDoesNot() {
		assertThat(DatabaseGate.unreachable(new SQLException("The connection attempt failed.", "08001"))).isTrue();
		assertThat(DatabaseGate.unreachable(new SQLTransientConnectionException("pool - request timed out", "08001",
				new SQLException("refused", "08001")))).isTrue();
		assertThat(DatabaseGate.unreachable(new SQLException("I/O", null, new EOFException()))).isTrue();
		assertThat(DatabaseGate.unreachable(new SQLTransientConnectionException(
				"pool - Connection is not available, request timed out after 3000ms"))).isFalse();
		assertThat(DatabaseGate.unreachable(new SQLException("duplicate key", "23505"))).isFalse();
	}

	@Test
	void onceArmedAnUnreachableDatabaseIsRefusedAtOnceWithoutAskingThePool() throws Exception {
		AtomicInteger asked = new AtomicInteger();
		DataSource pool = pool(() -> {
			asked.incrementAndGet();
			throw new SQLException("The connection attempt failed.", "08001");
		});
		Properties properties = new Properties();
		// Nothing listens on port 1: the probe keeps failing.
		DatabaseGate gate = new DatabaseGate(pool, "jdbc:postgresql://127.0.0.1:1/none", properties, away -> {
		});
		assertThatThrownBy(gate::getConnection).isInstanceOf(SQLException.class);
		assertThat(gate.isOpen()).as("not armed during start-up").isTrue();

		gate.arm();
		assertThatThrownBy(gate::getConnection).isInstanceOf(SQLException.class);
		assertThat(gate.isOpen()).isFalse();
		long started = System.nanoTime();
		assertThatThrownBy(gate::getConnection).isInstanceOf(SQLTransientConnectionException.class)
			.hasMessageContaining("unreachable");
		assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofMillis(100));
		assertThat(asked).hasValue(2);
		gate.close();
	}

	@Test
	void aBusyPoolLeavesTheGateOpen() throws Exception {
		Connection connection = connection();
		AtomicInteger calls = new AtomicInteger();
		DataSource pool = pool(() -> {
			if (calls.getAndIncrement() == 0) {
				throw new SQLTransientConnectionException("request timed out after 3000ms");
			}
			return connection;
		});
		DatabaseGate gate = new DatabaseGate(pool, "jdbc:postgresql://127.0.0.1:1/none", new Properties(), away -> {
		});
		gate.arm();
		assertThatThrownBy(gate::getConnection).isInstanceOf(SQLTransientConnectionException.class);
		assertThat(gate.isOpen()).isTrue();
		assertThat(gate.getConnection()).isSameAs(connection);
	}

	@Test
	void aConnectionFoundBrokenInUseClosesTheGateAndThePoolStillDecides() throws Exception {
		DataSource pool = pool(() -> connection());
		DatabaseGate gate = new DatabaseGate(pool, "jdbc:postgresql://127.0.0.1:1/none", new Properties(), away -> {
		});
		var report = new DatabaseGateConfiguration.ReportToGate(gate);
		gate.arm();
		assertThat(report.adjudicate(new SQLException("duplicate key", "23505")))
			.isEqualTo(com.zaxxer.hikari.SQLExceptionOverride.Override.CONTINUE_EVICT);
		assertThat(gate.isOpen()).as("an error of the statement, not of the connection").isTrue();

		assertThat(report.adjudicate(new SQLException("An I/O error occurred while sending to the backend.", "08006")))
			.isEqualTo(com.zaxxer.hikari.SQLExceptionOverride.Override.CONTINUE_EVICT);
		assertThat(gate.isOpen()).as("closed by a connection broken in use, before anyone waited in the pool").isFalse();
		assertThatThrownBy(gate::getConnection).isInstanceOf(SQLTransientConnectionException.class);
		gate.close();
	}

}
