package com.gpuflow.agent.fleet;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.db.DatabaseReachable;
import com.gpuflow.agent.keys.ServerIdentity;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.factory.DisposableBean;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.SmartLifecycle;
import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Component;

/**
 * The two session-level advisory locks of an agent, on one connection outside the pool: its
 * {@code HOST_ID} (taken at start; held by another agent, this one stops before it touches the
 * interface) and the chain reader's (tried every {@code gpuflow.fleet.election-interval}). Both
 * end with the database session, so an agent killed or cut off gives them up without help: the
 * database drops the session when the socket closes, or after its TCP keepalive (set short here)
 * when the agent vanished from the network. The reader notices its own loss when the periodic
 * {@code select 1} on the connection fails, and stops reading at once.
 */
@Component
class FleetLocks implements SmartLifecycle, DisposableBean {

	private static final Logger log = LoggerFactory.getLogger(FleetLocks.class);

	/** A call on the lock connection that takes longer than this counts as a lost connection. */
	private static final int SOCKET_TIMEOUT_SECONDS = 4;

	/**
	 * The next round after a failed one, instead of the election interval: a reader whose lock
	 * connection broke in a database blip reads again a quarter second after the database answers,
	 * not an interval later (that delay alone would break the 2 s promise for a RentalEnded that came
	 * meanwhile). The database gate probes at the same rate.
	 */
	private static final Duration RETRY_AFTER_FAILURE = Duration.ofMillis(250);

	private final DirectConnections connections;

	private final Fleet fleet;

	private final AgentSettings settings;

	private final ApplicationEventPublisher events;

	private final boolean autoStartup;

	private final Duration interval;

	private Connection connection;

	private volatile boolean reading;

	private volatile boolean running;

	private volatile Thread worker;

	private boolean hostLockLostLogged;

	private final Semaphore wake = new Semaphore(0);

	FleetLocks(DirectConnections connections, Fleet fleet, AgentSettings settings, ServerIdentity server,
			ApplicationEventPublisher events, MeterRegistry meters,
			@Value("${gpuflow.chain.autostart:true}") boolean autoStartup,
			@Value("${gpuflow.fleet.election-interval:2s}") Duration interval) throws SQLException {
		this.connections = connections;
		this.fleet = fleet;
		this.settings = settings;
		this.events = events;
		this.autoStartup = autoStartup;
		this.interval = interval;
		this.connection = open();
		if (!tryLock(connection, "gpuflow-host:" + settings.rentalContract() + ":" + settings.hostId())) {
			closeQuietly();
			throw new HostAlreadyRunningException(settings.hostId());
		}
		fleet.register(Optional.of(server.publicKey()));
		Gauge.builder("gpuflow_chain_reader", () -> reading ? 1 : 0)
			.description("1 on the agent that reads the chain for every host of the database, 0 on the others")
			.register(meters);
	}

	private Connection open() throws SQLException {
		Connection opened = connections.open("gpuflow-agent locks", SOCKET_TIMEOUT_SECONDS);
		try (Statement statement = opened.createStatement()) {
			// The database drops a vanished agent's session (and its locks) after about 6 s of silence (3 s idle, then
			// three unanswered probes 1 s apart), so another agent reads within 10 s with the 2 s election interval.
			statement.execute("set tcp_keepalives_idle = 3; set tcp_keepalives_interval = 1; set tcp_keepalives_count = 3");
		}
		return opened;
	}

	/** A 64-bit key from the name: a 32-bit hash would let two of hundreds of hosts collide now and then. */
	private static boolean tryLock(Connection on, String name) throws SQLException {
		try (PreparedStatement statement = on.prepareStatement(
				"select pg_try_advisory_lock(('x' || substr(md5(?), 1, 16))::bit(64)::bigint)")) {
			statement.setString(1, name);
			try (ResultSet rs = statement.executeQuery()) {
				rs.next();
				return rs.getBoolean(1);
			}
		}
	}

	/**
	 * One round: keep or retake the host lock, try to become the reader, or check the reader still is.
	 * @return whether the round reached the database
	 */
	synchronized boolean tick() {
		try {
			if (connection == null) {
				Connection reopened = open();
				if (!tryLock(reopened, "gpuflow-host:" + settings.rentalContract() + ":" + settings.hostId())) {
					reopened.close();
					if (!hostLockLostLogged) {
						log.error("HOST_ID {} is held by another database session while this agent's was lost: another "
								+ "agent of this host (stop one of them), or this agent's lost session until the database "
								+ "drops it; not reading the chain meanwhile", settings.hostId());
						hostLockLostLogged = true;
					}
					return true;
				}
				connection = reopened;
				hostLockLostLogged = false;
				log.info("Database session for the fleet locks restored");
			}
			if (!reading) {
				if (tryLock(connection, "gpuflow-reader:" + settings.rentalContract())) {
					long term = beginTerm();
					reading = true;
					log.info("This agent ({}) now reads the chain for every host of the database (term {})",
							settings.hostId(), term);
					events.publishEvent(new ChainReaderElected(term));
				}
			}
			else {
				try (Statement statement = connection.createStatement()) {
					statement.execute("select 1");
				}
			}
			return true;
		}
		catch (SQLException | RuntimeException e) {
			if (reading) {
				log.warn("Lost the database session that holds the chain reader lock ({}): stopping reading", e.getMessage());
				standDown("lock connection lost");
			}
			else {
				log.warn("Fleet lock connection failed ({}); retrying", e.getMessage());
			}
			closeQuietly();
			return false;
		}
	}

	private long beginTerm() throws SQLException {
		try (PreparedStatement statement = connection.prepareStatement("""
				insert into chain_reader (contract, host_id, term, since, heartbeat_at) values (?, ?, 1, now(), now())
				on conflict (contract) do update
				  set host_id = excluded.host_id, term = chain_reader.term + 1, since = now(), heartbeat_at = now()
				returning term""")) {
			statement.setString(1, settings.rentalContract());
			statement.setString(2, settings.hostId());
			try (ResultSet rs = statement.executeQuery()) {
				rs.next();
				return rs.getLong(1);
			}
		}
	}

	private void standDown(String reason) {
		if (!reading) {
			return;
		}
		reading = false;
		events.publishEvent(new ChainReaderDeposed(reason));
	}

	private void closeQuietly() {
		if (connection == null) {
			return;
		}
		try {
			connection.close();
		}
		catch (SQLException ignored) {
			// the session is gone either way, and with it the locks
		}
		connection = null;
	}

	private void run(boolean reachedDatabase) {
		boolean reached = reachedDatabase;
		while (running) {
			try {
				wake.drainPermits();
				wake.tryAcquire((reached ? interval : RETRY_AFTER_FAILURE).toMillis(), TimeUnit.MILLISECONDS);
			}
			catch (InterruptedException e) {
				return;
			}
			reached = tick();
		}
	}

	/** The database is back: take the locks again now, not at the next interval. */
	@EventListener
	void on(DatabaseReachable event) {
		wake.release();
	}

	@Override
	public void start() {
		running = true;
		boolean reached = tick(); // the first agent reads at once, not one interval later
		worker = Thread.ofPlatform().name("fleet-locks").daemon().start(() -> run(reached));
	}

	@Override
	public void stop() {
		running = false;
		Thread thread = worker;
		if (thread != null) {
			thread.interrupt();
			try {
				thread.join(5_000);
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
		}
		synchronized (this) {
			standDown("stopping");
			closeQuietly();
		}
	}

	/** Tests that drive the ingester themselves elect nobody. */
	@Override
	public boolean isAutoStartup() {
		return autoStartup;
	}

	@Override
	public boolean isRunning() {
		return running;
	}

	/** A context that never started (tests that drive the ingester) still gives its host back when it closes. */
	@Override
	public synchronized void destroy() {
		closeQuietly();
	}

}
