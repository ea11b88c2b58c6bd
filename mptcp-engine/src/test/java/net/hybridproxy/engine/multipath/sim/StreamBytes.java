package net.hybridproxy.engine.multipath.sim;

/** The bytes a simulated application sends: a function of the stream and the offset, so any receiver can check every byte. */
final class StreamBytes {

    private StreamBytes() {
    }

    static byte at(long stream, long offset) {
        long x = offset * 0x9E3779B97F4A7C15L + stream * 0xBF58476D1CE4E5B9L;
        return (byte) (x >>> 56);
    }

    static byte[] bytes(long stream, long offset, int length) {
        byte[] out = new byte[length];
        for (int i = 0; i < length; i++) {
            out[i] = at(stream, offset + i);
        }
        return out;
    }
}
