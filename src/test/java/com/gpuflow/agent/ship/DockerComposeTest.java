package com.gpuflow.agent.ship;

import java.io.IOException;
import java.io.Reader;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.web3j.utils.Numeric;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

import com.gpuflow.agent.testsupport.AnvilNode;
import com.gpuflow.agent.testsupport.DevAccounts;
import com.gpuflow.agent.testsupport.ProjectPaths;
import com.gpuflow.agent.testsupport.RentalMarketClient;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * docker-compose.yml, the Dockerfile and the scripts they run. No Docker daemon is needed: the
 * compose file is checked as data, the deployer script runs against a real anvil, and the image's
 * entrypoint script runs with a stand-in for java.
 */
class DockerComposeTest {

	static Map<String, Object> compose;

	static Map<String, Object> services;

	@BeforeAll
	static void parse() throws IOException {
		try (Reader reader = Files.newBufferedReader(ProjectPaths.root().resolve("docker-compose.yml"))) {
			compose = new Yaml(new SafeConstructor(new LoaderOptions())).load(reader);
		}
		services = map(compose.get("services"));
	}

	@Test
	void theStackIsDatabaseChainDeployerAndAgent() {
		assertThat(services).containsOnlyKeys("postgres", "anvil", "deployer", "agent");
		assertThat(map(services.get("agent")).get("build")).isNotNull();
		assertThat(map(map(services.get("agent")).get("build"))).containsEntry("dockerfile", "Dockerfile");
		assertThat(map(services.get("deployer"))).containsEntry("restart", "no");
	}

	@Test
	void theAgentPublishesWireGuardUdpAndHttpAndTheManagementPortOnLoopbackOnly() {
		assertThat(list(agent().get("ports"))).containsExactlyInAnyOrder("51820:51820/udp", "8082:8082/tcp",
				"127.0.0.1:9082:9082/tcp");
		assertThat(agentEnvironment()).containsEntry("WG_PORT", "51820")
			.containsEntry("SERVER_PORT", "8082")
			.containsEntry("MANAGEMENT_PORT", "9082");
	}

	@Test
	void theChainIsPublishedOnLoopbackOnly() {
		assertThat(list(map(services.get("anvil")).get("ports"))).containsExactly("127.0.0.1:8545:8545");
	}

	@Test
	void thereAreNoBuiltInSecretsComposeRefusesToStartWithoutThem() {
		Map<String, Object> agent = agentEnvironment();
		for (String secret : List.of("AUDIT_TOKEN", "GPUFLOW_KEY_ENCRYPTION_KEY")) {
			assertThat((String) agent.get(secret)).as(secret).startsWith("${" + secret + ":?").doesNotContain(":-");
		}
	}

	@Test
	void initEnvWritesFreshSecretsOnceAndKeepsThemAfterwards(@TempDir Path dir) throws Exception {
		Path envFile = dir.resolve(".env");
		Files.writeString(envFile, "WG_ENDPOINT=gpu.example.org:51820\n");
		runInitEnv(envFile);
		String first = Files.readString(envFile);
		Map<String, String> values = new java.util.HashMap<>();
		first.lines().map(line -> line.split("=", 2)).forEach(kv -> values.put(kv[0], kv[1]));

		assertThat(values).containsEntry("WG_ENDPOINT", "gpu.example.org:51820");
		assertThat(java.util.Base64.getDecoder().decode(values.get("GPUFLOW_KEY_ENCRYPTION_KEY"))).hasSize(32);
		assertThat(values.get("AUDIT_TOKEN")).matches("[A-Za-z0-9_-]{43}");
		assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(envFile)))
			.isEqualTo("rw-------");
		runInitEnv(envFile);
		assertThat(Files.readString(envFile)).as("a second run changes nothing").isEqualTo(first);
		Path other = dir.resolve("other.env");
		runInitEnv(other);
		assertThat(Files.readString(other)).as("every run draws new secrets").doesNotContain(values.get("AUDIT_TOKEN"));
	}

	private static void runInitEnv(Path envFile) throws Exception {
		Process process = new ProcessBuilder("sh", ProjectPaths.root().resolve("docker/init-env.sh").toString(),
				envFile.toString()).redirectErrorStream(true).start();
		String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
		assertThat(process.waitFor(20, TimeUnit.SECONDS)).isTrue();
		assertThat(process.exitValue()).as(output).isZero();
	}

	@Test
	void theAgentMayManageInterfacesAndOpenTheTunDevice() {
		assertThat(list(agent().get("cap_add"))).containsExactly("NET_ADMIN");
		assertThat(list(agent().get("devices"))).containsExactly("/dev/net/tun:/dev/net/tun");
		assertThat(agent()).doesNotContainKey("privileged");
	}

	@Test
	void theAgentStartsOnceTheDatabaseIsHealthyAndTheContractIsDeployed() {
		Map<String, Object> dependsOn = map(agent().get("depends_on"));
		assertThat(map(dependsOn.get("postgres"))).containsEntry("condition", "service_healthy");
		assertThat(map(dependsOn.get("deployer"))).containsEntry("condition", "service_completed_successfully");
		assertThat(map(map(services.get("deployer")).get("depends_on")).get("anvil"))
			.isEqualTo(Map.of("condition", "service_healthy"));
		assertThat(map(services.get("postgres")).get("healthcheck")).isNotNull();
		assertThat(map(services.get("anvil")).get("healthcheck")).isNotNull();
	}

	@Test
	void everyAgentSettingIsAKeyOfTheSpecConfigurationTable() {
		assertThat(SpecConfigurationKeys.read()).contains("HOST_ID", "WG_ENDPOINT", "SPRING_DATASOURCE_PASSWORD",
				"GPUFLOW_KEY_ENCRYPTION_KEY");
		assertThat(SpecConfigurationKeys.read()).containsAll(agentEnvironment().keySet());
		// the settings the SPEC marks required, and those a compose user needs to reach the agent
		assertThat(agentEnvironment()).containsKeys("SPRING_DATASOURCE_URL", "SPRING_DATASOURCE_USERNAME",
				"SPRING_DATASOURCE_PASSWORD", "CHAIN_RPC_URL", "RENTAL_CONTRACT", "HOST_ID", "WG_ENDPOINT", "AUDIT_TOKEN",
				"GPUFLOW_KEY_ENCRYPTION_KEY");
	}

	@Test
	void theAgentAndTheDeployerAgreeOnHostAndContract() {
		Map<String, Object> deployer = stringMap(map(services.get("deployer")).get("environment"));
		Map<String, Object> agent = agentEnvironment();
		assertThat(agent.get("HOST_ID")).isEqualTo(deployer.get("HOST_ID"));
		assertThat((String) agent.get("HOST_ID")).matches("0x[0-9a-fA-F]{64}");
		assertThat(agent.get("RENTAL_CONTRACT")).isEqualTo(deployer.get("RENTAL_CONTRACT"));
		assertThat(agent.get("CHAIN_RPC_URL")).isEqualTo("http://anvil:8545");
		assertThat((String) agent.get("SPRING_DATASOURCE_URL")).startsWith("jdbc:postgresql://postgres:5432/");
		// the deployer can only hit the fixed address as the first contract of dev account 0
		assertThat((String) agent.get("RENTAL_CONTRACT")).isEqualToIgnoringCase(
				org.web3j.crypto.ContractUtils.generateContractAddress(DevAccounts.address(0), BigInteger.ZERO));
	}

	@Test
	void theDevDefaultsAreWellFormed() {
		Map<String, Object> agent = agentEnvironment();
		assertThat(defaultOf((String) agent.get("WG_ENDPOINT"))).matches("[^:]+:51820");
		assertThat((String) agent.get("WG_CIDR")).isEqualTo("10.77.0.0/16");
	}

	@Test
	void theServerKeySurvivesRestartsInAVolume() {
		String keyFile = (String) agentEnvironment().get("WG_PRIVATE_KEY_FILE");
		String keyDir = Path.of(keyFile).getParent().toString();
		assertThat(list(agent().get("volumes"))).anySatisfy((volume) -> assertThat((String) volume).endsWith(":" + keyDir));
		assertThat(map(compose.get("volumes"))).containsKey("agent-key");
	}

	@Nested
	class Image {

		@Test
		void buildsWithMavenOnJdk21AndRunsOnAJre21AsNonRoot() throws IOException {
			List<String> lines = Files.readAllLines(ProjectPaths.root().resolve("Dockerfile"));
			List<String> froms = lines.stream().filter((line) -> line.startsWith("FROM ")).toList();
			assertThat(froms).hasSizeGreaterThanOrEqualTo(2);
			assertThat(froms.get(0)).contains("maven").contains("temurin-21").endsWith("AS build");
			assertThat(String.join("\n", lines)).contains("eclipse-temurin:21-jre")
				.contains("COPY --from=build")
				.contains("mvn -B -q -DskipTests package");
			String runStage = String.join("\n", lines.subList(lines.indexOf(froms.get(froms.size() - 1)), lines.size()));
			assertThat(runStage).contains("wireguard-go", "wireguard-tools", "nftables", "iproute2")
				.contains("setcap cap_net_admin+ep")
				.contains("EXPOSE 51820/udp 8082/tcp");
			List<String> users = lines.stream().filter((line) -> line.startsWith("USER ")).toList();
			assertThat(users).isNotEmpty();
			assertThat(users.get(users.size() - 1)).doesNotContain(" 0").doesNotContain("root");
		}

		@Test
		void theEntrypointReadsHostIdFromAFileOnlyWhenHostIdIsUnset(@TempDir Path dir) throws Exception {
			Path fakeJava = dir.resolve("java");
			Files.writeString(fakeJava, "#!/bin/sh\necho \"HOST_ID=$HOST_ID ARGS=$*\"\n");
			fakeJava.toFile().setExecutable(true);
			Path hostIdFile = dir.resolve("node-a");
			String hostId = "0x" + "1".repeat(64);
			Files.writeString(hostIdFile, hostId + "\n");

			Result fromFile = run(dir, Map.of("HOST_ID_FILE", hostIdFile.toString()), "--debug");
			Result explicit = run(dir, Map.of("HOST_ID", "0xexplicit", "HOST_ID_FILE", hostIdFile.toString()));
			Result missing = run(dir, Map.of("HOST_ID_FILE", dir.resolve("node-b").toString()));

			assertThat(fromFile.exit()).isZero();
			assertThat(fromFile.output()).isEqualTo("HOST_ID=" + hostId + " ARGS=-jar /opt/gpuflow/gpuflow-agent.jar --debug");
			assertThat(explicit.output()).startsWith("HOST_ID=0xexplicit ");
			assertThat(missing.exit()).isNotZero();
			assertThat(missing.output()).contains("no host id for this node").contains("node-b");
		}

		private Result run(Path dir, Map<String, String> env, String... args) throws Exception {
			List<String> command = new ArrayList<>(
					List.of("sh", ProjectPaths.root().resolve("docker/entrypoint.sh").toString()));
			command.addAll(List.of(args));
			ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
			builder.environment().clear();
			builder.environment().put("PATH", dir + ":/usr/bin:/bin");
			builder.environment().putAll(env);
			Process process = builder.start();
			try {
				String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
				assertThat(process.waitFor(10, TimeUnit.SECONDS)).isTrue();
				return new Result(process.exitValue(), output);
			}
			finally {
				process.destroyForcibly();
			}
		}

	}

	@Nested
	class Deployer {

		@Test
		void deploysTheContractAtTheComposeAddressAndRegistersTheHostIdempotently(@TempDir Path dir) throws Exception {
			Map<String, Object> env = stringMap(map(services.get("deployer")).get("environment"));
			Files.createSymbolicLink(dir.resolve("cast"), ProjectPaths.cast());
			try (AnvilNode anvil = AnvilNode.startDefault()) {
				Map<String, String> scriptEnv = Map.of("PATH", dir + ":/usr/bin:/bin", "CHAIN_RPC_URL", anvil.rpcUrl(),
						"RENTAL_CONTRACT", (String) env.get("RENTAL_CONTRACT"), "HOST_ID", (String) env.get("HOST_ID"),
						"PRICE_PER_SECOND", (String) env.get("PRICE_PER_SECOND"), "BYTECODE_FILE",
						ProjectPaths.root().resolve("contracts/out/RentalMarket.bin").toString());

				Result first = deploy(scriptEnv);
				Result again = deploy(scriptEnv);

				assertThat(first.exit()).as(first.output()).isZero();
				assertThat(first.output()).contains("RentalMarket deployed at");
				assertThat(again.exit()).as(again.output()).isZero();
				assertThat(again.output()).contains("already at");
				RentalMarketClient market = RentalMarketClient.at(anvil, (String) env.get("RENTAL_CONTRACT"));
				assertThat(market.providerOf((String) env.get("HOST_ID"))).isEqualToIgnoringCase(DevAccounts.address(0));
				assertThat(market.pricePerSecond((String) env.get("HOST_ID")))
					.isEqualTo(new BigInteger((String) env.get("PRICE_PER_SECOND")));
				assertThat(Numeric.cleanHexPrefix(anvil.rpc("eth_getCode", env.get("RENTAL_CONTRACT"), "latest").asText()))
					.isNotEmpty();
			}
		}

		@Test
		void refusesToDeployWhereTheContractWouldNotLandAtTheConfiguredAddress(@TempDir Path dir) throws Exception {
			Files.createSymbolicLink(dir.resolve("cast"), ProjectPaths.cast());
			try (AnvilNode anvil = AnvilNode.startDefault()) {
				// a transaction from account 0 first: the deployment nonce is no longer 0
				RentalMarketClient.deploy(anvil);
				Result result = deploy(Map.of("PATH", dir + ":/usr/bin:/bin", "CHAIN_RPC_URL", anvil.rpcUrl(),
						"RENTAL_CONTRACT", "0x" + "00".repeat(19) + "01", "HOST_ID", "0x" + "a1".repeat(32),
						"BYTECODE_FILE", ProjectPaths.root().resolve("contracts/out/RentalMarket.bin").toString()));

				assertThat(result.exit()).isNotZero();
				assertThat(result.output()).contains("would create");
			}
		}

		private Result deploy(Map<String, String> env) throws Exception {
			ProcessBuilder builder = new ProcessBuilder("sh",
					ProjectPaths.root().resolve("docker/deploy-rental-market.sh").toString())
				.redirectErrorStream(true);
			builder.environment().clear();
			builder.environment().putAll(env);
			Process process = builder.start();
			try {
				String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
				assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
				return new Result(process.exitValue(), output);
			}
			finally {
				process.destroyForcibly();
			}
		}

	}

	record Result(int exit, String output) {

	}

	static Map<String, Object> agent() {
		return map(services.get("agent"));
	}

	static Map<String, Object> agentEnvironment() {
		return stringMap(agent().get("environment"));
	}

	/** compose's "${NAME:-default}" → default */
	static String defaultOf(String value) {
		int dash = value.indexOf(":-");
		return (value.startsWith("${") && dash > 0) ? value.substring(dash + 2, value.length() - 1) : value;
	}

	@SuppressWarnings("unchecked")
	static Map<String, Object> map(Object value) {
		assertThat(value).isInstanceOf(Map.class);
		return (Map<String, Object>) value;
	}

	/** environment as a map (compose also allows a list of NAME=value; this file uses maps) */
	static Map<String, Object> stringMap(Object value) {
		Map<String, Object> map = map(value);
		map.values().forEach((v) -> assertThat(v).as("compose environment values are strings").isInstanceOf(String.class));
		return map;
	}

	@SuppressWarnings("unchecked")
	static List<Object> list(Object value) {
		assertThat(value).isInstanceOf(List.class);
		return (List<Object>) value;
	}

}
