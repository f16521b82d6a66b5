package com.gpuflow.agent.wireguard;

import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.HealthIndicator;

/**
 * The {@code isolation} component of /actuator/health: whether the agent's nftables table, which
 * confines renters to the server's tunnel address, was in place at the last pass. DOWN when it
 * could not be installed; a table that was deleted or edited and restored by the pass is UP, with
 * the repairs counted.
 */
class IsolationHealthIndicator implements HealthIndicator {

	private final Reconciler reconciler;

	IsolationHealthIndicator(Reconciler reconciler) {
		this.reconciler = reconciler;
	}

	@Override
	public Health health() {
		boolean inPlace = reconciler.isolationInPlace();
		Health.Builder health = (inPlace ? Health.up() : Health.down()).withDetail("table", "inet " + reconciler.isolationTable())
			.withDetail("inPlace", inPlace)
			.withDetail("repairs", (long) reconciler.firewallRepairs());
		if (!reconciler.isolationProblem().isEmpty()) {
			health.withDetail("problem", reconciler.isolationProblem());
		}
		return health.build();
	}

}
