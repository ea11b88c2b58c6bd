package net.hybridproxy.engine.multipath.reassembly;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class SendBufferTest {

    @Test
    void writesStopAtTheCapacityAndResumeWhenDataIsAcknowledged() {
        SendBuffer buffer = new SendBuffer(100, 1000);

        assertEquals(100, buffer.write(ByteBuffer.allocate(150)));
        assertEquals(0, buffer.freeBytes());
        buffer.take(60, 0, 0);
        buffer.onDataAck(60, 1000);

        assertEquals(60, buffer.freeBytes());
    }

    @Test
    void newDataStaysBelowThePeersRightEdge() {
        SendBuffer buffer = new SendBuffer(1000, 50);
        buffer.write(ByteBuffer.allocate(200));

        assertEquals(50, buffer.take(100, 0, 0).length());
        assertNull(buffer.take(100, 0, 0));
        assertTrue(buffer.blockedByWindow());
        buffer.onDataAck(50, 100);
        assertEquals(100, buffer.take(500, 0, 0).length());
    }

    @Test
    void aFailedSubflowsSegmentsAreReinjectedUnlessAnotherLiveSubflowCarriedThem() {
        SendBuffer buffer = new SendBuffer(1000, 1000);
        buffer.write(ByteBuffer.allocate(300));
        buffer.take(100, 0, 0);
        buffer.take(100, 1, 0);
        buffer.take(100, 0, 0);

        assertEquals(200, buffer.reinject(0, 1L << 1));
        SendBuffer.Chunk first = buffer.take(1000, 1, 1);
        SendBuffer.Chunk second = buffer.take(1000, 1, 1);

        assertTrue(first.retransmission() && second.retransmission());
        assertEquals(0, first.dsn());
        assertEquals(200, second.dsn());
        assertFalse(buffer.hasSendable());
    }

    @Test
    void aHoleTheSubflowRepairsIsReinjectedAloneAndOnlyWhenLaterBytesArrived() {
        SendBuffer buffer = new SendBuffer(1000, 1000);
        buffer.write(ByteBuffer.allocate(400));
        for (int i = 0; i < 4; i++) {
            buffer.take(100, 0, 0);
            buffer.carried(100L * i, 0, 110L * (i + 1), 10); // frames of 110 bytes on subflow 0's stream
        }

        // Nothing after the head arrived: the head sits in a queue, it is no hole.
        assertFalse(buffer.headIsHoleOn(0, 0, 100));
        assertTrue(buffer.headLateOn(0, 0, 10));
        // What was sent after it arrived (SACKed): the head is a hole.
        assertTrue(buffer.headIsHoleOn(0, 0, 330));
        assertFalse(buffer.headIsHoleOn(1, 0, 330));

        assertEquals(200, buffer.reinjectHead(0, 0, 1L << 1, 150));
        assertEquals(0, buffer.take(1000, 1, 1).dsn());
        assertEquals(100, buffer.take(1000, 1, 1).dsn());
        assertNull(buffer.take(1000, 1, 1), "only the head, up to the bound, is sent again");
    }

    @Test
    void theDataFinFollowsTheLastByteAndIsAcknowledgedLikeOne() {
        SendBuffer buffer = new SendBuffer(1000, 1000);
        buffer.write(ByteBuffer.allocate(10));
        buffer.finish();

        SendBuffer.Chunk chunk = buffer.take(100, 0, 0);

        assertTrue(chunk.fin());
        assertEquals(11, chunk.end());
        assertFalse(buffer.finAcked());
        buffer.onDataAck(11, 1000);
        assertTrue(buffer.finAcked());
        assertThrows(IllegalStateException.class, () -> buffer.write(ByteBuffer.allocate(1)));
    }

    @Test
    void anAcknowledgementOfDataNeverSentIsRefused() {
        SendBuffer buffer = new SendBuffer(1000, 1000);
        buffer.write(ByteBuffer.allocate(100));
        buffer.take(50, 0, 0);

        assertThrows(IllegalStateException.class, () -> buffer.onDataAck(51, 1000));
    }

    @Test
    void theHeadSegmentIsRetransmittedOpportunisticallyOnlyOnceAndNotOnItsOwnSubflow() {
        SendBuffer buffer = new SendBuffer(1000, 100);
        buffer.write(ByteBuffer.allocate(500));
        buffer.take(100, 0, 0);

        assertNull(buffer.takeOpportunistic(0));
        assertEquals(0, buffer.takeOpportunistic(1).dsn());
        assertNull(buffer.takeOpportunistic(2));
    }

    @Test
    void atMostAThousandAndTwentyFourFramesAreInFlight() {
        SendBuffer buffer = new SendBuffer(1 << 20, 1 << 20);
        buffer.write(ByteBuffer.allocate(SendBuffer.MAX_SEGMENTS_IN_FLIGHT + 10));
        for (int i = 0; i < SendBuffer.MAX_SEGMENTS_IN_FLIGHT; i++) {
            buffer.take(1, 0, 0);
        }

        assertNull(buffer.take(1, 0, 0));
        buffer.onDataAck(1, 1 << 20);
        assertEquals(1, buffer.take(1, 0, 0).length());
    }

    @Test
    void bytesSurviveTheRingWrappingAndGrowing() {
        SendBuffer buffer = new SendBuffer(200_000, 1 << 20);
        long written = 0;
        long acked = 0;
        for (int round = 0; round < 50; round++) {
            byte[] data = new byte[7_000 + round * 100];
            for (int i = 0; i < data.length; i++) {
                data[i] = (byte) (written + i);
            }
            written += buffer.write(ByteBuffer.wrap(data));
            SendBuffer.Chunk chunk;
            while ((chunk = buffer.take(4_000, 0, 0)) != null) {
                byte[] payload = buffer.payload(chunk);
                assertEquals(chunk.length(), payload.length);
                for (int i = 0; i < payload.length; i++) {
                    assertEquals((byte) (chunk.dsn() + i), payload[i]);
                }
            }
            acked = Math.min(written, acked + 5_000);
            buffer.onDataAck(acked, 1 << 20);
        }
    }

    @Test
    void anIdleBufferHoldsNoRingAndABusyOneKeepsItsRingWhenEverythingIsAcknowledged() {
        SendBuffer buffer = new SendBuffer(1 << 20, 1 << 20);
        assertEquals(0, buffer.ringBytes());
        assertEquals(0, buffer.allocatedBytes());

        long written = 0;
        for (int burst = 0; burst < 3; burst++) {
            written += buffer.write(ByteBuffer.allocate(100_000));
            SendBuffer.Chunk chunk;
            while ((chunk = buffer.take(16_384, 0, 0)) != null) {
                buffer.payload(chunk);
            }
            buffer.onDataAck(written, 1 << 20);
            // Everything acknowledged: the ring stays for the next burst (no regrowth by doublings, no new array).
            assertEquals(131_072, buffer.ringBytes());
        }

        assertTrue(buffer.release());
        assertEquals(0, buffer.ringBytes());
        assertEquals(0, buffer.allocatedBytes());
        assertFalse(buffer.release());
        // The next write allocates a ring again, and the bytes come out right after the release.
        byte[] data = {1, 2, 3};
        assertEquals(3, buffer.write(ByteBuffer.wrap(data)));
        assertEquals(4096, buffer.ringBytes());
        SendBuffer.Chunk chunk = buffer.take(100, 0, 0);
        assertEquals(written, chunk.dsn());
        assertEquals(3, buffer.payload(chunk)[2]);
        assertFalse(buffer.release()); // bytes in flight keep the ring
    }

    @Test
    void aBareDataFinNeedsNoRing() {
        SendBuffer buffer = new SendBuffer(1 << 20, 1 << 20);
        buffer.finish();
        SendBuffer.Chunk fin = buffer.take(100, 0, 0);
        assertTrue(fin.fin());
        assertEquals(0, buffer.payload(fin).length);
        buffer.onDataAck(1, 1 << 20);
        assertTrue(buffer.finAcked());
        assertEquals(0, buffer.ringBytes());
    }

    @Test
    void aDataAckInsideASegmentLeavesOnlyItsRestToSendAgain() {
        SendBuffer buffer = new SendBuffer(1000, 1000);
        byte[] bytes = new byte[300];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) i;
        }
        buffer.write(ByteBuffer.wrap(bytes));
        buffer.take(200, 0, 0);
        buffer.take(100, 1, 0);

        // Queued to be sent again (its subflow failed), then the receiver hands on the first 120 bytes of the frame
        // as they arrive and acknowledges them: what is sent again starts at the acknowledgement.
        assertEquals(200, buffer.reinject(0, 1L << 1));
        buffer.onDataAck(120, 1000);
        SendBuffer.Chunk rest = buffer.take(1000, 1, 1);
        assertEquals(120, rest.dsn());
        assertEquals(80, rest.length());
        assertTrue(rest.retransmission());
        ByteBuffer out = ByteBuffer.allocate(80);
        buffer.copyTo(rest, out);
        assertEquals((byte) 120, out.get(0));
        assertNull(buffer.take(1000, 1, 1), "nothing else to send");
    }
}
