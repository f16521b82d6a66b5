package com.gpuflow.agent.fleet;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.db.DatabaseReachable;
import com.gpuflow.agent.rental.SessionsChanged;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.SmartLifecycle;
import org.springframework.context.event.EventListener;
import org.springframework.stereotype.Component;

/**
 * LISTENs on this host's channel, on its own connection outside the pool, and turns every
 * notification of the chain reader (whichever agent that is) into {@link SessionsChanged}, so the
 * reconciler converges at once. The reconciler's interval pass stays the fallback: after the
 * connection is restored one pass runs anyway, for what changed while nobody listened.
 */
@Component
class SessionWakeups implements SmartLifecycle {

	private static final Logger log = LoggerFactory.getLogger(SessionWakeups.class);

	/** How long one wait for notifications lasts; a {@code select 1} after each proves the session alive. */
	private static final int WAIT_MILLIS = 2_000;

	private static final Duration MAX_BACKOFF = Duration.ofSeconds(5);

	private final DirectConnections connections;

	private final ApplicationEventPublisher events;

	private final String channel;

	private volatile boolean running;

	private volatile Thread worker;

	private volatile Connection connection;

	private final Semaphore retry = new Semaphore(0);

	SessionWakeups(DirectConnections connections, ApplicationEventPublisher events, AgentSettings settings) {
		this.connections = connections;
		this.events = events;
		this.channel = Fleet.channel(settings.hostId());
	}

	private void run() {
		Duration backoff = Duration.ZERO;
		boolean listenedBefore = false;
		while (running) {
			try (Connection listening = connections.open("gpuflow-agent listen", 10);
					Statement statement = listening.createStatement()) {
				connection = listening;
				statement.execute("listen " + channel);
				if (listenedBefore) {
					log.info("Listening for session changes again");
					events.publishEvent(new SessionsChanged("session notifications restored"));
				}
				listenedBefore = true;
				backoff = Duration.ZERO;
				PGConnection pg = listening.unwrap(PGConnection.class);
				while (running) {
					PGNotification[] notifications = pg.getNotifications(WAIT_MILLIS);
					if (notifications != null && notifications.length > 0) {
						events.publishEvent(new SessionsChanged("the chain reader changed this host's sessions"));
					}
					statement.execute("select 1");
				}
			}
			catch (SQLException | RuntimeException e) {
				if (!running) {
					return;
				}
				backoff = backoff.isZero() ? Duration.ofMillis(500)
						: (backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : backoff.multipliedBy(2));
				log.warn("Not listening for session changes ({}); the interval pass covers meanwhile; retrying in {} ms",
						e.getMessage(), backoff.toMillis());
				try {
					retry.drainPermits();
					// Woken early when the database answers again (DatabaseReachable).
					retry.tryAcquire(backoff.toMillis(), TimeUnit.MILLISECONDS);
				}
				catch (InterruptedException interrupted) {
					return;
				}
			}
			finally {
				connection = null;
			}
		}
	}

	/** The database is back: listen again now, not after the backoff. */
	@EventListener
	void on(DatabaseReachable event) {
		retry.release();
	}

	@Override
	public void start() {
		running = true;
		worker = Thread.ofPlatform().name("session-wakeups").daemon().start(this::run);
	}

	@Override
	public void stop() {
		running = false;
		Thread thread = worker;
		Connection listening = connection;
		if (listening != null) {
			try {
				listening.close();
			}
			catch (SQLException ignored) {
				// closing ends the wait
			}
		}
		if (thread != null) {
			thread.interrupt();
			try {
				thread.join(5_000);
			}
			catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
		}
	}

	@Override
	public boolean isRunning() {
		return running;
	}

}
