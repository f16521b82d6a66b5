package com.gpuflow.agent.chain;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class LogRangeSizerTest {

	@Test
	void halvesOnRefusalDownToOneBlockThenGivesUp() {
		LogRangeSizer sizer = new LogRangeSizer(8, 100);
		assertThat(sizer.refused()).isTrue();
		assertThat(sizer.size()).isEqualTo(4);
		sizer.refused();
		sizer.refused();
		assertThat(sizer.size()).isEqualTo(1);
		assertThat(sizer.refused()).as("a one-block refusal is not about size").isFalse();
	}

	@Test
	void growsBackAfterRepeatedSuccessButNotPastTheMaximum() {
		LogRangeSizer sizer = new LogRangeSizer(64, 100);
		sizer.refused();
		assertThat(sizer.size()).isEqualTo(32);
		for (int i = 0; i < 3; i++) {
			sizer.succeeded();
		}
		assertThat(sizer.size()).isEqualTo(64);
		for (int i = 0; i < 30; i++) {
			sizer.succeeded();
		}
		assertThat(sizer.size()).isEqualTo(100);
	}

}
