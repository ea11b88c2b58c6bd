package net.hybridproxy.engine.multipath.reassembly;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/**
 * One stream's receive side: the reorder buffer, in-order bytes waiting for the application, and
 * the connection-level receive window (RFC 8684 §3.3.4, §3.3.5).
 *
 * <p>Memory is bounded by the window: bytes are accepted only below the advertised right edge,
 * and the right edge is at most {@code capacity} bytes past what the application has read, so
 * in-order and out-of-order bytes together never exceed {@code capacity}. The number of
 * out-of-order pieces is bounded as well (a peer sending one-byte frames cannot make the
 * bookkeeping outgrow the bytes): an honest sender keeps at most
 * {@link SendBuffer#MAX_SEGMENTS_IN_FLIGHT} frames un-acknowledged, so more pieces than that are
 * a protocol violation that closes the stream. In-window data is never dropped silently: nothing
 * would ever send it again.
 *
 * <p>RFC 8684 §3.3.5 (paraphrased): If a receiver receives data ... with a data sequence number that has
 * already been received ... [it] MUST be discarded — duplicates, from reinjection or redundant
 * scheduling, are dropped by data sequence number here and counted.
 *
 * <p>RFC 8684 §3.3.4 (paraphrased): The receive window is relative to the DATA_ACK; and a window once
 * advertised is never taken back: the right edge only moves forward, so a sender is never
 * punished for data it was allowed to send.
 */
public final class ReceiveBuffer {

    /** What {@link #receive} did with a frame's bytes. */
    public record Received(int newBytes, int duplicateBytes, int beyondWindowBytes, boolean finNew) {
    }

    /** In-order pieces smaller than this are copied into a shared chunk instead of being held one by one. */
    static final int COALESCE_BELOW = 4096;
    /** The size of a chunk that small in-order pieces are copied into. */
    static final int COALESCE_CHUNK = 16 * 1024;

    private final int capacity;
    private long limit;
    private final int maxPieces;
    private final TreeMap<Long, byte[]> outOfOrder = new TreeMap<>();
    private final ArrayDeque<byte[]> inOrder = new ArrayDeque<>();
    /** Bytes used of the last in-order chunk (it may be a coalescing chunk that is not full). */
    private int tailFill;
    private int firstChunkOffset;
    private long allocated;
    private long readOffset;
    private long rcvNext;
    private long rightEdge;
    private long outOfOrderBytes;
    private long finDsn = -1;

    /**
     * @param capacity      the most bytes buffered (the largest window), at least 1
     * @param initialWindow the right edge before the first DATA_ACK, at most {@code capacity}
     * @param maxPieces     the most out-of-order pieces held
     */
    public ReceiveBuffer(int capacity, int initialWindow, int maxPieces) {
        if (capacity < 1 || initialWindow < 0 || initialWindow > capacity || maxPieces < 1) {
            throw new IllegalArgumentException("capacity " + capacity + ", initial window " + initialWindow
                    + ", pieces " + maxPieces);
        }
        this.capacity = capacity;
        this.limit = capacity;
        this.maxPieces = maxPieces;
        this.rightEdge = initialWindow;
    }

    /**
     * The most bytes this stream may buffer from now on: the window's right edge stays within {@code limit} of
     * what the application read. Grows only (a window once granted is kept), up to the capacity.
     */
    public void limit(long newLimit) {
        limit = Math.max(limit, Math.min(capacity, newLimit));
    }

    /** Starts the limit at {@code initial} (at least the window already granted); {@link #limit(long)} grows it. */
    public void initialLimit(long initial) {
        limit = Math.max(rightEdge - readOffset, Math.min(capacity, initial));
    }

    /** See {@link #limit(long)}. */
    public long limit() {
        return limit;
    }

    /**
     * Heap bytes this buffer holds for received data ({@link MemoryCost}): pieces out of order with their map
     * entries, in-order chunks waiting to be read.
     */
    public long allocatedBytes() {
        return allocated;
    }

    /**
     * Accepts the payload of a DATA frame at {@code dsn} and the DATA_FIN after it if {@code fin}. A payload that
     * is new as a whole is kept rather than copied: the caller hands the array over and must not change it.
     *
     * @throws IllegalStateException naming the violation if the peer moves a DATA_FIN it sent
     *                               before, or exceeds the out-of-order piece limit (a protocol
     *                               error that closes the stream)
     */
    public Received receive(long dsn, byte[] payload, boolean fin) {
        long end = dsn + payload.length;
        boolean finNew = false;
        if (fin) {
            if (finDsn >= 0 && finDsn != end) {
                throw new IllegalStateException("DATA_FIN moved from " + finDsn + " to " + end);
            }
            if (finDsn < 0 && end < highestReceived()) {
                throw new IllegalStateException("DATA_FIN at " + end + " below data already received");
            }
            finNew = finDsn < 0;
            finDsn = end;
        }
        if (finDsn >= 0 && end > finDsn) {
            throw new IllegalStateException("data up to " + end + " after the DATA_FIN at " + finDsn);
        }
        long from = Math.max(dsn, rcvNext);
        int duplicate = (int) Math.min(payload.length, from - dsn);
        int beyond = 0;
        int fresh = 0;
        if (from < end) {
            long to = Math.min(end, rightEdge);
            beyond = (int) (end - Math.max(from, to));
            if (from < to) {
                fresh = insert(from, to, payload, dsn);
                duplicate += (int) (to - from) - fresh;
            }
        }
        advance();
        return new Received(fresh, duplicate, beyond, finNew);
    }

    private long highestReceived() {
        return outOfOrder.isEmpty() ? rcvNext : outOfOrder.lastKey() + outOfOrder.lastEntry().getValue().length;
    }

    /** Inserts bytes [from, to) of a payload that starts at payloadDsn; returns how many were new. */
    private int insert(long from, long to, byte[] payload, long payloadDsn) {
        int fresh = 0;
        long cursor = from;
        while (cursor < to) {
            Map.Entry<Long, byte[]> before = outOfOrder.floorEntry(cursor);
            if (before != null && before.getKey() + before.getValue().length > cursor) {
                cursor = Math.min(to, before.getKey() + before.getValue().length);
                continue;
            }
            Long nextKey = outOfOrder.higherKey(cursor);
            long pieceEnd = nextKey == null ? to : Math.min(to, nextKey);
            if (outOfOrder.size() >= maxPieces && cursor != rcvNext) {
                throw new IllegalStateException("more than " + maxPieces + " out-of-order pieces; a sender keeps at most "
                        + SendBuffer.MAX_SEGMENTS_IN_FLIGHT + " frames unacknowledged");
            }
            byte[] piece;
            if (cursor == payloadDsn && pieceEnd - cursor == payload.length) {
                piece = payload; // it lands whole: kept, not copied (a frame's payload is its own array)
            } else {
                piece = new byte[(int) (pieceEnd - cursor)];
                System.arraycopy(payload, (int) (cursor - payloadDsn), piece, 0, piece.length);
            }
            outOfOrder.put(cursor, piece);
            allocated += MemoryCost.array(piece.length) + MemoryCost.TREE_ENTRY;
            outOfOrderBytes += piece.length;
            fresh += piece.length;
            cursor = pieceEnd;
        }
        return fresh;
    }

    private void advance() {
        Map.Entry<Long, byte[]> first;
        while ((first = outOfOrder.firstEntry()) != null && first.getKey() == rcvNext) {
            outOfOrder.pollFirstEntry();
            byte[] piece = first.getValue();
            outOfOrderBytes -= piece.length;
            allocated -= MemoryCost.array(piece.length) + MemoryCost.TREE_ENTRY;
            appendInOrder(piece);
            rcvNext += piece.length;
        }
        if (finDsn >= 0 && rcvNext == finDsn) {
            rcvNext = finDsn + 1;
        }
    }

    /**
     * Queues an in-order piece for reading. Small pieces are copied into a shared chunk, so a peer sending
     * one-byte frames costs about a byte per byte here, not 24.
     */
    private void appendInOrder(byte[] piece) {
        byte[] tail = inOrder.peekLast();
        if (piece.length < COALESCE_BELOW && tail != null && tail.length == COALESCE_CHUNK
                && tail.length - tailFill >= piece.length) {
            System.arraycopy(piece, 0, tail, tailFill, piece.length);
            tailFill += piece.length;
            return;
        }
        if (tail != null && tailFill < tail.length) {
            // Every chunk but the last is read to its end: cut the partly filled chunk to what it holds.
            inOrder.pollLast();
            inOrder.addLast(Arrays.copyOf(tail, tailFill));
            allocated += MemoryCost.array(tailFill) - MemoryCost.array(tail.length);
        }
        if (piece.length < COALESCE_BELOW) {
            byte[] chunk = new byte[COALESCE_CHUNK];
            System.arraycopy(piece, 0, chunk, 0, piece.length);
            inOrder.addLast(chunk);
            allocated += MemoryCost.array(COALESCE_CHUNK);
            tailFill = piece.length;
            return;
        }
        inOrder.addLast(piece);
        allocated += MemoryCost.array(piece.length);
        tailFill = piece.length;
    }

    /**
     * Copies in-order bytes into {@code dst}.
     *
     * @return bytes copied; 0 if none is ready yet; -1 once every byte before the DATA_FIN has
     *         been read
     */
    public int read(ByteBuffer dst) {
        int copied = 0;
        while (dst.hasRemaining() && !inOrder.isEmpty()) {
            byte[] chunk = inOrder.peekFirst();
            boolean tail = inOrder.size() == 1;
            int valid = tail ? tailFill : chunk.length;
            int n = Math.min(dst.remaining(), valid - firstChunkOffset);
            if (n == 0) {
                break;
            }
            dst.put(chunk, firstChunkOffset, n);
            firstChunkOffset += n;
            copied += n;
            if (firstChunkOffset == valid) {
                inOrder.pollFirst();
                allocated -= MemoryCost.array(chunk.length);
                firstChunkOffset = 0;
                if (tail) {
                    tailFill = 0;
                }
            }
        }
        readOffset += copied;
        if (copied == 0 && isFinished()) {
            return -1;
        }
        return copied;
    }

    /** Bytes ready to read. */
    public long readableBytes() {
        return rcvNext - readOffset - (finReceived() ? 1 : 0);
    }

    /** Whether the DATA_FIN has arrived and every byte before it has been received. */
    public boolean finReceived() {
        return finDsn >= 0 && rcvNext == finDsn + 1;
    }

    /** Whether the application has read everything up to the DATA_FIN. */
    public boolean isFinished() {
        return finReceived() && readOffset == finDsn;
    }

    /** The DATA_ACK to send: the next data sequence number expected. */
    public long dataAck() {
        return rcvNext;
    }

    /** The window to advertise with {@link #dataAck()}. */
    public long window() {
        return Math.max(0, rightEdge - rcvNext);
    }

    /** The first data sequence number not accepted. */
    public long rightEdge() {
        return rightEdge;
    }

    /**
     * Moves the right edge as far as the capacity allows, by at most {@code grant} bytes, and
     * returns how many bytes it moved. The right edge never moves back.
     */
    public long openWindow(long grant) {
        long target = Math.min(readOffset + limit, rightEdge + Math.max(0, grant));
        if (target <= rightEdge) {
            return 0;
        }
        long moved = target - rightEdge;
        rightEdge = target;
        return moved;
    }

    /** How far the right edge could move right now if memory allowed. */
    public long windowDeficit() {
        return Math.max(0, readOffset + limit - rightEdge);
    }

    /** Bytes of memory this stream holds or has promised: from what was read to the right edge. */
    public long reservedBytes() {
        return rightEdge - readOffset;
    }

    /** Bytes received out of order, waiting for a hole to fill. */
    public long outOfOrderBytes() {
        return outOfOrderBytes;
    }
}
