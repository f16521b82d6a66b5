package com.gpuflow.agent.audit;

import java.util.List;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;

/**
 * An empty {@link LivePeers} (and {@link PeerTraffic}) when no other bean provides one (WireGuard disabled, or not wired yet).
 * It is an auto-configuration, listed in
 * {@code META-INF/spring/org.springframework.boot.autoconfigure.AutoConfiguration.imports}, because
 * only those are evaluated after every component-scanned bean: a plain {@code @Configuration} could
 * see "missing" before the wireguard package's bean is registered.
 */
@AutoConfiguration
public class LivePeersFallback {

	@Bean
	@ConditionalOnMissingBean(LivePeers.class)
	LivePeers noLivePeers() {
		return List::of;
	}

	@Bean
	@ConditionalOnMissingBean(PeerTraffic.class)
	PeerTraffic noPeerTraffic() {
		return publicKey -> PeerTraffic.History.NONE;
	}

}
