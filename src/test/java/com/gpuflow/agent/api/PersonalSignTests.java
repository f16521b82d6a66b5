package com.gpuflow.agent.api;

import java.math.BigInteger;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.web3j.crypto.Credentials;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatExceptionOfType;

class PersonalSignTests {

	static final String MESSAGE = SiweMessageTests.EXPECTED;

	static final Credentials WALLET = Credentials.create(CastWallet.PRIVATE_KEY);

	@Test
	void recoversTheSignerOfASignatureMadeByTheRealWalletClient() throws Exception {
		String signature = CastWallet.sign(CastWallet.PRIVATE_KEY, MESSAGE);
		assertThat(signature).matches("0x[0-9a-f]{130}");
		assertThat(PersonalSign.recoverAddress(MESSAGE, signature)).isEqualTo(CastWallet.ADDRESS.toLowerCase());
	}

	@Test
	void castAndWeb3jProduceTheSameSignature() {
		// RFC 6979 deterministic nonces: both clients give the same bytes for the same message.
		assertThat(Signatures.personalSign(WALLET, MESSAGE)).isEqualTo(CastWallet.sign(CastWallet.PRIVATE_KEY, MESSAGE));
	}

	@Test
	void theBenchmarksFastSignerGivesTheSameSignatureAsWeb3j() {
		for (int i = 0; i < 50; i++) {
			String message = MESSAGE + i;
			assertThat(Signatures.fastPersonalSign(WALLET.getEcKeyPair(), message))
				.isEqualTo(Signatures.personalSign(WALLET, message));
		}
	}

	@Test
	void vAsZeroOrOneIsAcceptedLikeTwentySevenOrTwentyEight() throws Exception {
		byte[] raw = Signatures.raw(Signatures.personalSign(WALLET, MESSAGE));
		raw[64] -= 27;
		assertThat(PersonalSign.recoverAddress(MESSAGE, Signatures.hex(raw))).isEqualTo(CastWallet.ADDRESS.toLowerCase());
	}

	@Test
	void anEditedMessageRecoversAnotherAddress() throws Exception {
		String signature = Signatures.personalSign(WALLET, MESSAGE);
		assertThat(PersonalSign.recoverAddress(MESSAGE.replace("rental 42", "rental 43"), signature))
			.isNotEqualTo(CastWallet.ADDRESS.toLowerCase());
	}

	@Test
	void malformedSignaturesAreRefusedWithAReason() {
		String good = Signatures.personalSign(WALLET, MESSAGE);
		byte[] badV = Signatures.raw(good);
		badV[64] = 29;
		byte[] zeroR = Signatures.raw(good);
		System.arraycopy(new byte[32], 0, zeroR, 0, 32);
		byte[] zeroS = Signatures.raw(good);
		System.arraycopy(new byte[32], 0, zeroS, 32, 32);
		byte[] rAtOrder = Signatures.raw(good);
		System.arraycopy(Signatures.to32(Signatures.CURVE_ORDER), 0, rAtOrder, 0, 32);
		byte[] sMax = Signatures.raw(good);
		System.arraycopy(Signatures.to32(BigInteger.ONE.shiftLeft(256).subtract(BigInteger.ONE)), 0, sMax, 32, 32);
		List<String> refused = List.of(
				good.substring(2), // no 0x
				good.substring(0, good.length() - 2), // 64 bytes
				good + "00", // 66 bytes
				"0x", "", good.replace('a', 'g'), // non-hex
				good.toUpperCase(), // 0X prefix
				" " + good, Signatures.hex(badV), Signatures.hex(zeroR), Signatures.hex(zeroS), Signatures.hex(rAtOrder),
				Signatures.hex(sMax), Signatures.highS(good), "0x" + "00".repeat(65), "0x" + "ff".repeat(65));
		for (String signature : refused) {
			assertThatExceptionOfType(PersonalSign.InvalidSignature.class).as(signature)
				.isThrownBy(() -> PersonalSign.recoverAddress(MESSAGE, signature));
		}
		assertThatExceptionOfType(PersonalSign.InvalidSignature.class)
			.isThrownBy(() -> PersonalSign.recoverAddress(MESSAGE, null));
	}

	@Test
	void theHighSTwinOfAValidSignatureIsRefusedAsEip2Requires() {
		String good = Signatures.personalSign(WALLET, MESSAGE);
		assertThatExceptionOfType(PersonalSign.InvalidSignature.class)
			.isThrownBy(() -> PersonalSign.recoverAddress(MESSAGE, Signatures.highS(good)))
			.withMessageContaining("EIP-2");
	}

	@Test
	void anRThatIsNoCurvePointRecoversNothing() {
		// x = 5 has no point on secp256k1 (5^3 + 7 = 132 is not a square mod p)
		byte[] raw = Signatures.raw(Signatures.personalSign(WALLET, MESSAGE));
		System.arraycopy(Signatures.to32(BigInteger.valueOf(5)), 0, raw, 0, 32);
		assertThatExceptionOfType(PersonalSign.InvalidSignature.class)
			.isThrownBy(() -> PersonalSign.recoverAddress(MESSAGE, Signatures.hex(raw)));
	}

}
