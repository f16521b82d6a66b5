package com.gpuflow.agent.fleet;

/** This agent no longer reads the chain (its lock connection failed, or it is stopping). */
public record ChainReaderDeposed(String reason) {
}
