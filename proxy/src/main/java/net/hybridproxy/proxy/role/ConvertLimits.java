package net.hybridproxy.proxy.role;

/** Bounds for buffering a Convert message before relaying starts. */
final class ConvertLimits {
    /**
     * RFC 8803 §4.1: Total Length is an 8-bit count of 32-bit words, so no Convert message exceeds 255 x 4 bytes.
     */
    static final int MAX_MESSAGE_BYTES = 255 * 4;

    private ConvertLimits() {
    }
}
