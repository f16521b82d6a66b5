package com.gpuflow.agent.ops;

import java.time.Clock;
import java.time.Instant;
import java.util.Optional;

import com.gpuflow.agent.chain.ChainIngester;
import com.gpuflow.agent.config.AgentSettings;

import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.HealthIndicator;
import org.springframework.stereotype.Component;

/** The {@code chain} component of /actuator/health: head, checkpoint, lag and the last error. */
@Component
class ChainHealthIndicator implements HealthIndicator {

	private static final int MAX_ERROR_LENGTH = 300;

	private final ChainIngester ingester;

	private final Clock clock;

	private final AgentSettings settings;

	private final Instant startedAt;

	ChainHealthIndicator(ChainIngester ingester, Clock clock, AgentSettings settings) {
		this.ingester = ingester;
		this.clock = clock;
		this.settings = settings;
		this.startedAt = clock.instant();
	}

	@Override
	public Health health() {
		ChainHealth progress = new ChainHealth(ingester.headBlock(), ingester.checkpointBlock(), ingester.lagBlocks(),
				ingester.lastSuccess(), ingester.lastError().map(this::redact));
		return progress.assess(clock.instant(), startedAt, settings.chainConfirmations());
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
