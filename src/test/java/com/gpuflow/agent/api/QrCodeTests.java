package com.gpuflow.agent.api;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.Map;

import javax.imageio.ImageIO;

import com.google.zxing.BinaryBitmap;
import com.google.zxing.DecodeHintType;
import com.google.zxing.client.j2se.BufferedImageLuminanceSource;
import com.google.zxing.common.HybridBinarizer;
import com.google.zxing.qrcode.QRCodeReader;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class QrCodeTests {

	static String decode(byte[] png) throws Exception {
		BufferedImage image = ImageIO.read(new ByteArrayInputStream(png));
		return new QRCodeReader()
			.decode(new BinaryBitmap(new HybridBinarizer(new BufferedImageLuminanceSource(image))),
					Map.of(DecodeHintType.CHARACTER_SET, "UTF-8"))
			.getText();
	}

	@Test
	void aConfigEncodedAsPngDecodesToTheSameText() throws Exception {
		String config = new WgQuickConfig("yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=", "10.77.255.254",
				"HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=", "gpu-host-17.example.org:51820", "10.77.0.1", 25)
			.render();
		byte[] png = QrCode.png(config);
		assertThat(png).startsWith(0x89, 'P', 'N', 'G');
		assertThat(decode(png)).isEqualTo(config);
	}

}
