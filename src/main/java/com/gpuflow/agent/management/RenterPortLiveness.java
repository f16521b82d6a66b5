package com.gpuflow.agent.management;

import java.util.Map;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.MediaType;
import org.springframework.web.reactive.function.server.RouterFunction;
import org.springframework.web.reactive.function.server.RouterFunctions;
import org.springframework.web.reactive.function.server.ServerResponse;

/**
 * {@code GET /healthz} on the renter port: the process answers, nothing more. Health with details
 * (database errors, chain node, interface) lives on the management port only.
 */
@Configuration(proxyBeanMethods = false)
class RenterPortLiveness {

	@Bean
	RouterFunction<ServerResponse> healthzRoute() {
		return RouterFunctions.route()
			.GET("/healthz",
					request -> ServerResponse.ok().contentType(MediaType.APPLICATION_JSON).bodyValue(Map.of("status", "UP")))
			.build();
	}

}
