package net.hybridproxy.loadtest.loadgen;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The bytes every load-generator stream carries, the only pattern generator of the project: a 1 MiB block derived
 * from a seed (SplitMix64 output, little-endian), repeated. Byte {@code i} of a stream is a pure function of the seed
 * and {@code i}, so either end can produce or check any stretch of it independently, however it is chunked. A
 * receiver checks each byte against the block at its stream offset (a corrupted, duplicated or misordered byte is
 * caught where it happens) and both ends hash the whole stream with SHA-256 and compare digests at the end.
 * Incompressible enough that no layer can cheat by compressing it.
 */
public final class PayloadPattern {
    static final int BLOCK = 1 << 20;
    /** Clients use a handful of seeds (one per stream); the cache is cleared beyond this so it stays bounded. */
    private static final int MAX_CACHED = 64;
    private static final Map<Long, PayloadPattern> CACHE = new ConcurrentHashMap<>();

    private final byte[] bytes;
    private final ByteBuf block;

    private PayloadPattern(long seed) {
        bytes = new byte[BLOCK];
        long state = seed;
        for (int i = 0; i < BLOCK; i += 8) {
            // SplitMix64: cheap, and different seeds give unrelated streams.
            long z = (state += 0x9E3779B97F4A7C15L);
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            z ^= z >>> 31;
            for (int b = 0; b < 8; b++) {
                bytes[i + b] = (byte) (z >>> (8 * b));
            }
        }
        block = Unpooled.unreleasableBuffer(Unpooled.directBuffer(BLOCK).writeBytes(bytes).asReadOnly());
    }

    /** The pattern of {@code seed}, shared (it is immutable). */
    public static PayloadPattern of(long seed) {
        if (CACHE.size() > MAX_CACHED) {
            CACHE.clear();
        }
        return CACHE.computeIfAbsent(seed, PayloadPattern::new);
    }

    /** A read-only view of up to {@code max} pattern bytes starting at stream offset {@code position}. */
    ByteBuf slice(long position, int max) {
        int offset = (int) (position % BLOCK);
        return block.retainedSlice(offset, Math.min(max, BLOCK - offset));
    }

    /** Copies the pattern bytes at stream offsets {@code position .. position+len-1} into {@code target}. */
    public void fill(long position, byte[] target, int off, int len) {
        while (len > 0) {
            int offset = (int) (position % BLOCK);
            int n = Math.min(len, BLOCK - offset);
            System.arraycopy(bytes, offset, target, off, n);
            off += n;
            len -= n;
            position += n;
        }
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

    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("every JDK has SHA-256", e);
        }
    }

    /** Feeds the readable bytes of {@code data} to {@code digest} without consuming them. */
    static void update(MessageDigest digest, ByteBuf data) {
        for (ByteBuffer nio : data.nioBuffers()) {
            digest.update(nio);
        }
    }

    public static String hex(MessageDigest digest) {
        return HexFormat.of().formatHex(digest.digest());
    }
}
