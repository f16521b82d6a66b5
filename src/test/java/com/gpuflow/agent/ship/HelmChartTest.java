package com.gpuflow.agent.ship;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

import com.gpuflow.agent.testsupport.ProjectPaths;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The Helm chart, linted and rendered by Helm itself (helm-java embeds the Helm library), then
 * checked as parsed manifests. No cluster is involved: what Kubernetes would do with them (admission,
 * the CRD of ServiceMonitor, the node's kernel) is not checked here.
 */
class HelmChartTest {

	static final Path CHART = ProjectPaths.root().resolve("helm/gpuflow-agent");

	static final String HOST_ID = "0x" + "a1".repeat(32);

	static final String CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

	static final String KEK = Base64.getEncoder().encodeToString(new byte[32]);

	/** What an install needs at least, besides the host id. */
	static final String REQUIRED = "rentalContract: \"" + CONTRACT + "\"\nauth:\n  auditToken: audit-secret\n  keyEncryptionKey: \""
			+ KEK + "\"\n";

	/**
	 * Variables the chart sets besides the SPEC's: the node's name and IPs, read by the others, and the
	 * image entrypoint's (the host id file, the user it drops to).
	 */
	static final Set<String> CHART_VARIABLES = Set.of("NODE_NAME", "NODE_IP", "POD_IP", "HOST_ID_FILE",
			"JAVA_TOOL_OPTIONS", "GPUFLOW_UID", "GPUFLOW_GID", "GPUFLOW_DATABASE_POOL_SIZE", "GPUFLOW_FLEET_DIRECT_URL");

	@Test
	void lintsCleanInStrictMode() {
		LintResult result = new Helm(CHART).lint().strict().call();

		assertThat(result.isFailed()).as(String.join("\n", result.getMessages())).isFalse();
		assertThat(result.getMessages()).noneMatch((message) -> message.contains("[ERROR]") || message.contains("[WARNING]"));
	}

	@Test
	void refusesToRenderWithoutAHostId(@TempDir Path dir) throws IOException {
		Path values = values(dir, REQUIRED);

		assertThatThrownBy(() -> render(values)).hasMessageContaining("set hostId (every node) or hostIds");
	}

	@Test
	void refusesToRenderWithoutTheContract(@TempDir Path dir) throws IOException {
		Path values = values(dir, "hostId: \"" + HOST_ID + "\"\n" + REQUIRED.replace(CONTRACT, ""));

		assertThatThrownBy(() -> render(values)).hasMessageContaining("rentalContract (RENTAL_CONTRACT) is required");
	}

	@Test
	void refusesToRenderWithoutAuditTokenAndKeyEncryptionKey(@TempDir Path dir) throws IOException {
		Path noToken = values(dir, "hostId: \"" + HOST_ID + "\"\n" + REQUIRED.replace("audit-secret", ""));
		Path noKey = values(dir, "hostId: \"" + HOST_ID + "\"\n" + REQUIRED.replace(KEK, ""));
		Path shortKey = values(dir, "hostId: \"" + HOST_ID + "\"\n"
				+ REQUIRED.replace(KEK, Base64.getEncoder().encodeToString(new byte[16])));

		assertThatThrownBy(() -> render(noToken)).hasMessageContaining("auth.auditToken (AUDIT_TOKEN) is required");
		assertThatThrownBy(() -> render(noKey)).hasMessageContaining("auth.keyEncryptionKey (GPUFLOW_KEY_ENCRYPTION_KEY");
		assertThatThrownBy(() -> render(shortKey)).hasMessageContaining("must be base64 of exactly 32 bytes");
	}

	@Test
	void refusesAHostIdThatIsNotBytes32(@TempDir Path dir) throws IOException {
		Path single = values(dir, "hostId: \"0x1234\"\n" + REQUIRED);
		Path perNode = values(dir, "hostIds: {gpu-a: \"0x12\"}\n" + REQUIRED);

		assertThatThrownBy(() -> render(single)).hasMessageContaining("hostId must be 0x followed by 64 hex digits");
		assertThatThrownBy(() -> render(perNode)).hasMessageContaining("hostIds.gpu-a must be 0x followed by 64 hex digits");
	}

	@Nested
	class Defaults {

		final Manifests manifests;

		Defaults(@TempDir Path dir) throws IOException {
			this.manifests = render(values(dir, "hostId: \"" + HOST_ID + "\"\n" + REQUIRED));
		}

		@Test
		void rendersADaemonSetWithItsSecretAndServiceAccountOnly() {
			assertThat(this.manifests.kinds()).containsExactlyInAnyOrder("ServiceAccount", "Secret", "DaemonSet");
		}

		@Test
		void runsOnLabelledNodesInTheHostNetwork() {
			Map<String, Object> pod = this.manifests.podSpec();
			assertThat(pod.get("nodeSelector")).isEqualTo(Map.of("gpuflow.io/gpu-host", "true"));
			assertThat(pod.get("hostNetwork")).isEqualTo(true);
			assertThat(pod.get("dnsPolicy")).isEqualTo("ClusterFirstWithHostNet");
			assertThat(pod.get("automountServiceAccountToken")).isEqualTo(false);
		}

		@Test
		void theAgentStartsAsRootWithOnlyWhatTheDropToTheImageUserNeeds() {
			Map<String, Object> security = map(this.manifests.agent().get("securityContext"));
			assertThat(map(security.get("capabilities")).get("add"))
				.isEqualTo(List.of("NET_ADMIN", "SETUID", "SETGID", "CHOWN"));
			assertThat(map(security.get("capabilities")).get("drop")).isEqualTo(List.of("ALL"));
			// Kubernetes gives a non-root start no ambient capabilities: the entrypoint drops instead
			assertThat(security.get("runAsUser")).isEqualTo(0);
			assertThat(value(this.manifests.env().get("GPUFLOW_UID"))).isEqualTo("10001");
			assertThat(value(this.manifests.env().get("GPUFLOW_GID"))).isEqualTo("10001");
			assertThat(security).doesNotContainKey("privileged");
			assertThat(security.get("allowPrivilegeEscalation")).isEqualTo(false);
			assertThat(security.get("readOnlyRootFilesystem")).isEqualTo(true);
			// the read-only root's writable places: wireguard-go's socket directory and the JVM's tmp
			assertThat(this.manifests.mountPath("wireguard-run")).isEqualTo("/var/run/wireguard");
			assertThat(this.manifests.mountPath("tmp")).isEqualTo("/tmp");
		}

		@Test
		void theAgentGetsTheTunDevice() {
			Map<String, Object> tun = this.manifests.volume("dev-net-tun");
			assertThat(tun.get("hostPath")).isEqualTo(Map.of("path", "/dev/net/tun", "type", "CharDevice"));
			assertThat(this.manifests.mountPath("dev-net-tun")).isEqualTo("/dev/net/tun");
		}

		@Test
		void exposesWireGuardOverUdpAndTheRenterAndManagementPortsOverTcp() {
			assertThat(list(this.manifests.agent().get("ports"))).containsExactly(
					Map.of("name", "wireguard", "containerPort", 51820, "protocol", "UDP"),
					Map.of("name", "http", "containerPort", 8082, "protocol", "TCP"),
					Map.of("name", "management", "containerPort", 9082, "protocol", "TCP"));
		}

		@Test
		void probesAskTheLivenessAndReadinessGroupsOnTheManagementPort() {
			Map<String, Object> liveness = map(map(this.manifests.agent().get("livenessProbe")).get("httpGet"));
			Map<String, Object> readiness = map(map(this.manifests.agent().get("readinessProbe")).get("httpGet"));
			assertThat(liveness).containsEntry("path", "/actuator/health/liveness").containsEntry("port", "management");
			// The group holding only the interface: a database or chain outage does not pull the node.
			assertThat(readiness).containsEntry("path", "/actuator/health/readiness").containsEntry("port", "management");
		}

		@Test
		void theManagementServerListensOnThePodAddressWhereTheKubeletAndPrometheusReachIt() {
			assertThat(value(this.manifests.env().get("MANAGEMENT_PORT"))).isEqualTo("9082");
			assertThat(value(this.manifests.env().get("MANAGEMENT_ADDRESS"))).isEqualTo("$(POD_IP)");
			assertThat(map(map(this.manifests.env().get("POD_IP")).get("valueFrom")))
				.isEqualTo(Map.of("fieldRef", Map.of("fieldPath", "status.podIP")));
		}

		@Test
		void everySettingIsAKeyOfTheSpecConfigurationTable() {
			Set<String> allowed = new HashSet<>(SpecConfigurationKeys.read());
			allowed.addAll(CHART_VARIABLES);
			assertThat(this.manifests.env().keySet()).isSubsetOf(allowed)
				.contains("HOST_ID", "RENTAL_CONTRACT", "WG_ENDPOINT", "SPRING_DATASOURCE_URL",
						"SPRING_DATASOURCE_PASSWORD", "AUDIT_TOKEN", "GPUFLOW_KEY_ENCRYPTION_KEY", "WG_PRIVATE_KEY_FILE");
			assertThat(value(this.manifests.env().get("HOST_ID"))).isEqualTo(HOST_ID);
			assertThat(value(this.manifests.env().get("RENTAL_CONTRACT"))).isEqualTo(CONTRACT);
			// Kubernetes expands $(NODE_IP) from the variable defined before it
			assertThat(value(this.manifests.env().get("WG_ENDPOINT"))).isEqualTo("$(NODE_IP):51820");
			assertThat(List.copyOf(this.manifests.env().keySet()).indexOf("NODE_IP"))
				.isLessThan(List.copyOf(this.manifests.env().keySet()).indexOf("WG_ENDPOINT"));
		}

		@Test
		void secretsComeFromTheGeneratedSecretWithAUsableKeyEncryptionKey() {
			Map<String, Object> secret = this.manifests.one("Secret");
			String name = (String) map(secret.get("metadata")).get("name");
			Map<String, Object> data = map(secret.get("data"));
			for (String variable : List.of("AUDIT_TOKEN", "GPUFLOW_KEY_ENCRYPTION_KEY", "SPRING_DATASOURCE_PASSWORD")) {
				Map<String, Object> ref = map(map(map(this.manifests.env().get(variable)).get("valueFrom")).get("secretKeyRef"));
				assertThat(ref.get("name")).isEqualTo(name);
				assertThat(data).containsKey((String) ref.get("key"));
			}
			assertThat(new String(Base64.getDecoder().decode((String) data.get("key-encryption-key")))).isEqualTo(KEK);
			assertThat(new String(Base64.getDecoder().decode((String) data.get("audit-token")))).isEqualTo("audit-secret");
		}

		@Test
		void everyAgentSharesTheGivenDatabaseWithASmallPoolAndNoClusterOfItsOwn() {
			assertThat(this.manifests.kinds()).doesNotContain("Cluster");
			assertThat(value(this.manifests.env().get("SPRING_DATASOURCE_URL"))).isEqualTo("jdbc:postgresql://postgres:5432/gpuflow");
			assertThat(value(this.manifests.env().get("GPUFLOW_DATABASE_POOL_SIZE"))).isEqualTo("8");
			// without a pooler in between, the locks and LISTEN use the same address
			assertThat(this.manifests.env()).doesNotContainKey("GPUFLOW_FLEET_DIRECT_URL");
		}

		@Test
		void eachNodeKeepsItsOwnServerKeyOnTheHost() {
			assertThat(this.manifests.volume("server-key-dir").get("hostPath"))
				.isEqualTo(Map.of("path", "/var/lib/gpuflow", "type", "DirectoryOrCreate"));
			assertThat(value(this.manifests.env().get("WG_PRIVATE_KEY_FILE"))).isEqualTo("/var/lib/gpuflow/server.key");
			assertThat(this.manifests.mountPath("server-key-dir")).isEqualTo("/var/lib/gpuflow");
			Map<String, Object> init = map(list(this.manifests.podSpec().get("initContainers")).get(0));
			assertThat(String.join(" ", strings(init.get("command")))).contains("chown 10001:10001 /var/lib/gpuflow");
		}

	}

	@Nested
	class Tls {

		@Test
		void byDefaultTheAgentMakesItsOwnCertificateAndProbesStayOnThePlainManagementPort(@TempDir Path dir)
				throws IOException {
			Manifests manifests = render(values(dir, "hostId: \"" + HOST_ID + "\"\n" + REQUIRED));
			assertThat(value(manifests.env().get("GPUFLOW_TLS"))).isEqualTo("auto");
			assertThat(manifests.env()).doesNotContainKeys("GPUFLOW_TLS_CERT_FILE", "GPUFLOW_TLS_KEY_FILE");
			// TLS is the renter port's; the probes use the management port, which is plain HTTP.
			for (String probe : List.of("readinessProbe", "livenessProbe")) {
				assertThat(map(map(manifests.agent().get(probe)).get("httpGet"))).containsEntry("port", "management")
					.doesNotContainEntry("scheme", "HTTPS");
			}
		}

		@Test
		void anExistingTlsSecretIsMountedAndNamedToTheAgent(@TempDir Path dir) throws IOException {
			Manifests manifests = render(values(dir, "hostId: \"" + HOST_ID + "\"\n" + REQUIRED
					+ "tls:\n  existingSecret: gpu-node-tls\n"));
			assertThat(value(manifests.env().get("GPUFLOW_TLS_CERT_FILE"))).isEqualTo("/etc/gpuflow/tls/tls.crt");
			assertThat(value(manifests.env().get("GPUFLOW_TLS_KEY_FILE"))).isEqualTo("/etc/gpuflow/tls/tls.key");
			assertThat(manifests.mountPath("tls")).isEqualTo("/etc/gpuflow/tls");
			assertThat(map(manifests.volume("tls").get("secret")).get("secretName")).isEqualTo("gpu-node-tls");
		}

		@Test
		void certManagerIssuesACertificateWhoseKeyRenewalsKeep(@TempDir Path dir) throws IOException {
			Manifests manifests = render(values(dir, "hostId: \"" + HOST_ID + "\"\n" + REQUIRED + """
					tls:
					  certManager:
					    enabled: true
					    issuerRef: {name: letsencrypt}
					    dnsNames: [gpu-1.example.org]
					"""));
			Map<String, Object> certificate = manifests.one("Certificate");
			Map<String, Object> spec = map(certificate.get("spec"));
			assertThat(spec.get("dnsNames")).isEqualTo(List.of("gpu-1.example.org"));
			assertThat(map(spec.get("privateKey"))).containsEntry("rotationPolicy", "Never");
			assertThat(map(manifests.volume("tls").get("secret")).get("secretName")).isEqualTo(spec.get("secretName"));
			assertThatThrownBy(() -> render(values(dir, "hostId: \"" + HOST_ID + "\"\n" + REQUIRED
					+ "tls:\n  certManager:\n    enabled: true\n    dnsNames: [a.example.org]\n")))
				.hasMessageContaining("tls.certManager.issuerRef.name is required");
		}

		@Test
		void offIsPlainHttpBehindAProxy(@TempDir Path dir) throws IOException {
			Manifests manifests = render(values(dir, "hostId: \"" + HOST_ID + "\"\n" + REQUIRED
					+ "tls:\n  mode: \"off\"\n  existingSecret: ignored\n"));
			assertThat(value(manifests.env().get("GPUFLOW_TLS"))).isEqualTo("off");
			assertThat(manifests.env()).doesNotContainKey("GPUFLOW_TLS_CERT_FILE");
			assertThat(map(map(manifests.agent().get("readinessProbe")).get("httpGet"))).containsEntry("port", "management");
		}

	}

	@Nested
	class CloudNativePgDatabase {

		final Manifests manifests;

		CloudNativePgDatabase(@TempDir Path dir) throws IOException {
			this.manifests = render(values(dir, "hostId: \"" + HOST_ID + "\"\n" + REQUIRED + """
					database:
					  directUrl: "jdbc:postgresql://gpuflow-db-rw:5432/gpuflow"
					  cloudNativePG:
					    enabled: true
					    instances: 2
					    maxConnections: 600
					"""));
		}

		@Test
		void rendersAClusterAndTheAgentsUseItsServiceAndCredentials() {
			assertThat(this.manifests.kinds()).containsExactlyInAnyOrder("ServiceAccount", "Secret", "DaemonSet", "Cluster");
			Map<String, Object> cluster = this.manifests.one("Cluster");
			assertThat(cluster.get("apiVersion")).isEqualTo("postgresql.cnpg.io/v1");
			String name = (String) map(cluster.get("metadata")).get("name");
			Map<String, Object> spec = map(cluster.get("spec"));
			assertThat(spec.get("instances")).isEqualTo(2);
			assertThat(map(map(spec.get("postgresql")).get("parameters"))).containsEntry("max_connections", "600");
			assertThat(map(map(spec.get("bootstrap")).get("initdb"))).containsEntry("database", "gpuflow")
				.containsEntry("owner", "gpuflow");
			assertThat(value(this.manifests.env().get("SPRING_DATASOURCE_URL")))
				.isEqualTo("jdbc:postgresql://" + name + "-rw:5432/gpuflow");
			for (String variable : List.of("SPRING_DATASOURCE_USERNAME", "SPRING_DATASOURCE_PASSWORD")) {
				Map<String, Object> ref = map(map(map(this.manifests.env().get(variable)).get("valueFrom")).get("secretKeyRef"));
				assertThat(ref.get("name")).isEqualTo(name + "-app");
			}
		}

		@Test
		void locksAndListenCanBypassAPooler() {
			assertThat(value(this.manifests.env().get("GPUFLOW_FLEET_DIRECT_URL")))
				.isEqualTo("jdbc:postgresql://gpuflow-db-rw:5432/gpuflow");
		}

	}

	@Nested
	class NonDefaults {

		final Manifests manifests;

		NonDefaults(@TempDir Path dir) throws IOException {
			this.manifests = render(values(dir, """
					hostIds:
					  gpu-node-a: "%s"
					  gpu-node-b.example.com: "%s"
					rentalContract: "%s"
					hostNetwork: false
					nodeSelector:
					  gpuflow.io/gpu-host: null
					  pool: gpu
					chain:
					  wsUrl: ws://chain:8546
					auth:
					  existingSecret: gpuflow-credentials
					serverKey:
					  privateKey: "YNqHbfBQKaGvzefSSKnsWPvnhXj/0BHqXCz8rmnkBUg="
					metrics:
					  serviceMonitor:
					    enabled: true
					    labels: {release: prometheus}
					  grafanaDashboard:
					    enabled: true
					""".formatted(HOST_ID, "0x" + "b2".repeat(32), CONTRACT)));
		}

		@Test
		void rendersServiceMonitorDashboardAndServices() {
			assertThat(this.manifests.kinds()).containsExactlyInAnyOrder("ServiceAccount", "Secret", "ConfigMap",
					"ConfigMap", "Service", "Service", "ServiceMonitor", "DaemonSet");
			// Helm merges the default selector in; null removes it
			assertThat(this.manifests.podSpec().get("nodeSelector")).isEqualTo(Map.of("pool", "gpu"));
		}

		@Test
		void eachNodeReadsItsOwnHostId() {
			Map<String, Object> hostIds = this.manifests.named("ConfigMap", "-host-ids");
			assertThat(map(hostIds.get("data"))).containsEntry("gpu-node-a", HOST_ID)
				.containsEntry("gpu-node-b.example.com", "0x" + "b2".repeat(32));
			assertThat(this.manifests.env()).doesNotContainKey("HOST_ID");
			assertThat(value(this.manifests.env().get("HOST_ID_FILE"))).isEqualTo("/etc/gpuflow/host-ids/$(NODE_NAME)");
			assertThat(map(map(this.manifests.env().get("NODE_NAME")).get("valueFrom")))
				.isEqualTo(Map.of("fieldRef", Map.of("fieldPath", "spec.nodeName")));
			assertThat(this.manifests.mountPath("host-ids")).isEqualTo("/etc/gpuflow/host-ids");
			assertThat(map(this.manifests.volume("host-ids").get("configMap")).get("name"))
				.isEqualTo(map(hostIds.get("metadata")).get("name"));
		}

		@Test
		void withoutHostNetworkAServicePublishesWireGuardOnEveryNodeToItsOwnAgent() {
			Map<String, Object> pod = this.manifests.podSpec();
			assertThat(pod.get("hostNetwork")).isEqualTo(false);
			assertThat(pod).doesNotContainKey("dnsPolicy");
			Map<String, Object> spec = map(this.manifests.named("Service", "gpuflow-agent").get("spec"));
			assertThat(spec).containsEntry("type", "NodePort").containsEntry("externalTrafficPolicy", "Local");
			assertThat(list(spec.get("ports"))).contains(Map.of("name", "wireguard", "protocol", "UDP", "port", 51820,
					"targetPort", "wireguard", "nodePort", 31820));
			// renters dial the node port, not the container port
			assertThat(value(this.manifests.env().get("WG_ENDPOINT"))).isEqualTo("$(NODE_IP):31820");
			assertThat(value(this.manifests.env().get("CHAIN_WS_URL"))).isEqualTo("ws://chain:8546");
		}

		@Test
		void credentialsComeFromTheExistingSecret() {
			assertThat(this.manifests.all("Secret")).hasSize(1); // only the server key
			for (String variable : List.of("AUDIT_TOKEN", "GPUFLOW_KEY_ENCRYPTION_KEY", "SPRING_DATASOURCE_PASSWORD")) {
				Map<String, Object> ref = map(map(map(this.manifests.env().get(variable)).get("valueFrom")).get("secretKeyRef"));
				assertThat(ref.get("name")).isEqualTo("gpuflow-credentials");
			}
		}

		@Test
		void theServerKeySecretIsCopiedToAnOwnerOnlyFile() {
			Map<String, Object> secret = this.manifests.named("Secret", "-server-key");
			String key = new String(Base64.getDecoder().decode((String) map(secret.get("data")).get("server.key")));
			assertThat(key).isEqualTo("YNqHbfBQKaGvzefSSKnsWPvnhXj/0BHqXCz8rmnkBUg=\n");
			assertThat(map(this.manifests.volume("server-key-secret").get("secret")).get("secretName"))
				.isEqualTo(map(secret.get("metadata")).get("name"));
			assertThat(map(this.manifests.volume("server-key-dir").get("emptyDir"))).containsEntry("medium", "Memory");
			Map<String, Object> init = map(list(this.manifests.podSpec().get("initContainers")).get(0));
			assertThat(String.join(" ", strings(init.get("command"))))
				.contains("install -m 0600 /run/gpuflow/server-key/server.key /var/lib/gpuflow/server.key");
		}

		@Test
		void theServiceMonitorScrapesThePrometheusEndpointOfTheMetricsService() {
			Map<String, Object> monitor = this.manifests.one("ServiceMonitor");
			assertThat(map(map(monitor.get("metadata")).get("labels"))).containsEntry("release", "prometheus");
			Map<String, Object> spec = map(monitor.get("spec"));
			Map<String, Object> endpoint = map(list(spec.get("endpoints")).get(0));
			assertThat(endpoint).containsEntry("port", "management").containsEntry("path", "/actuator/prometheus");
			Map<String, Object> metricsService = this.manifests.named("Service", "-metrics");
			Map<String, Object> serviceLabels = map(map(metricsService.get("metadata")).get("labels"));
			assertThat(serviceLabels).containsAllEntriesOf(map(map(spec.get("selector")).get("matchLabels")));
			assertThat(list(map(metricsService.get("spec")).get("ports")))
				.singleElement()
				.satisfies((port) -> assertThat(map(port)).containsEntry("name", "management")
					.containsEntry("port", 9082)
					.containsEntry("targetPort", "management"));
		}

		@Test
		void theDashboardIsValidJsonOverGpuflowMetrics() throws IOException {
			Map<String, Object> dashboard = this.manifests.named("ConfigMap", "-dashboard");
			assertThat(map(map(dashboard.get("metadata")).get("labels"))).containsEntry("grafana_dashboard", "1");
			JsonNode json = new ObjectMapper().readTree((String) map(dashboard.get("data")).get("gpuflow-agent.json"));
			assertThat(json.get("title").asText()).isEqualTo("gpuflow-agent");
			List<String> expressions = json.get("panels").findValuesAsText("expr");
			assertThat(expressions).hasSizeGreaterThanOrEqualTo(8);
			assertThat(expressions.stream().filter((expr) -> expr.contains("gpuflow_")).count()).isGreaterThanOrEqualTo(6);
			// Connection quality as ratios of the counters, beside sessions, peers, reconcile and chain lag.
			assertThat(expressions).anySatisfy((expr) -> assertThat(expr).contains("gpuflow_tunnels_established_total")
				.contains("gpuflow_tunnels_not_established_total")
				.contains(" / "));
			assertThat(expressions).anySatisfy((expr) -> assertThat(expr).contains("gpuflow_connection_drops_total")
				.contains(" / "));
			assertThat(expressions).anySatisfy((expr) -> assertThat(expr).contains("gpuflow_tunnel_setup_seconds_bucket"));
			assertThat(expressions).anySatisfy((expr) -> assertThat(expr).contains("gpuflow_peers_connected"));
			assertThat(expressions).anySatisfy((expr) -> assertThat(expr).contains("gpuflow_sessions"));
			assertThat(expressions).anySatisfy((expr) -> assertThat(expr).contains("gpuflow_reconcile_pass_seconds"));
			assertThat(expressions).anySatisfy((expr) -> assertThat(expr).contains("gpuflow_chain_lag_blocks"));
		}

	}

	static Path values(Path dir, String yaml) throws IOException {
		return Files.writeString(Files.createTempFile(dir, "values-", ".yaml"), yaml);
	}

	static Manifests render(Path values) {
		String rendered = new Helm(CHART).template().withName("gpuflow-agent").withNamespace("gpu").withValuesFile(values).call();
		List<Map<String, Object>> documents = new ArrayList<>();
		for (Object document : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(rendered)) {
			if (document != null) {
				documents.add(map(document));
			}
		}
		return new Manifests(documents);
	}

	record Manifests(List<Map<String, Object>> documents) {

		List<String> kinds() {
			return this.documents.stream().map((document) -> (String) document.get("kind")).toList();
		}

		List<Map<String, Object>> all(String kind) {
			return this.documents.stream().filter((document) -> kind.equals(document.get("kind"))).toList();
		}

		Map<String, Object> one(String kind) {
			assertThat(all(kind)).hasSize(1);
			return all(kind).get(0);
		}

		Map<String, Object> named(String kind, String nameSuffix) {
			List<Map<String, Object>> matching = all(kind).stream()
				.filter((document) -> ((String) map(document.get("metadata")).get("name")).endsWith(nameSuffix))
				.toList();
			assertThat(matching).as(kind + " named *" + nameSuffix).hasSize(1);
			return matching.get(0);
		}

		Map<String, Object> podSpec() {
			return map(map(map(one("DaemonSet").get("spec")).get("template")).get("spec"));
		}

		Map<String, Object> agent() {
			List<Object> containers = list(podSpec().get("containers"));
			assertThat(containers).hasSize(1);
			return map(containers.get(0));
		}

		/** the agent's env by name, in order */
		Map<String, Object> env() {
			Map<String, Object> env = new java.util.LinkedHashMap<>();
			for (Object variable : list(agent().get("env"))) {
				Object previous = env.put((String) map(variable).get("name"), variable);
				assertThat(previous).as("duplicate env " + map(variable).get("name")).isNull();
			}
			return env;
		}

		Map<String, Object> volume(String name) {
			return list(podSpec().get("volumes")).stream()
				.map(HelmChartTest::map)
				.filter((volume) -> name.equals(volume.get("name")))
				.findFirst()
				.orElseThrow(() -> new AssertionError("no volume " + name));
		}

		String mountPath(String volume) {
			return list(agent().get("volumeMounts")).stream()
				.map(HelmChartTest::map)
				.filter((mount) -> volume.equals(mount.get("name")))
				.map((mount) -> (String) mount.get("mountPath"))
				.findFirst()
				.orElseThrow(() -> new AssertionError("no mount of " + volume));
		}

	}

	static String value(Object envVar) {
		return (String) Objects.requireNonNull(map(envVar).get("value"), () -> "no value in " + envVar);
	}

	@SuppressWarnings("unchecked")
	static Map<String, Object> map(Object value) {
		assertThat(value).isInstanceOf(Map.class);
		return (Map<String, Object>) value;
	}

	@SuppressWarnings("unchecked")
	static List<Object> list(Object value) {
		assertThat(value).isInstanceOf(List.class);
		return (List<Object>) value;
	}

	static List<String> strings(Object value) {
		return list(value).stream().map(String::valueOf).toList();
	}

}
