package net.hybridproxy.loadtest.loadgen;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The bytes every load-generator stream carries: a 1 MiB block derived from a seed, repeated. A receiver checks each
 * byte against the block at its stream offset (so a corrupted, duplicated or misordered byte is caught where it
 * happens) and both ends hash the whole stream with SHA-256 and compare digests at the end.
 */
final class PayloadPattern {
    static final int BLOCK = 1 << 20;

    private final ByteBuf block;

    PayloadPattern(long seed) {
        byte[] bytes = new byte[BLOCK];
        long state = seed;
        for (int i = 0; i < BLOCK; i += 8) {
            // splitmix64: cheap, and different seeds give unrelated streams.
            long z = (state += 0x9E3779B97F4A7C15L);
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            z ^= z >>> 31;
            for (int b = 0; b < 8; b++) {
                bytes[i + b] = (byte) (z >>> (8 * b));
            }
        }
        this.block = Unpooled.unreleasableBuffer(Unpooled.directBuffer(BLOCK).writeBytes(bytes).asReadOnly());
    }

    /** A read-only view of up to {@code max} pattern bytes starting at stream offset {@code position}. */
    ByteBuf slice(long position, int max) {
        int offset = (int) (position % BLOCK);
        return block.retainedSlice(offset, Math.min(max, BLOCK - offset));
    }

    /**
     * Whether {@code data} equals the pattern at stream offset {@code position}; checks the readable bytes without
     * consuming them.
     */
    boolean matches(ByteBuf data, long position) {
        int index = data.readerIndex();
        int left = data.readableBytes();
        while (left > 0) {
            int offset = (int) (position % BLOCK);
            int n = Math.min(left, BLOCK - offset);
            if (!ByteBufUtil.equals(data, index, block, offset, n)) {
                return false;
            }
            index += n;
            left -= n;
            position += n;
        }
        return true;
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("every JDK has SHA-256", e);
        }
    }

    /** Feeds the readable bytes of {@code data} to {@code digest} without consuming them. */
    static void update(MessageDigest digest, ByteBuf data) {
        if (data.nioBufferCount() == 1) {
            ByteBuffer nio = data.nioBuffer();
            digest.update(nio);
        } else {
            for (ByteBuffer nio : data.nioBuffers()) {
                digest.update(nio);
            }
        }
    }

    static String hex(MessageDigest digest) {
        return HexFormat.of().formatHex(digest.digest());
    }
}
