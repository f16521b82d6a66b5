package com.gpuflow.agent.audit;

import org.springframework.boot.actuate.health.HealthEndpoint;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.web.reactive.function.server.ServerRequest;
import org.springframework.web.reactive.function.server.ServerResponse;

import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * {@code GET /v1/audit/health}: the full health, behind the audit token, for the operator dashboard
 * that the renter port serves. Actuator itself answers on the management port only, which a
 * browser elsewhere usually cannot reach; anyone without the token sees nothing of it here.
 */
@Component
class AuditHealth {

	private final HealthEndpoint health;

	AuditHealth(HealthEndpoint health) {
		this.health = health;
	}

	Mono<ServerResponse> health(ServerRequest request) {
		// Indicators may block (the database one runs a query): not on the event loop.
		return Mono.fromCallable(health::health)
			.subscribeOn(Schedulers.boundedElastic())
			.flatMap(body -> ServerResponse.ok().contentType(MediaType.APPLICATION_JSON).bodyValue(body));
	}

}
