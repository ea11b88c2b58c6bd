package net.hybridproxy.engine.multipath.reassembly;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * One stream's send side: the data sequence space from the oldest byte not yet DATA_ACKed to the
 * last byte the application wrote, what was sent on which subflow, and what must be sent again.
 *
 * <p>Bytes stay here until DATA_ACKed, not merely until a subflow took them: RFC 8684 §3.3.6:
 * "The sender MUST keep data in its send buffer as long as the data has not been acknowledged at
 * the connection level". That is what makes reinjection possible when a subflow fails. Memory is
 * bounded by {@code capacity}; {@link #write} accepts only what fits (backpressure, not
 * buffering).
 *
 * <p>New data is sent only below the peer's right edge (RFC 8684 §3.3.4, paraphrased: the sender must not
 * send data beyond the window).
 *
 * <p>Every segment sent is remembered with a bit mask of the subflows (by slot, 0..63) that carried
 * a copy; a segment is reinjected when every subflow that carried it has failed.
 */
public final class SendBuffer {

    /**
     * The most DATA frames of one stream a sender keeps un-DATA_ACKed (docs/userspace-protocol.md
     * §5.3). A receiver holds at least this many out-of-order pieces per stream, so an honest
     * sender never makes it refuse in-window data, however small its frames.
     */
    public static final int MAX_SEGMENTS_IN_FLIGHT = 1024;

    /**
     * A segment to put in one DATA frame: where it lies, not a copy of its bytes. Its payload is copied once, by
     * {@link #copyTo}, straight into the frame being assembled, while the buffer still holds it (until the next
     * DATA_ACK).
     */
    public record Chunk(long dsn, int length, boolean fin, boolean retransmission) {
        public long end() {
            return dsn + length + (fin ? 1 : 0);
        }
    }

    /** A segment that was sent: where, when, and whether it was sent again opportunistically. */
    private static final class StoredSegment {
        final int length;
        final boolean fin;
        long subflows;
        long sentAt;
        boolean opportunisticallyRetransmitted;
        /** Whether it waits in the retransmission queue. */
        boolean queued;
        /** The slot of the subflow that carried it last, -1 before {@link #carried} said. */
        int carrierSlot = -1;
        /** Where its frame ends in that subflow's byte stream (bytes handed to the subflow up to its end). */
        long carrierEnd;
        /** When it is late if that subflow's TCP connection has not delivered it yet. */
        long lateAt = Long.MAX_VALUE;

        StoredSegment(int length, boolean fin, long subflows, long sentAt) {
            this.length = length;
            this.fin = fin;
            this.subflows = subflows;
            this.sentAt = sentAt;
        }
    }

    /**
     * The ring's first size, allocated by the first write: small, as most streams are short. It grows by doubling
     * as bytes are written (a bulk stream reaches its size after a few doublings) and is given back whole by
     * {@link #release()} once the stream has been idle for a while (its owner decides when): an idle stream holds
     * no ring at all.
     */
    static final int MIN_RING = 4 * 1024;
    private static final byte[] NO_RING = new byte[0];
    /** Heap bytes per segment in flight: its TreeMap entry and boxed key, and the StoredSegment (40 bytes). */
    static final int SEGMENT_COST = MemoryCost.TREE_ENTRY + 40;

    private final int capacity;
    private long limit;
    private byte[] ring;
    private int head;
    private long una;
    private long writeEnd;
    private long nextNew;
    private long finDsn = -1;
    private boolean finSent;
    private long peerRightEdge;
    private final TreeMap<Long, StoredSegment> segments = new TreeMap<>();
    private final ArrayDeque<Long> retransmit = new ArrayDeque<>();

    /**
     * @param capacity      the most bytes held (written and not yet DATA_ACKed)
     * @param initialWindow the peer's right edge before its first DATA_ACK
     */
    public SendBuffer(int capacity, long initialWindow) {
        if (capacity < 1 || initialWindow < 0) {
            throw new IllegalArgumentException("capacity " + capacity + ", initial window " + initialWindow);
        }
        this.capacity = capacity;
        this.limit = capacity;
        this.ring = NO_RING;
        this.peerRightEdge = initialWindow;
    }

    /**
     * The most bytes this stream may hold from now on (written and not yet DATA_ACKed). Grows only, up to the
     * capacity; a lower value than what is held only stops further writes.
     */
    public void limit(long newLimit) {
        limit = Math.max(limit, Math.min(capacity, newLimit));
    }

    /** Starts the limit at {@code initial} (at most the capacity); later calls to {@link #limit(long)} grow it. */
    public void initialLimit(long initial) {
        limit = Math.max(1, Math.min(capacity, initial));
    }

    public long limit() {
        return limit;
    }

    /** Heap bytes this buffer holds ({@link MemoryCost}): the ring and the segments in flight. */
    public long allocatedBytes() {
        return (ring.length == 0 ? 0 : MemoryCost.array(ring.length)) + (long) segments.size() * SEGMENT_COST;
    }

    /** The ring's size in bytes (0 before the first write and after {@link #release()}). */
    public int ringBytes() {
        return ring.length;
    }

    /** Bytes {@link #write} would take now without growing the ring by more than {@code growth} heap bytes. */
    public long writableWithin(long growth) {
        long free = freeBytes();
        int used = (int) (writeEnd - una);
        long size = ring.length;
        while (size < capacity && grownSize(size) - ring.length <= growth) {
            size = grownSize(size);
        }
        return Math.max(0, Math.min(free, size - used));
    }

    /**
     * Gives the whole ring back if every byte written has been acknowledged (the next write allocates a new one),
     * and says whether it did. Not done at every DATA_ACK that empties the buffer: at Gbit/s a bulk stream's buffer
     * empties and refills many times a second, and each refill grew a new ring of megabytes by doublings (copying
     * it each time) which outlived the young generation and was promoted, to die there (docs/decisions.md,
     * 2026-11-30, "send rings kept while a stream is busy").
     */
    public boolean release() {
        if (una < writeEnd || ring.length == 0) {
            return false;
        }
        ring = NO_RING;
        head = 0;
        return true;
    }

    /** Copies as many bytes from {@code src} as fit and returns how many. */
    public int write(ByteBuffer src) {
        if (finDsn >= 0) {
            throw new IllegalStateException("stream already finished");
        }
        int n = (int) Math.min(src.remaining(), freeBytes());
        if (n == 0) {
            return 0;
        }
        ensureRing((int) (writeEnd - una) + n);
        int pos = index(writeEnd);
        int first = Math.min(n, ring.length - pos);
        src.get(ring, pos, first);
        if (first < n) {
            src.get(ring, 0, n - first);
        }
        writeEnd += n;
        return n;
    }

    /** Bytes {@link #write} would accept now. */
    public long freeBytes() {
        return finDsn >= 0 ? 0 : Math.max(0, limit - (writeEnd - una));
    }

    /** No more bytes will be written; a DATA_FIN follows the last one. */
    public void finish() {
        if (finDsn < 0) {
            finDsn = writeEnd;
        }
    }

    /** Whether the DATA_FIN has been DATA_ACKed, i.e. the peer received everything. */
    public boolean finAcked() {
        return finDsn >= 0 && una > finDsn;
    }

    /**
     * Applies a DATA_ACK.
     *
     * @return bytes newly acknowledged
     * @throws IllegalStateException if the peer acknowledges data never sent
     */
    public long onDataAck(long dataAck, long window) {
        long highestSent = finSent ? finDsn + 1 : nextNew;
        if (dataAck > highestSent) {
            throw new IllegalStateException("DATA_ACK " + dataAck + " beyond the highest data sent, " + highestSent);
        }
        peerRightEdge = Math.max(peerRightEdge, dataAck + window);
        if (dataAck <= una) {
            return 0;
        }
        long acked = dataAck - una;
        long dataAcked = Math.min(dataAck, writeEnd) - una;
        if (ring.length > 0) {
            head = (int) ((head + dataAcked) % ring.length);
        }
        una = dataAck;
        while (!segments.isEmpty()) {
            Map.Entry<Long, StoredSegment> first = segments.firstEntry();
            if (first.getKey() + first.getValue().length + (first.getValue().fin ? 1 : 0) <= una) {
                segments.pollFirstEntry();
            } else {
                break;
            }
        }
        trimPartlyAckedHead();
        return acked;
    }

    /**
     * A DATA_ACK inside a segment (a version 3 receiver hands on an overdue large frame's bytes as they arrive, so
     * it acknowledges up to where they reached): the segment keeps only its unacknowledged rest, under that rest's
     * data sequence number, so that whatever sends it again (a reinjection, a redundant or opportunistic copy) sends
     * no byte below {@code una}, which the ring no longer holds.
     */
    private void trimPartlyAckedHead() {
        Map.Entry<Long, StoredSegment> first = segments.firstEntry();
        if (first == null || first.getKey() >= una) {
            return;
        }
        StoredSegment old = first.getValue();
        StoredSegment rest = new StoredSegment((int) (old.length - (una - first.getKey())), old.fin, old.subflows,
                old.sentAt);
        rest.opportunisticallyRetransmitted = old.opportunisticallyRetransmitted;
        rest.queued = old.queued;
        rest.carrierSlot = old.carrierSlot;
        rest.carrierEnd = old.carrierEnd;
        rest.lateAt = old.lateAt;
        segments.pollFirstEntry();
        segments.put(una, rest);
        if (old.queued && retransmit.remove(first.getKey())) {
            retransmit.addFirst(una);
        }
    }

    /** Whether anything can be sent now: a reinjection, new data within the window, or the DATA_FIN. */
    public boolean hasSendable() {
        return !retransmit.isEmpty() || newSendable() > 0 || finPending();
    }

    /** Whether segments wait to be sent again. */
    public boolean hasRetransmission() {
        return !retransmit.isEmpty();
    }

    private boolean finPending() {
        return finDsn >= 0 && !finSent && nextNew == finDsn && segments.size() < MAX_SEGMENTS_IN_FLIGHT;
    }

    /** New bytes written and allowed by the window, not yet sent. */
    public long newSendable() {
        if (segments.size() >= MAX_SEGMENTS_IN_FLIGHT) {
            return 0;
        }
        return Math.max(0, Math.min(writeEnd, peerRightEdge) - nextNew);
    }

    /** Whether new data is waiting that the peer's window does not let us send. */
    public boolean blockedByWindow() {
        return writeEnd > nextNew && nextNew >= peerRightEdge;
    }

    /**
     * Takes the next segment to send, at most {@code maxPayload} bytes: a reinjection first, then
     * new data, then a bare DATA_FIN. Records it as sent on subflow slot {@code subflow}.
     *
     * @return the segment, or null if nothing can be sent
     */
    public Chunk take(int maxPayload, int subflow, long now) {
        while (!retransmit.isEmpty()) {
            long dsn = retransmit.pollFirst();
            StoredSegment segment = segments.get(dsn);
            if (segment == null || dsn + segment.length + (segment.fin ? 1 : 0) <= una) {
                continue;
            }
            segment.queued = false;
            segment.subflows |= 1L << subflow;
            segment.sentAt = now;
            return new Chunk(dsn, segment.length, segment.fin, true);
        }
        long sendable = newSendable();
        if (sendable > 0) {
            int length = (int) Math.min(sendable, maxPayload);
            long dsn = nextNew;
            nextNew += length;
            boolean fin = finDsn >= 0 && nextNew == finDsn;
            finSent |= fin;
            segments.put(dsn, new StoredSegment(length, fin, 1L << subflow, now));
            return new Chunk(dsn, length, fin, false);
        }
        if (finPending()) {
            finSent = true;
            segments.put(finDsn, new StoredSegment(0, true, 1L << subflow, now));
            return new Chunk(finDsn, 0, true, false);
        }
        return null;
    }

    /** A copy of the segment at {@code dsn} for another subflow (redundant scheduling), or null once acked. */
    public Chunk copyOf(long dsn, int subflow) {
        StoredSegment segment = segments.get(dsn);
        if (segment == null || dsn + segment.length + (segment.fin ? 1 : 0) <= una) {
            return null;
        }
        segment.subflows |= 1L << subflow;
        return new Chunk(dsn, segment.length, segment.fin, true);
    }

    /**
     * Queues for reinjection every segment that subflow slot {@code failed} carried and no
     * subflow in {@code live} carried as well.
     *
     * @return bytes queued
     */
    public long reinject(int failed, long live) {
        long queued = 0;
        long bit = 1L << failed;
        for (Iterator<Map.Entry<Long, StoredSegment>> it = segments.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Long, StoredSegment> entry = it.next();
            StoredSegment segment = entry.getValue();
            if ((segment.subflows & bit) == 0) {
                continue;
            }
            segment.subflows &= ~bit;
            if ((segment.subflows & live) == 0 && !segment.queued) {
                segment.queued = true;
                retransmit.addLast(entry.getKey());
                queued += segment.length;
            }
        }
        return queued;
    }

    /**
     * Records where the frame of the segment at {@code dsn}, just handed to subflow slot {@code slot}, ends in that
     * subflow's byte stream, and when it is late if that subflow's TCP connection has not delivered it by then.
     */
    public void carried(long dsn, int slot, long end, long lateAt) {
        StoredSegment segment = segments.get(dsn);
        if (segment != null) {
            segment.carrierSlot = slot;
            segment.carrierEnd = end;
            segment.lateAt = lateAt;
        }
    }

    /**
     * Whether the oldest unacknowledged segment, the one in-order delivery waits for, was last carried by subflow
     * slot {@code slot}, is late at {@code now}, and that subflow's TCP connection has not delivered it
     * ({@code delivered}: bytes of its stream the peer's TCP acknowledged).
     */
    public boolean headLateOn(int slot, long delivered, long now) {
        Map.Entry<Long, StoredSegment> first = segments.firstEntry();
        if (first == null) {
            return false;
        }
        StoredSegment head = first.getValue();
        return !head.queued && head.carrierSlot == slot && head.lateAt <= now && head.carrierEnd > delivered;
    }

    /**
     * Whether the oldest unacknowledged segment, the one in-order delivery waits for, was last carried by subflow
     * slot {@code slot}, is not queued to be sent again, and that subflow's TCP connection has not delivered it
     * ({@code delivered}), whether or not it is late yet.
     */
    public boolean headUndeliveredOn(int slot, long delivered) {
        Map.Entry<Long, StoredSegment> first = segments.firstEntry();
        if (first == null) {
            return false;
        }
        StoredSegment head = first.getValue();
        return !head.queued && head.carrierSlot == slot && head.carrierEnd > delivered;
    }

    /**
     * Whether subflow slot {@code slot} was the last to carry a segment that is not DATA_ACKed and that its TCP
     * connection has not delivered ({@code delivered}, the cumulative acknowledgement): whether the connection holds
     * any of this stream's DATA, rather than only control frames.
     */
    public boolean holdsUndeliveredOn(int slot, long delivered) {
        for (StoredSegment segment : segments.values()) {
            if (segment.carrierSlot == slot && segment.carrierEnd > delivered) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether the oldest unacknowledged segment, last carried by subflow slot {@code slot} and not delivered by its
     * TCP connection ({@code delivered}, the cumulative acknowledgement), is a hole: the peer's TCP already holds
     * at least as many bytes of that subflow's stream as end with this segment ({@code received}, SACKed bytes
     * included), so what was sent after it arrived and the segment itself is being repaired.
     */
    public boolean headIsHoleOn(int slot, long delivered, long received) {
        Map.Entry<Long, StoredSegment> first = segments.firstEntry();
        if (first == null) {
            return false;
        }
        StoredSegment head = first.getValue();
        return !head.queued && head.carrierSlot == slot && head.carrierEnd > delivered && received >= head.carrierEnd;
    }

    /**
     * Queues for reinjection the segments at the head of the buffer, from the oldest unacknowledged one on, that
     * were last carried by subflow slot {@code slot}, its TCP connection has not delivered ({@code delivered}) and
     * no subflow in {@code live} carried, until {@code maxBytes} are queued or a segment does not qualify: the data
     * in-order delivery waits for while that connection repairs a loss, and nothing behind it.
     *
     * @return bytes queued
     */
    public long reinjectHead(int slot, long delivered, long live, long maxBytes) {
        long queuedBytes = 0;
        for (Map.Entry<Long, StoredSegment> entry : segments.entrySet()) {
            StoredSegment segment = entry.getValue();
            if (queuedBytes >= maxBytes || segment.carrierSlot != slot || segment.carrierEnd <= delivered
                    || segment.queued || (segment.subflows & live) != 0) {
                break;
            }
            segment.queued = true;
            retransmit.addLast(entry.getKey());
            queuedBytes += segment.length;
        }
        return queuedBytes;
    }

    /**
     * Queues for reinjection every segment last carried by subflow slot {@code slot} that its TCP connection has not
     * delivered ({@code delivered}, as above) and no subflow in {@code live} carried as well: TCP delivers in
     * order, so when the oldest of them is late every later one on the same connection is behind it. The late
     * subflow keeps its mark: whichever copy arrives first is used, the other dropped as a duplicate.
     *
     * @return bytes queued
     */
    public long reinjectUndelivered(int slot, long delivered, long live) {
        return reinjectUndelivered(slot, delivered, live, Long.MAX_VALUE);
    }

    /**
     * As {@link #reinjectUndelivered(int, long, long)}, oldest first, until {@code maxBytes} are queued: what
     * in-order delivery needs first, and no more than another path can deliver sooner.
     *
     * @return bytes queued
     */
    public long reinjectUndelivered(int slot, long delivered, long live, long maxBytes) {
        long queuedBytes = 0;
        for (Map.Entry<Long, StoredSegment> entry : segments.entrySet()) {
            StoredSegment segment = entry.getValue();
            if (queuedBytes >= maxBytes) {
                break;
            }
            if (segment.carrierSlot == slot && segment.carrierEnd > delivered && !segment.queued
                    && (segment.subflows & live) == 0) {
                segment.queued = true;
                retransmit.addLast(entry.getKey());
                queuedBytes += segment.length;
            }
        }
        return queuedBytes;
    }

    /**
     * The oldest unacknowledged segment if it qualifies for opportunistic retransmission on
     * subflow slot {@code candidate}: it was not carried by {@code candidate}, and was not
     * retransmitted this way before. Marks it as retransmitted and returns it, or returns null.
     *
     * <p>Raiciu et al., "How Hard Can It Be? Designing and Implementing a Deployable Multipath TCP"
     * (NSDI 2012), §4.2: when the connection-level receive window blocks the sender, the segment
     * holding the window is sent again on a subflow that has room, so the fast subflow does not sit
     * idle behind the slow one.
     */
    public Chunk takeOpportunistic(int candidate) {
        Map.Entry<Long, StoredSegment> first = segments.firstEntry();
        if (first == null) {
            return null;
        }
        StoredSegment segment = first.getValue();
        if (segment.opportunisticallyRetransmitted || (segment.subflows & (1L << candidate)) != 0) {
            return null;
        }
        segment.opportunisticallyRetransmitted = true;
        segment.subflows |= 1L << candidate;
        return new Chunk(first.getKey(), segment.length, segment.fin, true);
    }

    /** The subflow slots that carried the oldest unacknowledged segment (0 if none). */
    public long headSubflows() {
        Map.Entry<Long, StoredSegment> first = segments.firstEntry();
        return first == null ? 0 : first.getValue().subflows;
    }

    /** Bytes written and not yet DATA_ACKed. */
    public long bufferedBytes() {
        return writeEnd - una;
    }

    /** Writes {@code chunk}'s payload at {@code out}'s position; the chunk must come from this buffer, unacked. */
    public void copyTo(Chunk chunk, ByteBuffer out) {
        if (chunk.dsn() < una || chunk.dsn() + chunk.length() > writeEnd) {
            throw new IllegalArgumentException("chunk " + chunk + " outside [" + una + ", " + writeEnd + ")");
        }
        if (chunk.length() == 0) {
            return; // a bare DATA_FIN
        }
        int pos = index(chunk.dsn());
        int first = Math.min(chunk.length(), ring.length - pos);
        out.put(ring, pos, first);
        if (first < chunk.length()) {
            out.put(ring, 0, chunk.length() - first);
        }
    }

    /** A copy of {@code chunk}'s payload (tests and diagnostics; the transmit path uses {@link #copyTo}). */
    public byte[] payload(Chunk chunk) {
        ByteBuffer out = ByteBuffer.allocate(chunk.length());
        copyTo(chunk, out);
        return out.array();
    }

    /** The ring's next size when it grows from {@code size}: the first one, or twice as large, within capacity. */
    private long grownSize(long size) {
        return Math.min(size == 0 ? MIN_RING : size * 2, capacity);
    }

    private int index(long dsn) {
        return (int) ((head + (dsn - una)) % ring.length);
    }

    private void ensureRing(int needed) {
        if (needed <= ring.length) {
            return;
        }
        int size = ring.length;
        while (size < needed) {
            size = (int) grownSize(size);
        }
        byte[] bigger = new byte[size];
        int used = (int) (writeEnd - una);
        int first = Math.min(used, ring.length - head);
        System.arraycopy(ring, head, bigger, 0, first);
        System.arraycopy(ring, 0, bigger, first, used - first);
        ring = bigger;
        head = 0;
    }
}
