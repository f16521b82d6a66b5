package com.gpuflow.agent.rental;

/**
 * Published after a transaction that activated, ended, expired, rekeyed or reorged out sessions,
 * so the reconciler converges at once instead of at its next interval.
 */
public record SessionsChanged(String reason) {
}
