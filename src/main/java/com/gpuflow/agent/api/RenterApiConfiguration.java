package com.gpuflow.agent.api;

import java.util.concurrent.Executors;

import com.gpuflow.agent.config.AgentSettings;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.reactive.function.server.RouterFunction;
import org.springframework.web.reactive.function.server.ServerResponse;

import static org.springframework.web.reactive.function.server.RequestPredicates.GET;
import static org.springframework.web.reactive.function.server.RequestPredicates.POST;
import static org.springframework.web.reactive.function.server.RouterFunctions.route;

@Configuration(proxyBeanMethods = false)
class RenterApiConfiguration {

	@Bean
	RouterFunction<ServerResponse> renterRoutes(RenterHandler handler) {
		return route(GET("/v1/rentals/{id}"), handler::rental)
			.andRoute(POST("/v1/rentals/{id}/challenge"), handler::challenge)
			.andRoute(POST("/v1/rentals/{id}/config"), handler::config)
			.andRoute(POST("/v1/rentals/{id}/rekey"), handler::rekey);
	}

	/**
	 * Where the routes' JDBC and signature work runs: one virtual thread per task, so a slow
	 * database parks cheap threads instead of an event loop or a bounded pool.
	 */
	@Bean(destroyMethod = "dispose")
	Scheduler renterApiScheduler() {
		return Schedulers.fromExecutorService(Executors.newVirtualThreadPerTaskExecutor(), "renter-api");
	}

	@Bean
	ChainIdSource chainIdSource(AgentSettings settings) {
		return new Web3jChainId(settings.chainRpcUrl());
	}

}
