package com.gpuflow.agent.chain;

import java.util.List;

/** A raw log as the node returned it, reduced to what ingestion needs. */
public record ChainLog(long blockNumber, String blockHash, String txHash, int logIndex, String address,
		List<String> topics, String data) {
}
