package com.gpuflow.agent.audit;

/** The event kinds of the SPEC's audit trail. */
public enum AuditKind {

	CREATED, CONFIRMED, PEER_ADDED, CONFIG_DELIVERED, HANDSHAKE_FIRST, EXTENDED, ENDED, EXPIRED, PEER_REMOVED,
	KEY_DESTROYED, REKEYED, REORGED_OUT, KEY_REJECTED, CONNECTION_LOST, CONNECTION_RESTORED, SSH_KEYS_SET;

	public String code() {
		return name().toLowerCase(java.util.Locale.ROOT);
	}

}
