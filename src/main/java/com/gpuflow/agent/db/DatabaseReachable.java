package com.gpuflow.agent.db;

import java.time.Duration;

/** Published when the database answers again after the agent found it unreachable. */
public record DatabaseReachable(Duration away) {
}
