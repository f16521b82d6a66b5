package com.gpuflow.agent.wireguard;

import com.gpuflow.agent.rental.SessionPort;
import java.time.Clock;
import java.time.Duration;
import java.util.List;

import io.micrometer.core.instrument.MeterRegistry;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.SmartLifecycle;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.EventListener;

import com.gpuflow.agent.audit.LivePeers;
import com.gpuflow.agent.config.AgentSettings;
import com.gpuflow.agent.config.TunnelNetwork;
import com.gpuflow.agent.db.DatabaseReachable;
import com.gpuflow.agent.rental.SessionsChanged;

/**
 * Wires the interface and its reconciler. {@code gpuflow.wireguard.enabled=false} leaves them out,
 * for tests of other packages that must not create network interfaces.
 */
@Configuration(proxyBeanMethods = false)
@ConditionalOnProperty(name = "gpuflow.wireguard.enabled", havingValue = "true", matchIfMissing = true)
class WireGuardConfiguration {

	@Bean
	Reconciler reconciler(AgentSettings settings, SessionPort sessions, Clock clock, MeterRegistry meters,
			@Value("${management.server.port:9082}") int managementPort) {
		TunnelNetwork network = settings.wgCidr();
		String address = TunnelNetwork.toDotted(network.serverAddress()) + "/" + network.prefixLength();
		ReconcilerHolder holder = new ReconcilerHolder();
		WireGuardInterface wireGuard = new WireGuardInterface(
				new WireGuardInterface.Spec(settings.wgInterface(), settings.wgPort(), address, settings.wgPrivateKeyFile(),
						settings.wgImplementation(), WireGuardInterface.Tools.standard()),
				new CommandRunner(Duration.ofSeconds(120)), holder::requestPass, managementPort);
		Reconciler reconciler = new Reconciler(sessions, wireGuard, clock, meters, settings.wgKeepalive(),
				settings.reconcileInterval());
		holder.reconciler = reconciler;
		return reconciler;
	}

	/** {@code GET /v1/peers} reads the interface as the last reconcile pass saw it. */
	@Bean
	LivePeers livePeers(Reconciler reconciler) {
		return () -> reconciler.snapshot()
			.peers()
			.stream()
			.map(row -> new LivePeers.Peer(row.publicKey(), row.endpoint(), List.copyOf(row.allowedIps()),
					row.latestHandshake(), row.rxBytes(), row.txBytes()))
			.toList();
	}

	@Bean
	WireGuardHealthIndicator wireguardHealthIndicator(Reconciler reconciler) {
		return new WireGuardHealthIndicator(reconciler);
	}

	@Bean
	IsolationHealthIndicator isolationHealthIndicator(Reconciler reconciler) {
		return new IsolationHealthIndicator(reconciler);
	}

	/** Named so: the readiness group in application.yml includes {@code wireguardInterface}. */
	@Bean
	InterfaceHealthIndicator wireguardInterfaceHealthIndicator(Reconciler reconciler) {
		return new InterfaceHealthIndicator(reconciler);
	}

	@Bean
	ReconcilerLifecycle reconcilerLifecycle(Reconciler reconciler) {
		return new ReconcilerLifecycle(reconciler);
	}

	/** Lets wireguard-go's supervision reach the reconciler built after the interface. */
	private static final class ReconcilerHolder {

		volatile Reconciler reconciler;

		void requestPass() {
			Reconciler r = reconciler;
			if (r != null) {
				r.requestPass();
			}
		}

	}

	/**
	 * Starts reconciling once the context is up and stops on shutdown. Stopping leaves the
	 * interface and its peers in place: a restart of the agent must not drop live tunnels.
	 */
	static final class ReconcilerLifecycle implements SmartLifecycle {

		private final Reconciler reconciler;

		private volatile boolean running;

		ReconcilerLifecycle(Reconciler reconciler) {
			this.reconciler = reconciler;
		}

		@Override
		public void start() {
			reconciler.start();
			running = true;
		}

		@Override
		public void stop() {
			reconciler.stop();
			running = false;
		}

		@Override
		public boolean isRunning() {
			return running;
		}

		@EventListener
		void on(SessionsChanged event) {
			reconciler.requestPass();
		}

		/** The database is back: converge now instead of at the next interval. */
		@EventListener
		void on(DatabaseReachable event) {
			reconciler.requestPass();
		}

	}

}
