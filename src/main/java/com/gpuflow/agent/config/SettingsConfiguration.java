package com.gpuflow.agent.config;

import java.time.Clock;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;

@Configuration(proxyBeanMethods = false)
class SettingsConfiguration {

	@Bean
	AgentSettings agentSettings(Environment environment) {
		return AgentSettings.from(environment::getProperty);
	}

	@Bean
	ConnectionSettings connectionSettings(Environment environment) {
		return ConnectionSettings.from(environment::getProperty);
	}

	/** Injected everywhere time matters, so tests can move it. */
	@Bean
	Clock clock() {
		return Clock.systemUTC();
	}

}
