// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IRentalMarket {
    function rent(bytes32 hostId, uint64 durationSeconds, bytes32 renterWgPublicKey)
        external payable returns (uint256 rentalId);
}

/// @notice Test helper only (never deployed outside tests and benchmarks): many rentals in one
///         transaction, so a benchmark can put tens of thousands of RentalCreated events on a dev
///         chain without flooding its transaction pool.
contract BulkRenter {
    function rentMany(IRentalMarket market, bytes32 hostId, uint64 durationSeconds, uint256 count)
        external payable
    {
        uint256 each = msg.value / count;
        for (uint256 i = 0; i < count; i++) {
            market.rent{value: each}(hostId, durationSeconds, bytes32(0));
        }
    }
}
