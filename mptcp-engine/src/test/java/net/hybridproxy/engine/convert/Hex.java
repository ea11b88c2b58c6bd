package net.hybridproxy.engine.convert;

import java.util.HexFormat;

/** Test vectors are written as hex with free spacing, the way RFC figures group bytes. */
final class Hex {

    private Hex() {
    }

    static byte[] bytes(String spacedHex) {
        return HexFormat.of().parseHex(spacedHex.replaceAll("\\s+", ""));
    }

    static String of(byte[] bytes) {
        return HexFormat.of().formatHex(bytes);
    }
}
