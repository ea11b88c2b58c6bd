package net.hybridproxy.loadtest.loadgen;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one pattern generator: deterministic, chunking-independent, and a checker that catches any changed byte. */
class PayloadPatternTest {

    @Test
    void theFirstBytesAreSplitMix64OfTheSeedLittleEndian() {
        // SplitMix64's first output for seed 0 is 0xE220A8397B1DCDAF (Steele, Lea and Flood's reference).
        byte[] first = new byte[8];
        PayloadPattern.of(0).fill(0, first, 0, 8);
        assertArrayEquals(new byte[] {(byte) 0xAF, (byte) 0xCD, 0x1D, 0x7B, 0x39, (byte) 0xA8, 0x20, (byte) 0xE2},
                first);
    }

    @Test
    void theStreamIsTheSameHoweverItIsChunkedAndAcrossTheBlockBoundary() {
        long start = PayloadPattern.BLOCK - 1000;
        byte[] whole = new byte[3000];
        PayloadPattern.of(9).fill(start, whole, 0, whole.length);
        byte[] pieces = new byte[3000];
        long position = start;
        int off = 0;
        for (int len : new int[] {1, 7, 8, 3, 13, 500, 968, 1500}) {
            PayloadPattern.of(9).fill(position, pieces, off, len);
            off += len;
            position += len;
        }
        assertEquals(whole.length, off);
        assertArrayEquals(whole, pieces);
        // The netty view serves the same bytes.
        ByteBuf slice = PayloadPattern.of(9).slice(start, 1000);
        byte[] fromSlice = new byte[slice.readableBytes()];
        slice.readBytes(fromSlice);
        slice.release();
        byte[] expected = new byte[1000];
        System.arraycopy(whole, 0, expected, 0, 1000);
        assertArrayEquals(expected, fromSlice);
    }

    @Test
    void differentSeedsGiveDifferentStreams() {
        byte[] a = new byte[64];
        byte[] b = new byte[64];
        PayloadPattern.of(1).fill(0, a, 0, 64);
        PayloadPattern.of(2).fill(0, b, 0, 64);
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(b));
    }

    @Test
    void theCheckerAcceptsThePatternAndCatchesAnyChangedByte() {
        long position = PayloadPattern.BLOCK - 10; // spans the block boundary
        byte[] data = new byte[100];
        PayloadPattern p = PayloadPattern.of(5);
        p.fill(position, data, 0, data.length);
        assertTrue(p.matches(Unpooled.wrappedBuffer(data), position));
        assertFalse(p.matches(Unpooled.wrappedBuffer(data), position + 1), "shifted by one byte");
        for (int i : new int[] {0, 9, 10, 99}) {
            byte[] bad = data.clone();
            bad[i] ^= 1;
            assertFalse(p.matches(Unpooled.wrappedBuffer(bad), position), "byte " + i + " changed");
        }
        ByteBuf buf = Unpooled.wrappedBuffer(data);
        p.matches(buf, position);
        assertEquals(100, buf.readableBytes(), "checking consumes nothing");
    }
}
