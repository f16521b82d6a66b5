package com.gpuflow.agent.wireguard;

import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.HealthIndicator;

/**
 * The {@code wireguardInterface} component, and the whole of the readiness group: UP while the
 * interface exists and answers. Database and chain trouble leave it UP on purpose: the peers stay
 * in place through those (fail-static), so the node must stay in its Service.
 */
class InterfaceHealthIndicator implements HealthIndicator {

	private final Reconciler reconciler;

	InterfaceHealthIndicator(Reconciler reconciler) {
		this.reconciler = reconciler;
	}

	@Override
	public Health health() {
		return (reconciler.interfacePresent() ? Health.up() : Health.down()).withDetail("interface", reconciler.interfaceName())
			.build();
	}

}
