package com.gpuflow.agent.faults;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import com.gpuflow.agent.testsupport.AnvilNode;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The agent killed with SIGKILL at random moments while rentals, extensions and ends keep coming:
 * after the last restart the database and the interface match the chain exactly. This is the
 * SPEC's "restart at any moment loses no event and applies none twice".
 */
class CrashFaultTest {

	@Test
	void killingTheAgentAtRandomMomentsLosesNoEventAndAppliesNoneTwice() throws Exception {
		boolean longForm = FaultRig.longForm();
		int rentals = longForm ? 1_000 : 200;
		int kills = longForm ? 20 : 3;
		long seed = System.nanoTime();
		Random random = new Random(seed);
		try (FaultRig rig = new FaultRig(AnvilNode.startDefault())) {
			AgentProcess agent = rig.agent(rig.environment(true));
			agent.start();
			// Spread the stream over about as long as the kills take, so each kill lands in the middle of it.
			Duration pause = Duration.ofMillis(longForm ? 2_500 : 1_500);
			RentalStream stream = rig.track(new RentalStream(rig.market, rig.host, rentals, pause, seed)).start();

			List<String> killLog = new ArrayList<>();
			for (int k = 1; k <= kills; k++) {
				AgentProcess.sleep(1_000 + random.nextInt(longForm ? 10_000 : 6_000));
				int before = stream.rented.get();
				agent.kill();
				// Sometimes straight back, sometimes after the chain moved on without it.
				AgentProcess.sleep(random.nextInt(3) == 0 ? 0 : random.nextInt(3_000));
				long restartedAt = System.nanoTime();
				agent.start();
				killLog.add(String.format("#%d at %d rentals, %d while down, back in %d ms", k, before,
						stream.rented.get() - before, (System.nanoTime() - restartedAt) / 1_000_000));
			}
			stream.awaitDone(Duration.ofMinutes(longForm ? 20 : 5));
			assertThat(agent.isAlive()).isTrue();

			Map<String, Object> figures = new LinkedHashMap<>();
			figures.put("seed", seed);
			figures.put("rentals sent", stream.rented.get());
			figures.put("extensions sent", stream.extended.get());
			figures.put("ends sent", stream.ended.get());
			figures.put("reverted (expired first)", stream.reverted.get());
			figures.put("kill -9", agent.kills());
			for (String line : killLog) {
				figures.put("  kill " + line.substring(0, line.indexOf(' ')), line.substring(line.indexOf(' ') + 1));
			}
			figures.put("agent start times (ms)", agent.startTimes().stream().map(Duration::toMillis).toList());
			figures.putAll(rig.assertMatchesChain(agent, true, Duration.ofSeconds(90)));
			FaultRig.printFigures("CrashFaultTest", figures);
		}
	}

}
