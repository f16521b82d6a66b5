package com.gpuflow.agent.api;

import java.math.BigInteger;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

class RentalIdTests {

	static final BigInteger MAX = BigInteger.ONE.shiftLeft(256).subtract(BigInteger.ONE);

	@Test
	void decimalUint256sParse() {
		assertThat(RentalId.parse("0").value()).isZero();
		assertThat(RentalId.parse("42").value()).isEqualTo(42);
		assertThat(RentalId.parse(MAX.toString()).value()).isEqualTo(MAX);
	}

	@ParameterizedTest
	@ValueSource(strings = { "", "-1", "+1", "0x2a", "1e3", "1.0", " 1", "1 ", "abc", "１２" })
	void textsThatAreNotDecimalNumbersAreRefused(String text) {
		assertThatIllegalArgumentException().isThrownBy(() -> RentalId.parse(text));
	}

	@Test
	void numbersBeyondUint256AreRefused() {
		assertThatIllegalArgumentException().isThrownBy(() -> RentalId.parse(MAX.add(BigInteger.ONE).toString()));
		assertThatIllegalArgumentException().isThrownBy(() -> RentalId.parse("9".repeat(79)));
		assertThatIllegalArgumentException().isThrownBy(() -> RentalId.parse("1".repeat(100_000)));
	}

	@Test
	void idsUpToTwoToThe53AreJsonNumbersAndLargerOnesStrings() {
		BigInteger limit = BigInteger.ONE.shiftLeft(53);
		assertThat(new RentalId(limit).json()).isEqualTo(limit.longValueExact());
		assertThat(new RentalId(limit.add(BigInteger.ONE)).json()).isEqualTo(limit.add(BigInteger.ONE).toString());
		assertThat(new RentalId(MAX).json()).isEqualTo(MAX.toString());
	}

}
