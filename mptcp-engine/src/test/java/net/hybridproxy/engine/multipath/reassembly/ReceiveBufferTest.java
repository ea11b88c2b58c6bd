package net.hybridproxy.engine.multipath.reassembly;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class ReceiveBufferTest {

    private static byte[] bytes(int from, int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (from + i);
        }
        return b;
    }

    private static byte[] readAll(ReceiveBuffer buffer) {
        ByteBuffer out = ByteBuffer.allocate(1 << 20);
        while (buffer.read(out) > 0) {
            // keep reading
        }
        return java.util.Arrays.copyOf(out.array(), out.position());
    }

    @Test
    void outOfOrderBytesWaitForTheHoleAndDuplicatesAreDroppedByDataSequenceNumber() {
        ReceiveBuffer buffer = new ReceiveBuffer(1000, 1000, 16);

        assertEquals(10, buffer.receive(10, bytes(10, 10), false).newBytes());
        assertEquals(0, buffer.readableBytes());
        assertEquals(0, buffer.dataAck());
        assertEquals(10, buffer.receive(0, bytes(0, 10), false).newBytes());
        ReceiveBuffer.Received again = buffer.receive(5, bytes(5, 10), false);

        assertEquals(0, again.newBytes());
        assertEquals(10, again.duplicateBytes());
        assertEquals(20, buffer.dataAck());
        assertArrayEquals(bytes(0, 20), readAll(buffer));
    }

    @Test
    void bytesBeyondTheRightEdgeAreNotAccepted() {
        ReceiveBuffer buffer = new ReceiveBuffer(100, 50, 16);

        ReceiveBuffer.Received r = buffer.receive(40, bytes(40, 20), false);

        assertEquals(10, r.newBytes());
        assertEquals(10, r.beyondWindowBytes());
        assertEquals(50, buffer.rightEdge());
    }

    @Test
    void theRightEdgeNeverMovesBackAndOpensAsTheApplicationReads() {
        ReceiveBuffer buffer = new ReceiveBuffer(100, 100, 16);
        buffer.receive(0, bytes(0, 100), false);
        assertEquals(0, buffer.window());
        assertEquals(0, buffer.openWindow(1000), "nothing read, nothing to open");

        readAll(buffer);

        assertEquals(100, buffer.openWindow(1000));
        assertEquals(200, buffer.rightEdge());
        assertEquals(0, buffer.openWindow(-5));
        assertEquals(200, buffer.rightEdge());
    }

    @Test
    void theDataFinEndsTheStreamOnceEverythingBeforeItIsRead() {
        ReceiveBuffer buffer = new ReceiveBuffer(100, 100, 16);
        assertTrue(buffer.receive(5, bytes(5, 5), true).finNew());
        buffer.receive(0, bytes(0, 5), false);

        assertEquals(11, buffer.dataAck(), "the DATA_FIN occupies one data sequence number");
        assertArrayEquals(bytes(0, 10), readAll(buffer));
        assertEquals(-1, buffer.read(ByteBuffer.allocate(10)));
        assertThrows(IllegalStateException.class, () -> buffer.receive(8, bytes(8, 4), true));
    }

    @Test
    void morePiecesThanAnHonestSenderCanHaveInFlightIsAProtocolError() {
        ReceiveBuffer buffer = new ReceiveBuffer(1000, 1000, 3);
        buffer.receive(10, bytes(10, 1), false);
        buffer.receive(20, bytes(20, 1), false);
        buffer.receive(30, bytes(30, 1), false);

        assertThrows(IllegalStateException.class, () -> buffer.receive(40, bytes(40, 1), false));
    }

    @Property(tries = 300)
    void anyArrivalOrderWithDuplicatesDeliversTheSameBytes(@ForAll @IntRange(min = 1, max = 40) int pieces,
                                                           @ForAll long seed) {
        List<int[]> frames = new ArrayList<>();
        int offset = 0;
        java.util.Random random = new java.util.Random(seed);
        for (int i = 0; i < pieces; i++) {
            int length = 1 + random.nextInt(50);
            frames.add(new int[] {offset, length});
            if (random.nextInt(4) == 0) {
                frames.add(new int[] {offset, length});
            }
            offset += length;
        }
        Collections.shuffle(frames, random);
        ReceiveBuffer buffer = new ReceiveBuffer(4096, 4096, 256);

        for (int[] frame : frames) {
            buffer.receive(frame[0], bytes(frame[0], frame[1]), false);
        }

        assertEquals(offset, buffer.dataAck());
        assertArrayEquals(bytes(0, offset), readAll(buffer));
        assertEquals(0, buffer.outOfOrderBytes());
    }

    /** Pieces of any size, in order or not, read in any amounts, come out as sent; small ones cost little heap. */
    @Property(tries = 300)
    void piecesOfAnySizeReadInAnyAmountsComeOutInOrder(@ForAll long seed) {
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
        int total = 200_000;
        ReceiveBuffer buffer = new ReceiveBuffer(1 << 20, 1 << 20, 4096);
        List<int[]> pieces = new ArrayList<>();
        for (int at = 0; at < total; ) {
            int length = Math.min(total - at, random.nextBoolean() ? 1 + random.nextInt(8) : 1 + random.nextInt(16384));
            pieces.add(new int[] {at, length});
            at += length;
        }
        // Swap neighbours now and then: out of order, never more than a few pieces apart.
        for (int i = 1; i < pieces.size(); i++) {
            if (random.nextInt(4) == 0) {
                Collections.swap(pieces, i - 1, i);
            }
        }
        ByteBuffer out = ByteBuffer.allocate(total);
        for (int[] piece : pieces) {
            buffer.receive(piece[0], bytes(piece[0], piece[1]), false);
            if (random.nextInt(5) == 0) {
                // A copy overlapping what came before (reinjection, redundant scheduling).
                int from = Math.max(0, piece[0] - random.nextInt(20_000));
                int length = Math.min(total - from, 1 + random.nextInt(16384));
                buffer.receive(from, bytes(from, length), false);
            }
            if (random.nextInt(3) == 0) {
                ByteBuffer some = out.slice(out.position(), Math.min(out.remaining(), 1 + random.nextInt(20_000)));
                int n = buffer.read(some);
                out.position(out.position() + Math.max(0, n));
            }
        }
        while (out.hasRemaining() && buffer.read(out) > 0) {
            // the rest
        }
        assertEquals(total, out.position());
        assertArrayEquals(bytes(0, total), out.array());
    }

    @Test
    void oneBytePiecesInOrderCostAboutAByteEach() {
        ReceiveBuffer buffer = new ReceiveBuffer(1 << 20, 1 << 20, 4096);
        for (int i = 0; i < 100_000; i++) {
            buffer.receive(i, new byte[] {(byte) i}, false);
        }
        assertTrue(buffer.allocatedBytes() < 2 * 100_000, buffer.allocatedBytes() + " bytes of heap for 100000");
    }
}
