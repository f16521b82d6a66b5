package com.gpuflow.agent.keys;

/** The server's WireGuard identity as renters see it: the public key written into their configs. */
public interface ServerIdentity {

	/** Base64 of the 32-byte Curve25519 public key, as {@code wg pubkey} prints it. */
	String publicKey();

}
