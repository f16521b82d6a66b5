// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title RentalMarket: pay-per-second GPU host rentals.
/// @notice Providers register hosts with a price per second; renters pay up front for a duration.
///         Ending early refunds the unused time pro rata. Provider earnings and renter refunds are
///         pull payments (withdraw), so no external call happens inside state changes.
///         A payment stays in escrow until the rental is over: ending it splits it between provider
///         and renter at once; after expiry anyone may settle it to the provider. Crediting the
///         provider up front let a provider withdraw money that a renter's early end then had to
///         take back, and endRental underflowed and reverted.
contract RentalMarket {
    struct Host {
        address provider;
        uint256 pricePerSecond;
    }

    struct Rental {
        bytes32 hostId;
        address renter;
        uint64 startsAt;
        uint64 endsAt;
        uint256 pricePerSecond;
        bool ended;
        bool settled; // the escrowed payment has been credited to provider (and renter)
    }

    /// Where renters find a host's API, and the SHA-256 of its TLS certificate's SubjectPublicKeyInfo
    /// (what `curl --pinnedpubkey sha256//<base64>` checks; zero when the API is plain HTTP).
    struct Endpoint {
        string apiUrl;
        bytes32 tlsSpkiSha256;
    }

    /// A URL longer than this is refused: nobody needs it, and every reader pays for it.
    uint256 public constant MAX_API_URL_BYTES = 512;

    mapping(bytes32 => Host) public hosts;
    mapping(bytes32 => Endpoint) private endpoints;
    mapping(uint256 => Rental) public rentals;
    mapping(address => uint256) public balances;
    uint256 public rentalCount;

    uint256 private locked = 1;

    event HostRegistered(bytes32 indexed hostId, address indexed provider, uint256 pricePerSecond);
    event RentalCreated(uint256 indexed rentalId, bytes32 indexed hostId, address indexed renter,
                        uint64 startsAt, uint64 endsAt, bytes32 renterWgPublicKey);
    event RentalExtended(uint256 indexed rentalId, uint64 endsAt);
    event RentalEnded(uint256 indexed rentalId, uint64 endedAt);
    event Withdrawn(address indexed account, uint256 amount);
    event HostEndpointSet(bytes32 indexed hostId, string apiUrl, bytes32 tlsSpkiSha256);

    error HostTaken();
    error UnknownHost();
    error ZeroDuration();
    error InsufficientPayment(uint256 required, uint256 paid);
    error UnknownRental();
    error NotRenter();
    error NotRenterOrProvider();
    error RentalNotActive();
    error NothingToWithdraw();
    error TransferFailed();
    error Reentrancy();
    error RentalStillActive();
    error NotProvider();
    error ApiUrlTooLong();

    modifier nonReentrant() {
        if (locked != 1) revert Reentrancy();
        locked = 2;
        _;
        locked = 1;
    }

    /// @notice The caller becomes the host's provider. A registered host can be re-priced only by its provider.
    function registerHost(bytes32 hostId, uint256 pricePerSecond) external {
        Host storage host = hosts[hostId];
        if (host.provider != address(0) && host.provider != msg.sender) revert HostTaken();
        host.provider = msg.sender;
        host.pricePerSecond = pricePerSecond;
        emit HostRegistered(hostId, msg.sender, pricePerSecond);
    }

    /// @notice Publishes the host's API address and TLS pin; only the host's provider may, and may change them.
    function setHostEndpoint(bytes32 hostId, string calldata apiUrl, bytes32 tlsSpkiSha256) external {
        Host storage host = hosts[hostId];
        if (host.provider == address(0)) revert UnknownHost();
        if (msg.sender != host.provider) revert NotProvider();
        if (bytes(apiUrl).length > MAX_API_URL_BYTES) revert ApiUrlTooLong();
        endpoints[hostId] = Endpoint(apiUrl, tlsSpkiSha256);
        emit HostEndpointSet(hostId, apiUrl, tlsSpkiSha256);
    }

    /// @notice The host's published API address and TLS pin; empty and zero until published.
    function hostEndpoint(bytes32 hostId) external view returns (string memory apiUrl, bytes32 tlsSpkiSha256) {
        Endpoint storage endpoint = endpoints[hostId];
        return (endpoint.apiUrl, endpoint.tlsSpkiSha256);
    }

    function rent(bytes32 hostId, uint64 durationSeconds, bytes32 renterWgPublicKey)
        external payable returns (uint256 rentalId)
    {
        Host storage host = hosts[hostId];
        if (host.provider == address(0)) revert UnknownHost();
        if (durationSeconds == 0) revert ZeroDuration();
        uint256 price = host.pricePerSecond * durationSeconds;
        if (msg.value < price) revert InsufficientPayment(price, msg.value);

        rentalId = ++rentalCount;
        uint64 startsAt = uint64(block.timestamp);
        uint64 endsAt = startsAt + durationSeconds;
        rentals[rentalId] = Rental(hostId, msg.sender, startsAt, endsAt, host.pricePerSecond, false, false);
        if (msg.value > price) balances[msg.sender] += msg.value - price;
        emit RentalCreated(rentalId, hostId, msg.sender, startsAt, endsAt, renterWgPublicKey);
    }

    function extend(uint256 rentalId, uint64 extraSeconds) external payable {
        Rental storage rental = rentals[rentalId];
        if (rental.renter == address(0)) revert UnknownRental();
        if (msg.sender != rental.renter) revert NotRenter();
        if (!_active(rental)) revert RentalNotActive();
        if (extraSeconds == 0) revert ZeroDuration();
        uint256 price = rental.pricePerSecond * extraSeconds;
        if (msg.value < price) revert InsufficientPayment(price, msg.value);

        rental.endsAt += extraSeconds;
        if (msg.value > price) balances[msg.sender] += msg.value - price;
        emit RentalExtended(rentalId, rental.endsAt);
    }

    /// @notice Ends a rental at once; the unused time goes back to the renter.
    function endRental(uint256 rentalId) external {
        Rental storage rental = rentals[rentalId];
        if (rental.renter == address(0)) revert UnknownRental();
        address provider = hosts[rental.hostId].provider;
        if (msg.sender != rental.renter && msg.sender != provider) revert NotRenterOrProvider();
        if (!_active(rental)) revert RentalNotActive();

        uint64 endedAt = uint64(block.timestamp);
        // The escrow holds pricePerSecond * (endsAt - startsAt): the original price plus every extension.
        uint256 refund = rental.pricePerSecond * (rental.endsAt - endedAt);
        uint256 earned = rental.pricePerSecond * (endedAt - rental.startsAt);
        rental.ended = true;
        rental.settled = true;
        rental.endsAt = endedAt;
        balances[provider] += earned;
        balances[rental.renter] += refund;
        emit RentalEnded(rentalId, endedAt);
    }

    /// @notice Credits the full payment of expired rentals to their providers; anyone may call it.
    ///         Rentals already settled are skipped, so a list may be sent again.
    function settle(uint256[] calldata rentalIds) external {
        for (uint256 i = 0; i < rentalIds.length; i++) {
            Rental storage rental = rentals[rentalIds[i]];
            if (rental.renter == address(0)) revert UnknownRental();
            if (rental.settled) continue;
            if (_active(rental)) revert RentalStillActive();
            rental.settled = true;
            balances[hosts[rental.hostId].provider] += rental.pricePerSecond * (rental.endsAt - rental.startsAt);
        }
    }

    /// @notice Pays out the caller's earnings and refunds.
    function withdraw() external nonReentrant {
        uint256 amount = balances[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        balances[msg.sender] = 0;
        (bool ok, ) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed();
        emit Withdrawn(msg.sender, amount);
    }

    function isActive(uint256 rentalId) external view returns (bool) {
        return _active(rentals[rentalId]);
    }

    function _active(Rental storage rental) private view returns (bool) {
        return !rental.ended && block.timestamp < rental.endsAt;
    }
}
