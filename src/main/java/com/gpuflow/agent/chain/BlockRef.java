package com.gpuflow.agent.chain;

/** A block's identity: enough to notice when the chain under a number changed. */
public record BlockRef(long number, String hash, String parentHash) {
}
