package com.gpuflow.agent.tls;

import com.gpuflow.agent.config.AgentSettings;
import org.web3j.protocol.Web3j;
import org.web3j.protocol.http.HttpService;

import org.springframework.boot.ssl.SslBundles;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

@Configuration(proxyBeanMethods = false)
class TlsConfiguration {

	@Bean
	TlsPin tlsPin(SslBundles bundles) {
		return new TlsPin(bundles);
	}

	/** Named so that health shows it as {@code tlsPin}. */
	@Bean
	HostEndpointWatch tlsPinHealthIndicator(AgentSettings settings, TlsPin pin) {
		return new HostEndpointWatch(settings, pin, Web3j.build(new HttpService(settings.chainRpcUrl().toString())));
	}

}
