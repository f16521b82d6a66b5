package com.gpuflow.agent.audit;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.reactive.function.server.RouterFunction;
import org.springframework.web.reactive.function.server.RouterFunctions;
import org.springframework.web.reactive.function.server.ServerResponse;

/** The SPEC's routes for auditors and operators, all behind {@code Authorization: Bearer <AUDIT_TOKEN>}. */
@Configuration(proxyBeanMethods = false)
class AuditRoutes {

	@Bean
	RouterFunction<ServerResponse> auditRouter(AuditHandler handler, AuditHealth health) {
		return RouterFunctions.route()
			.GET("/v1/audit/sessions", handler::sessions)
			.GET("/v1/audit/ip-history", handler::ipHistory)
			.GET("/v1/audit/sessions/{id}/events", handler::events)
			.GET("/v1/audit/verify", handler::verify)
			.GET("/v1/peers", handler::peers)
			.GET("/v1/audit/health", health::health)
			.filter(handler::guard)
			.build();
	}

}
