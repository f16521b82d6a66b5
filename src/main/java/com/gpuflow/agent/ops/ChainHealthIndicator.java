package com.gpuflow.agent.ops;

import java.time.Clock;
import java.time.Instant;
import java.util.Optional;

import com.gpuflow.agent.chain.ChainIngester;
import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.fleet.Fleet;

import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.HealthIndicator;
import org.springframework.dao.DataAccessException;
import org.springframework.stereotype.Component;

/** The {@code chain} component of /actuator/health: head, checkpoint, lag and the last error. */
@Component
class ChainHealthIndicator implements HealthIndicator {

	private static final int MAX_ERROR_LENGTH = 300;

	private final ChainIngester ingester;

	private final Clock clock;

	private final AgentSettings settings;

	private final Instant startedAt;

	private final Fleet fleet;

	ChainHealthIndicator(ChainIngester ingester, Clock clock, AgentSettings settings, Fleet fleet) {
		this.ingester = ingester;
		this.fleet = fleet;
		this.clock = clock;
		this.settings = settings;
		this.startedAt = clock.instant();
	}

	/**
	 * On the reader, its own progress; on the other agents of a shared database, this host's
	 * checkpoint against the head the reader last saw, and the reader's last write as the last
	 * success: a fleet whose reader is gone goes DOWN on every agent, not only on the dead one.
	 */
	@Override
	public Health health() {
		if (ingester.reading()) {
			return withReader(ownProgress(), "this agent");
		}
		Optional<Fleet.Reader> reader;
		try {
			reader = fleet.reader();
		}
		catch (DataAccessException e) {
			// Who reads is unknown while the database is away; judge by what this agent last saw.
			return withReader(ownProgress(), "unknown: database unavailable");
		}
		if (reader.isEmpty()) {
			return withReader(new ChainHealth(-1, -1, -1, Optional.empty(), Optional.empty()).assess(clock.instant(),
					startedAt, settings.chainConfirmations()), "none yet");
		}
		long head = reader.get().headBlock().orElse(-1);
		long checkpoint = fleet.checkpointOf(settings.hostId()).orElse(-1);
		long lag = head < 0 || checkpoint < 0 ? -1 : Math.max(0, head - checkpoint);
		ChainHealth progress = new ChainHealth(head, checkpoint, lag, Optional.of(reader.get().heartbeatAt()),
				Optional.empty());
		return withReader(progress.assess(clock.instant(), startedAt, settings.chainConfirmations()),
				"host " + reader.get().hostId());
	}

	private Health ownProgress() {
		ChainHealth progress = new ChainHealth(ingester.headBlock(), ingester.checkpointBlock(), ingester.lagBlocks(),
				ingester.lastSuccess(), ingester.lastError().map(this::redact));
		return progress.assess(clock.instant(), startedAt, settings.chainConfirmations());
	}

	private static Health withReader(Health health, String reader) {
		return Health.status(health.getStatus()).withDetails(health.getDetails()).withDetail("reader", reader).build();
	}

	/**
	 * Health details are public, and hosted RPC URLs carry an API key in their path or query: an error
	 * that quotes the URL is shown with scheme, host and port only.
	 */
	private String redact(String error) {
		String url = settings.chainRpcUrl().toString();
		String shown = settings.chainRpcUrl().getScheme() + "://" + settings.chainRpcUrl().getHost()
				+ (settings.chainRpcUrl().getPort() < 0 ? "" : ":" + settings.chainRpcUrl().getPort()) + "/…";
		String redacted = error.replace(url, shown);
		Optional<String> path = Optional.ofNullable(settings.chainRpcUrl().getRawPath()).filter(p -> p.length() > 1);
		if (path.isPresent()) {
			redacted = redacted.replace(path.get(), "/…");
		}
		return redacted.length() > MAX_ERROR_LENGTH ? redacted.substring(0, MAX_ERROR_LENGTH) + "…" : redacted;
	}

}
