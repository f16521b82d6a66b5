package com.gpuflow.agent.wireguard;

import java.util.LinkedHashMap;
import java.util.Map;

import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.HealthIndicator;
import org.springframework.boot.actuate.health.Status;

/**
 * The {@code wireguard} component of /actuator/health: interface present, peers matching the
 * sessions, and how the last pass went. A pass that could not read the sessions reports
 * {@code DEGRADED}: the interface is fine and keeps its peers, but it is not converging.
 */
class WireGuardHealthIndicator implements HealthIndicator {

	static final Status DEGRADED = new Status("DEGRADED", "sessions unreadable; interface kept as it was");

	private final Reconciler reconciler;

	WireGuardHealthIndicator(Reconciler reconciler) {
		this.reconciler = reconciler;
	}

	@Override
	public Health health() {
		Map<String, Object> details = new LinkedHashMap<>();
		details.put("interface", reconciler.interfaceName());
		details.put("implementation", reconciler.implementation().map(Enum::name).orElse("unknown"));
		details.put("present", reconciler.interfacePresent());
		details.put("peersMatchSessions", reconciler.inSync());
		details.put("dbUnreachablePasses", (long) reconciler.dbUnreachablePasses());
		details.put("isolationInPlace", reconciler.isolationInPlace());
		var last = reconciler.lastResult();
		if (last.isEmpty()) {
			return Health.unknown().withDetails(details).withDetail("lastPass", "none yet").build();
		}
		Reconciler.PassResult pass = last.get();
		Map<String, Object> lastPass = new LinkedHashMap<>();
		lastPass.put("at", pass.at().toString());
		lastPass.put("outcome", pass.outcome().name());
		lastPass.put("added", pass.added());
		lastPass.put("updated", pass.updated());
		lastPass.put("removed", pass.removed());
		lastPass.put("driftRepairs", pass.driftRepairs());
		lastPass.put("livePeers", pass.livePeers());
		lastPass.put("tookMs", pass.took().toMillis());
		if (!pass.detail().isEmpty()) {
			lastPass.put("detail", pass.detail());
		}
		details.put("lastPass", lastPass);
		Status status = switch (pass.outcome()) {
			case IN_SYNC, APPLIED -> Status.UP;
			case DESIRED_UNAVAILABLE -> DEGRADED;
			case INTERFACE_UNAVAILABLE, APPLY_FAILED -> Status.DOWN;
		};
		return Health.status(status).withDetails(details).build();
	}

}
