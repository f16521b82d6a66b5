package com.gpuflow.agent.chain;

import java.io.IOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import org.web3j.protocol.Web3j;
import org.web3j.protocol.core.BatchRequest;
import org.web3j.protocol.core.DefaultBlockParameter;
import org.web3j.protocol.core.Response;
import org.web3j.protocol.core.methods.request.EthFilter;
import org.web3j.protocol.core.methods.response.EthBlock;
import org.web3j.protocol.core.methods.response.EthLog;
import org.web3j.protocol.core.methods.response.Log;

/**
 * The JSON-RPC calls ingestion makes, over web3j. Logs are read with {@code eth_getLogs} over
 * explicit block ranges: node-side filters expire and web3j re-emits old logs when it reinstalls
 * them, so the checkpoint stays ours.
 */
public class ChainNode {

	/** The node answered with a JSON-RPC error (for example, a log range it will not serve). */
	public static class NodeRefusedException extends IOException {

		NodeRefusedException(String method, Response.Error error) {
			super(method + " refused: " + error.getCode() + " " + error.getMessage());
		}

	}

	private final Web3j web3j;

	private final String contract;

	public ChainNode(Web3j web3j, String contract) {
		this.web3j = web3j;
		this.contract = contract;
	}

	public long headNumber() throws IOException {
		var response = web3j.ethBlockNumber().send();
		check("eth_blockNumber", response);
		return response.getBlockNumber().longValueExact();
	}

	public long chainId() throws IOException {
		var response = web3j.ethChainId().send();
		check("eth_chainId", response);
		return response.getChainId().longValueExact();
	}

	/** @return the block at this height on the node's current chain, empty if it has none yet */
	public Optional<BlockRef> block(long number) throws IOException {
		EthBlock response = web3j.ethGetBlockByNumber(DefaultBlockParameter.valueOf(BigInteger.valueOf(number)), false)
			.send();
		check("eth_getBlockByNumber", response);
		EthBlock.Block block = response.getBlock();
		if (block == null || block.getHash() == null) {
			return Optional.empty();
		}
		return Optional.of(new BlockRef(block.getNumber().longValueExact(), block.getHash(), block.getParentHash()));
	}

	/**
	 * The hashes of these blocks on the node's current chain, asked in JSON-RPC batches (a backfill
	 * range near the tip has a block with logs every few numbers: one round trip each cost 0.1-0.3 s
	 * per 200 blocks). A block the node does not have is absent from the map.
	 */
	public Map<Long, String> blockHashes(Collection<Long> numbers) throws IOException {
		Map<Long, String> hashes = new HashMap<>();
		List<Long> all = new ArrayList<>(numbers);
		for (int start = 0; start < all.size(); start += BLOCK_BATCH) {
			BatchRequest batch = web3j.newBatch();
			for (long number : all.subList(start, Math.min(all.size(), start + BLOCK_BATCH))) {
				batch.add(web3j.ethGetBlockByNumber(DefaultBlockParameter.valueOf(BigInteger.valueOf(number)), false));
			}
			for (Response<?> response : batch.send().getResponses()) {
				check("eth_getBlockByNumber", response);
				EthBlock.Block block = ((EthBlock) response).getBlock();
				if (block != null && block.getHash() != null && block.getNumber() != null) {
					hashes.put(block.getNumber().longValueExact(), block.getHash());
				}
			}
		}
		return hashes;
	}

	private static final int BLOCK_BATCH = 500;

	/** Logs of the rental events of our contract in [from, to]. */
	public List<ChainLog> rentalLogs(long from, long to) throws IOException {
		EthFilter filter = new EthFilter(DefaultBlockParameter.valueOf(BigInteger.valueOf(from)),
				DefaultBlockParameter.valueOf(BigInteger.valueOf(to)), contract);
		filter.addOptionalTopics(RentalMarketLogs.TOPICS.toArray(String[]::new));
		EthLog response = web3j.ethGetLogs(filter).send();
		check("eth_getLogs", response);
		List<ChainLog> logs = new ArrayList<>(response.getLogs().size());
		for (EthLog.LogResult<?> result : response.getLogs()) {
			if (result.get() instanceof Log log) {
				if (log.isRemoved()) {
					continue;
				}
				logs.add(new ChainLog(log.getBlockNumber().longValueExact(), log.getBlockHash(), log.getTransactionHash(),
						log.getLogIndex().intValueExact(), log.getAddress(), log.getTopics(), log.getData()));
			}
		}
		return logs;
	}

	private static void check(String method, Response<?> response) throws NodeRefusedException {
		if (response.hasError()) {
			throw new NodeRefusedException(method, response.getError());
		}
	}

}
