package com.gpuflow.agent.api;

/**
 * A renter's wg-quick configuration, laid out exactly as the SPEC shows it. The server is the only
 * peer and only its tunnel address is routed, so the renter reaches the host and nothing else.
 */
record WgQuickConfig(String privateKey, String address, String serverPublicKey, String endpoint, String serverTunnelIp,
		int persistentKeepalive) {

	/** What a renter-own-key config carries instead of a key the agent never had. */
	static final String RENTER_KEY_PLACEHOLDER = "<your private key>";

	String render() {
		return "[Interface]\n" + "PrivateKey = " + privateKey + "\n" + "Address = " + address + "/32\n" + "\n" + "[Peer]\n"
				+ "PublicKey = " + serverPublicKey + "\n" + "Endpoint = " + endpoint + "\n" + "AllowedIPs = "
				+ serverTunnelIp + "/32\n" + "PersistentKeepalive = " + persistentKeepalive + "\n";
	}

	@Override
	public String toString() {
		// the private key stays out of logs and exception messages
		return "WgQuickConfig[address=" + address + ", endpoint=" + endpoint + "]";
	}

}
