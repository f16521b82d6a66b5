package com.gpuflow.agent.db;

import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.SQLTransientConnectionException;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.logging.Logger;

import javax.sql.DataSource;

import org.slf4j.LoggerFactory;

/**
 * The agent's DataSource in front of the connection pool. When taking a connection fails because
 * the database cannot be reached (SQLState class 08), the gate closes: every caller then fails at
 * once instead of each waiting out the pool's connection timeout, and one probe thread tries a
 * plain connection, not from the pool, every {@link #PROBE_INTERVAL}. The first probe that gets an
 * answer opens the gate and tells the agent, which reconciles and ingests at once.
 *
 * <p>
 * Why not let the pool find out by itself: HikariCP retries a failed connection with a backoff that
 * grows to 5 s, on a single thread, for as long as anyone waits for a connection. After a long
 * outage the first connection after the database returned came up to 5 s late, and every pass
 * and ingestion step meanwhile waited 3 s for nothing. With the gate closed nobody waits in the
 * pool, so its retry loop ends, and the first request after the probe succeeded starts a fresh one.
 * A pool that is merely busy (all connections in use, no cause) does not close the gate. A
 * connection the pool finds broken in use (SQLState class 08) closes it too; if the database is in
 * fact fine, the first probe opens it again a few milliseconds later.
 */
public final class DatabaseGate implements DataSource, AutoCloseable {

	private static final org.slf4j.Logger log = LoggerFactory.getLogger(DatabaseGate.class);

	public static final Duration PROBE_INTERVAL = Duration.ofMillis(250);

	private static final int PROBE_TIMEOUT_SECONDS = 2;

	private final DataSource pool;

	private final String url;

	private final Properties probeProperties;

	private final Consumer<Duration> onReachable;

	private final AtomicBoolean closed = new AtomicBoolean();

	private volatile boolean armed;

	private volatile long closedAtNanos;

	private volatile String reason = "";

	/**
	 * @param pool the connection pool
	 * @param url the JDBC URL the probe connects to
	 * @param properties user, password and driver properties of the pool's connections
	 * @param onReachable called on the probe thread when the database answers again, with how long it was away
	 */
	public DatabaseGate(DataSource pool, String url, Properties properties, Consumer<Duration> onReachable) {
		this.pool = pool;
		this.url = url;
		this.probeProperties = new Properties();
		this.probeProperties.putAll(properties);
		this.probeProperties.setProperty("connectTimeout", Integer.toString(PROBE_TIMEOUT_SECONDS));
		this.probeProperties.setProperty("socketTimeout", Integer.toString(PROBE_TIMEOUT_SECONDS));
		this.probeProperties.setProperty("loginTimeout", Integer.toString(PROBE_TIMEOUT_SECONDS));
		this.probeProperties.setProperty("ApplicationName", "gpuflow-agent-probe");
		this.onReachable = onReachable;
	}

	/** From now on a failure to reach the database closes the gate (not during start-up and migration). */
	public void arm() {
		this.armed = true;
	}

	public boolean isOpen() {
		return !this.closed.get();
	}

	public DataSource pool() {
		return this.pool;
	}

	@Override
	public Connection getConnection() throws SQLException {
		return throughGate(this.pool::getConnection);
	}

	@Override
	public Connection getConnection(String username, String password) throws SQLException {
		return throughGate(() -> this.pool.getConnection(username, password));
	}

	private interface ConnectionSource {

		Connection get() throws SQLException;

	}

	private Connection throughGate(ConnectionSource source) throws SQLException {
		if (this.closed.get()) {
			throw new SQLTransientConnectionException("the database is unreachable (" + this.reason
					+ "); probing every " + PROBE_INTERVAL.toMillis() + " ms", "08001");
		}
		try {
			return source.get();
		}
		catch (SQLException e) {
			failed(e);
			throw e;
		}
	}

	/**
	 * A statement on a connection already taken from the pool failed. The pool reports its
	 * connections' failures here ({@link DatabaseGateConfiguration}), so a database that goes away
	 * under a running statement closes the gate at once, not only after the next caller has waited
	 * out the pool's connection timeout.
	 */
	void connectionFailed(SQLException e) {
		failed(e);
	}

	private void failed(SQLException e) {
		if (!this.armed || !unreachable(e) || !this.closed.compareAndSet(false, true)) {
			return;
		}
		this.closedAtNanos = System.nanoTime();
		this.reason = String.valueOf(e.getMessage());
		log.warn("Database unreachable ({}); failing fast and probing every {} ms until it answers", this.reason,
				PROBE_INTERVAL.toMillis());
		Thread.ofPlatform().name("database-probe").daemon().start(this::probe);
	}

	/** A connection-class failure anywhere in the chain; a pool timeout without a cause is only busy. */
	static boolean unreachable(Throwable e) {
		for (Throwable t = e; t != null; t = t.getCause()) {
			if (t instanceof SQLException sql && sql.getSQLState() != null && sql.getSQLState().startsWith("08")) {
				return true;
			}
			if (t instanceof java.net.ConnectException || t instanceof java.io.EOFException
					|| t instanceof java.net.SocketTimeoutException || t instanceof java.net.UnknownHostException) {
				return true;
			}
			if (t.getCause() == t) {
				break;
			}
		}
		return false;
	}

	private void probe() {
		while (this.closed.get()) {
			long started = System.nanoTime();
			try (Connection connection = DriverManager.getConnection(this.url, this.probeProperties)) {
				if (connection.isValid(PROBE_TIMEOUT_SECONDS)) {
					Duration away = Duration.ofNanos(System.nanoTime() - this.closedAtNanos);
					this.closed.set(false);
					log.info("Database reachable again after {} ms", away.toMillis());
					try {
						this.onReachable.accept(away);
					}
					catch (RuntimeException listener) {
						log.warn("A listener of the database's return failed: {}", listener.toString());
					}
					return;
				}
			}
			catch (SQLException stillAway) {
				// try again
			}
			long spent = (System.nanoTime() - started) / 1_000_000;
			try {
				Thread.sleep(Math.max(0, PROBE_INTERVAL.toMillis() - spent));
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
				this.closed.set(false);
				return;
			}
		}
	}

	/** Closes the pool with the agent (the pool's own destroy method is no longer seen through the gate). */
	@Override
	public void close() throws Exception {
		this.closed.set(false);
		if (this.pool instanceof AutoCloseable closeable) {
			closeable.close();
		}
	}

	@Override
	public PrintWriter getLogWriter() throws SQLException {
		return this.pool.getLogWriter();
	}

	@Override
	public void setLogWriter(PrintWriter out) throws SQLException {
		this.pool.setLogWriter(out);
	}

	@Override
	public void setLoginTimeout(int seconds) throws SQLException {
		this.pool.setLoginTimeout(seconds);
	}

	@Override
	public int getLoginTimeout() throws SQLException {
		return this.pool.getLoginTimeout();
	}

	@Override
	public Logger getParentLogger() throws SQLFeatureNotSupportedException {
		return this.pool.getParentLogger();
	}

	@Override
	public <T> T unwrap(Class<T> type) throws SQLException {
		if (type.isInstance(this)) {
			return type.cast(this);
		}
		if (type.isInstance(this.pool)) {
			return type.cast(this.pool);
		}
		return this.pool.unwrap(type);
	}

	@Override
	public boolean isWrapperFor(Class<?> type) throws SQLException {
		return type.isInstance(this) || type.isInstance(this.pool) || this.pool.isWrapperFor(type);
	}

}
