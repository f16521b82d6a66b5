package com.gpuflow.agent.keys;

import com.gpuflow.agent.config.AgentSettings;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

@Configuration(proxyBeanMethods = false)
class KeysConfiguration {

	@Bean
	ServerIdentity serverIdentity(AgentSettings settings) {
		return FileServerIdentity.loadOrCreate(settings.wgPrivateKeyFile());
	}

}
