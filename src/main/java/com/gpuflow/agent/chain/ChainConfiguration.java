package com.gpuflow.agent.chain;

import java.util.concurrent.TimeUnit;

import com.gpuflow.agent.config.AgentSettings;
import okhttp3.OkHttpClient;
import org.web3j.protocol.Web3j;
import org.web3j.protocol.http.HttpService;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

@Configuration(proxyBeanMethods = false)
class ChainConfiguration {

	@Bean(destroyMethod = "shutdown")
	Web3j web3j(AgentSettings settings) {
		// Short timeouts: a hung node must show up as an error and a backoff, not a stuck poller.
		OkHttpClient http = new OkHttpClient.Builder().connectTimeout(5, TimeUnit.SECONDS)
			.readTimeout(30, TimeUnit.SECONDS)
			.writeTimeout(10, TimeUnit.SECONDS)
			.build();
		return Web3j.build(new HttpService(settings.chainRpcUrl().toString(), http));
	}

	@Bean
	ChainNode chainNode(Web3j web3j, AgentSettings settings) {
		return new ChainNode(web3j, settings.rentalContract());
	}

}
