package net.hybridproxy.engine.multipath.connection;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import net.hybridproxy.engine.multipath.frame.Data;
import net.hybridproxy.engine.multipath.frame.DataAck;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.mib.Mib;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.reassembly.ReceiveBuffer;

/**
 * A session's streams (quinn-proto's {@code connection/streams/}): which exist, which ids were seen, what each
 * holds, the stream-level frames (DATA, DATA_ACK, a stream's FAST_CLOSE), windows and their autotuning, and the
 * memory the streams hold against the session's and the process's budgets. The session coordinates; this table
 * never touches a subflow.
 */
final class StreamTable {

    /**
     * Stream ids above the watermark remembered as seen (concentrator); beyond this the cpe is misbehaving (an
     * honest cpe leaves a gap only while a new stream's first frame is in flight). 4096 entries of a TreeSet cost
     * about 230 KB.
     */
    static final int MAX_SEEN_ABOVE_WATERMARK = 4096;

    /** A window update is worth a frame once it opens this much (or the window was nearly shut). */
    private static final int WINDOW_UPDATE_THRESHOLD = 64 * 1024;

    /** Windows are resized at most once per this long, or per the slowest subflow's RTT if longer. */
    private static final long MIN_AUTOTUNE_PERIOD = 10_000_000L;

    private final Session session;
    private final SessionConfig config;
    private final Mib mib;
    private final MemoryBudget processMemory;
    private final Map<Long, Stream> streams = new LinkedHashMap<>();
    private long nextStreamId = 1;
    private long streamWatermark = 1;
    private final TreeSet<Long> seenAboveWatermark = new TreeSet<>();
    private long receiveReserved;
    /**
     * The largest receive and send limits autotuning gave any stream of this session: where a new bulk stream's limits
     * go on their first growth with {@link SessionConfig#warmStreamWindows()}.
     */
    private long warmReceiveLimit;
    private long warmSendLimit;
    /** Heap bytes the streams hold, reserved in {@link #processMemory} (on a concentrator, the key's share) as well. */
    private long memoryUsed;

    StreamTable(Session session, SessionConfig config, Mib mib, MemoryBudget processMemory) {
        this.session = session;
        this.config = config;
        this.mib = mib;
        this.processMemory = processMemory;
    }

    Stream get(long id) {
        return streams.get(id);
    }

    Collection<Stream> all() {
        return streams.values();
    }

    List<Long> ids() {
        return List.copyOf(streams.keySet());
    }

    boolean isEmpty() {
        return streams.isEmpty();
    }

    int rememberedIds() {
        return seenAboveWatermark.size();
    }

    long memoryUsed() {
        return memoryUsed;
    }

    // ------------------------------------------------------------------ opening

    /** Cpe: a new stream, or an exception saying why none can be opened. */
    long open(long now) {
        return open(now, null);
    }

    /** Cpe: a new stream whose data goes only over {@code pinnedUplink} (null: any uplink). */
    long open(long now, String pinnedUplink) {
        if (streams.size() >= config.maxStreams()) {
            mib.increment(MibCounter.STREAMS_REFUSED);
            throw new IllegalStateException("session has its maximum of " + config.maxStreams() + " streams");
        }
        if (!tryCharge(Stream.INITIAL_COST)) {
            mib.increment(MibCounter.STREAMS_REFUSED);
            throw new IllegalStateException("session has no memory left for a stream (" + memoryUsed + " of "
                    + config.sessionMemoryBudget() + " bytes, shared budget " + processMemory.used() + " of "
                    + processMemory.limit() + ")");
        }
        Stream stream = add(nextStreamId++, now);
        stream.pinnedUplink = pinnedUplink;
        return stream.id;
    }

    /** Concentrator: the first frame of stream {@code id} arrived; the stream, or null if it is gone or refused. */
    private Stream accept(long id, long now) {
        if (id < streamWatermark || seenAboveWatermark.contains(id)) {
            return null; // a late frame for a stream that is gone
        }
        if (seenAboveWatermark.size() >= MAX_SEEN_ABOVE_WATERMARK) {
            refuse(id);
            return null;
        }
        markSeen(id);
        // The initial window is not counted against the session's receive budget: the protocol promises it to
        // every stream (the opener sends under it without waiting), and memory is charged as data fills it. Counted,
        // 256 idle streams used up a 64 MiB budget: the 257th was refused and no window could grow.
        if (streams.size() >= config.maxStreams() || !tryCharge(Stream.INITIAL_COST)) {
            refuse(id);
            return null;
        }
        Stream stream = add(id, now);
        session.events.add(new SessionEvent.StreamOpened(id));
        return stream;
    }

    private Stream add(long id, long now) {
        Stream stream = new Stream(id, config, now);
        stream.charged = Stream.INITIAL_COST;
        receiveReserved += grantedBeyondInitial(stream);
        streams.put(id, stream);
        mib.increment(MibCounter.STREAMS_OPENED);
        return stream;
    }

    private void refuse(long id) {
        mib.increment(MibCounter.STREAMS_REFUSED);
        session.transmit.queueSessionControl(session.handshake.fastClose(id, ResetReason.LACK_OF_RESOURCES));
    }

    private void markSeen(long id) {
        seenAboveWatermark.add(id);
        while (seenAboveWatermark.remove(streamWatermark)) {
            streamWatermark++;
        }
    }

    // ------------------------------------------------------------------ the application's side

    /** See {@link Session#write}. */
    int write(Stream stream, ByteBuffer src, long now) {
        stream.sendActiveAt = now;
        // Backpressure, not buffering: take only what the send buffer can hold within the memory budgets.
        int allowed = (int) Math.min(src.remaining(), stream.send.writableWithin(memoryLeft()));
        int n = 0;
        if (allowed > 0) {
            int limit = src.limit();
            src.limit(src.position() + allowed);
            n = stream.send.write(src);
            src.limit(limit);
            syncMemory(stream);
        }
        if (src.hasRemaining()) {
            stream.writeBlocked = true;
            if (stream.writeBlockedSince < 0) {
                stream.writeBlockedSince = now;
            }
        }
        if (n > 0) {
            session.transmit.scheduleSend(stream);
        }
        return n;
    }

    /** See {@link Session#writable}. */
    long writable(Stream stream) {
        return stream.send.writableWithin(memoryLeft());
    }

    /** See {@link Session#read}. */
    int read(Stream stream, ByteBuffer dst, long now) {
        long grantedBefore = grantedBeyondInitial(stream);
        int n = stream.receive.read(dst);
        if (n > 0) {
            receiveReserved += grantedBeyondInitial(stream) - grantedBefore;
            mib.add(MibCounter.DATA_BYTES_DELIVERED, n);
            autotuneReceive(stream, n, now);
            maybeOpenWindow(stream);
            syncMemory(stream);
        }
        if (stream.receive.readableBytes() == 0) {
            stream.readableSignalled = false;
        }
        closeIfDone(stream);
        return n;
    }

    // ------------------------------------------------------------------ frames

    /** DATA for a stream, arrived over a subflow of {@code uplink}. */
    void onData(Data data, String uplink, long now) {
        Stream stream = streams.get(data.streamId());
        if (stream == null) {
            if (session.role() != Session.Side.CONCENTRATOR) {
                return; // a late frame for a stream that is gone
            }
            stream = accept(data.streamId(), now);
            if (stream == null) {
                return;
            }
        }
        if (data.pinned() && stream.pinnedUplink == null && session.role() == Session.Side.CONCENTRATOR) {
            // The cpe carries this stream over one uplink only: so do we, over the address it arrives from.
            stream.pinnedUplink = uplink;
        }
        ReceiveBuffer.Received received;
        try {
            received = stream.receive.receive(data.dsn(), data.payload(), data.fin());
        } catch (IllegalStateException e) {
            reset(stream, ResetReason.PROTOCOL_ERROR);
            return;
        }
        mib.add(MibCounter.DUPLICATE_BYTES_RECEIVED, received.duplicateBytes());
        mib.add(MibCounter.BEYOND_WINDOW_BYTES_RECEIVED, received.beyondWindowBytes());
        noteHeadWait(stream, now);
        if (!syncMemory(stream)) {
            // The peer's frames cost more heap than the window it was given (one-byte pieces out of order) and the
            // budget has no room for the difference: this stream is reset, the session and its other streams go on.
            mib.increment(MibCounter.STREAMS_RESET_MEMORY);
            reset(stream, ResetReason.LACK_OF_RESOURCES);
            return;
        }
        // Acknowledge every frame, duplicates too: a duplicate may mean our DATA_ACK was lost with
        // a subflow, and the sender holds the data until it hears one. (Frames landing beyond a hole repeat the last
        // DATA_ACK; not acknowledging them halved the DATA_ACKs but moved the lossy scenarios of the SACK-aware
        // late-path detector below their bounds: docs/decisions.md, "CPU per byte".)
        stream.ackPending = true;
        if ((received.newBytes() > 0 || received.finNew()) && !stream.readableSignalled
                && (stream.receive.readableBytes() > 0 || stream.receive.finReceived())) {
            stream.readableSignalled = true;
            session.events.add(new SessionEvent.StreamReadable(stream.id));
        }
        closeIfDone(stream);
    }

    void onDataAck(DataAck ack, long now) {
        Stream stream = streams.get(ack.streamId());
        if (stream == null) {
            return;
        }
        long acked;
        try {
            acked = stream.send.onDataAck(ack.dataAck(), ack.window());
        } catch (IllegalStateException e) {
            reset(stream, ResetReason.PROTOCOL_ERROR);
            return;
        }
        if (acked > 0) {
            autotuneSend(stream, acked, now);
            stream.sendActiveAt = now;
            syncMemory(stream);
        }
        // The only place the peer's window opens: a stream it held is timed up to here.
        noteWindowLimited(stream, now);
        if (stream.send.hasSendable()) {
            session.transmit.scheduleSend(stream);
        }
        if (stream.writeBlocked && stream.send.freeBytes() > 0) {
            stream.writeBlocked = false;
            if (stream.writeBlockedSince >= 0) {
                mib.add(MibCounter.SEND_BUFFER_LIMITED_NANOS, now - stream.writeBlockedSince);
                stream.writeBlockedSince = -1;
            }
            session.events.add(new SessionEvent.StreamWritable(stream.id));
        }
        closeIfDone(stream);
    }

    /** Times how long out-of-order data waited for the head ({@link MibCounter#HEAD_WAIT_NANOS}). */
    private void noteHeadWait(Stream stream, long now) {
        boolean waiting = stream.receive.outOfOrderBytes() > 0;
        if (waiting && stream.headWaitSince < 0) {
            stream.headWaitSince = now;
        } else if (!waiting && stream.headWaitSince >= 0) {
            mib.add(MibCounter.HEAD_WAIT_NANOS, now - stream.headWaitSince);
            stream.headWaitSince = -1;
        }
    }

    /**
     * Times how long the peer's window held back written data ({@link MibCounter#WINDOW_LIMITED_NANOS}): called when
     * a transmit turn finds the stream with nothing it may send and at each DATA_ACK, not per turn for every stream.
     */
    void noteWindowLimited(Stream stream, long now) {
        boolean limited = stream.send.blockedByWindow();
        if (limited && stream.windowLimitedSince < 0) {
            stream.windowLimitedSince = now;
        } else if (!limited && stream.windowLimitedSince >= 0) {
            mib.add(MibCounter.WINDOW_LIMITED_NANOS, now - stream.windowLimitedSince);
            stream.windowLimitedSince = -1;
        }
    }

    /** A verified FAST_CLOSE for one stream (not the session). */
    void onFastClose(FastClose fastClose) {
        Stream stream = streams.get(fastClose.streamId());
        if (stream == null) {
            // Remembered like a stream seen, within the same bound: FAST_CLOSEs for ever new ids cannot grow it.
            if (session.role() == Session.Side.CONCENTRATOR && fastClose.streamId() >= streamWatermark
                    && seenAboveWatermark.size() < MAX_SEEN_ABOVE_WATERMARK) {
                markSeen(fastClose.streamId());
            }
            return;
        }
        drop(stream);
        mib.increment(MibCounter.STREAMS_RESET);
        session.events.add(new SessionEvent.StreamReset(stream.id, fastClose.reason(), true));
    }

    // ------------------------------------------------------------------ closing

    /** Resets a stream: FAST_CLOSE to the peer, StreamReset to the adapter. */
    void reset(Stream stream, ResetReason reason) {
        session.transmit.queueSessionControl(session.handshake.fastClose(stream.id, reason));
        drop(stream);
        mib.increment(MibCounter.STREAMS_RESET);
        session.events.add(new SessionEvent.StreamReset(stream.id, reason, false));
    }

    /** Every stream is gone with the session. */
    void dropAll(ResetReason reason) {
        for (Stream stream : List.copyOf(streams.values())) {
            drop(stream);
            session.events.add(new SessionEvent.StreamReset(stream.id, reason, false));
        }
    }

    void drop(Stream stream) {
        if (stream.closed) {
            return;
        }
        stream.closed = true;
        release(stream.charged);
        stream.charged = 0;
        receiveReserved -= grantedBeyondInitial(stream);
        streams.remove(stream.id);
        session.transmit.forget(stream);
    }

    void closeIfDone(Stream stream) {
        if (!stream.closed && stream.isDone() && !stream.ackPending) {
            drop(stream);
            session.events.add(new SessionEvent.StreamClosed(stream.id));
        }
    }

    /**
     * Gives back the send ring of every stream whose bytes were all acknowledged and that neither wrote nor was
     * acknowledged for {@link #SEND_RING_IDLE_RELEASE}: an idle stream then holds no ring (about 1 KiB of heap in
     * all instead of 5), while a busy one keeps its ring between bursts instead of growing a new one each time.
     * Called on the session's timers (the probes tick every 100 ms while streams exist).
     */
    void releaseIdleSendRings(long now) {
        for (Stream stream : streams.values()) {
            if (stream.send.ringBytes() > 0 && now - stream.sendActiveAt >= SEND_RING_IDLE_RELEASE
                    && stream.send.release()) {
                syncMemory(stream);
            }
        }
    }

    /**
     * How long a stream's send side must be idle (everything acknowledged, nothing written) before its ring is given
     * back. A second: far longer than any gap inside a transfer (a bulk stream's buffer empties and refills many
     * times a second at Gbit/s), short next to the life of an idle connection (SSH, IMAP IDLE, a pooled HTTP one).
     */
    static final long SEND_RING_IDLE_RELEASE = 1_000_000_000L;

    /** Received bytes held out of order across all streams. */
    long reorderBufferedBytes() {
        long held = 0;
        for (Stream stream : streams.values()) {
            held += stream.receive.outOfOrderBytes();
        }
        return held;
    }

    /** Streams with data waiting to be sent once the session is established. */
    List<Stream> sendable() {
        List<Stream> out = new ArrayList<>();
        for (Stream stream : streams.values()) {
            if (stream.send.hasSendable()) {
                out.add(stream);
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ windows and memory

    private void maybeOpenWindow(Stream stream) {
        long deficit = stream.receive.windowDeficit();
        long window = stream.receive.window();
        if (deficit < WINDOW_UPDATE_THRESHOLD && window >= WINDOW_UPDATE_THRESHOLD) {
            return;
        }
        // Up to the initial window the stream only takes back its own promise; beyond it, budget and memory apply.
        long withinInitial = Math.max(0, Stream.INITIAL_WINDOW - stream.receive.reservedBytes());
        long beyond = Math.max(0, Math.min(config.sessionReceiveBudget() - receiveReserved, memoryLeft()));
        long grant = Math.min(deficit, withinInitial + beyond);
        long grantedBefore = grantedBeyondInitial(stream);
        long moved = stream.receive.openWindow(grant);
        if (moved > 0) {
            receiveReserved += grantedBeyondInitial(stream) - grantedBefore;
            stream.ackPending = true;
        }
    }

    /**
     * Receive-space autotuning, the shape of Linux's {@code tcp_rcv_space_adjust()}: once per measurement period
     * (the slowest attached subflow's RTT, which also spans the reordering between paths: its smoothed RTT, or with
     * {@link SessionConfig#receivePeriodFromReceiverRtt()} what its receiving socket estimates the data takes, queue
     * included; {@link Session#receivePeriodNanos()}), if the application
     * read more than 1 / {@code receiveWindowPeriods} of the stream's receive limit, the limit grows to that many
     * times what it read ({@link SessionConfig#receiveWindowPeriods()}: two, as Linux, by default). Grows only, up to
     * {@code streamReceiveWindow}; the window then opens as far as the memory budgets allow.
     */
    private void autotuneReceive(Stream stream, int read, long now) {
        stream.readInPeriod += read;
        if (now - stream.receivePeriodStart >= autotunePeriod(session.receivePeriodNanos())) {
            long grown = warmGrowth((long) config.receiveWindowPeriods() * stream.readInPeriod,
                    stream.receive.limit(), warmReceiveLimit);
            stream.receive.limit(grown);
            warmReceiveLimit = Math.max(warmReceiveLimit, stream.receive.limit());
            stream.receivePeriodStart = now;
            stream.readInPeriod = 0;
        }
    }

    /** The same for the send buffer, from what the peer acknowledged per period. */
    private void autotuneSend(Stream stream, long acked, long now) {
        stream.ackedInPeriod += acked;
        if (now - stream.sendPeriodStart >= autotunePeriod(session.slowestRttNanos())) {
            stream.send.limit(warmGrowth(2 * stream.ackedInPeriod, stream.send.limit(), warmSendLimit));
            warmSendLimit = Math.max(warmSendLimit, stream.send.limit());
            stream.sendPeriodStart = now;
            stream.ackedInPeriod = 0;
        }
    }

    /**
     * What a limit grows to: {@code measured}, or with {@link SessionConfig#warmStreamWindows()}, when it grows at all,
     * at least {@code warm}, the largest this session's streams reached. The subflows carry their congestion windows
     * from one stream to the next; without this each new stream learns the paths' bandwidth-delay product again from
     * the initial window, each side at most doubling per period, and on the lab's lossy LTE in-order delivery's waits
     * for repairs keep it from even that (docs/decisions.md, "the first two seconds of a download"). Only a stream
     * that would grow anyway takes it, so short and idle streams reserve no more than before.
     */
    private long warmGrowth(long measured, long current, long warm) {
        return config.warmStreamWindows() && measured > current ? Math.max(measured, warm) : measured;
    }

    /** An autotuning period of {@code rttNanos}, never under {@link #MIN_AUTOTUNE_PERIOD}. */
    private static long autotunePeriod(long rttNanos) {
        return Math.max(MIN_AUTOTUNE_PERIOD, rttNanos);
    }

    /**
     * Charges or releases the difference between what {@code stream} holds now and what it was charged: its send
     * buffer's heap, and on the receive side the larger of what its buffer holds and the window it was granted
     * beyond the initial one. Growth of a send buffer and window grants were limited to {@link #memoryLeft()}
     * beforehand, so they are charged unconditionally. The initial window (a protocol constant every stream gets)
     * is charged only as data fills it, and what received frames cost only if it fits.
     *
     * @return false if received data did not fit (the caller resets the stream)
     */
    boolean syncMemory(Stream stream) {
        if (stream.closed) {
            return true;
        }
        long promised = Math.max(0, stream.receive.reservedBytes() - Stream.INITIAL_WINDOW);
        long held = stream.receive.allocatedBytes();
        long target = Stream.OVERHEAD + stream.send.allocatedBytes() + Math.max(promised, held);
        long delta = target - stream.charged;
        if (delta <= 0) {
            release(-delta);
        } else if (held > promised) {
            if (!tryCharge(delta)) {
                return false;
            }
        } else {
            memoryUsed += delta;
            processMemory.force(delta);
        }
        stream.charged = target;
        return true;
    }

    /** Receive window granted to {@code stream} beyond the initial one: what the session's receive budget counts. */
    private static long grantedBeyondInitial(Stream stream) {
        return Math.max(0, stream.receive.reservedBytes() - Stream.INITIAL_WINDOW);
    }

    private boolean tryCharge(long bytes) {
        if (memoryUsed + bytes > config.sessionMemoryBudget() || !processMemory.tryReserve(bytes)) {
            return false;
        }
        memoryUsed += bytes;
        return true;
    }

    private void release(long bytes) {
        memoryUsed -= bytes;
        processMemory.release(bytes);
    }

    /** Heap bytes the streams may still take: the smaller of the session budget's and the process's remainder. */
    private long memoryLeft() {
        return Math.max(0, Math.min(config.sessionMemoryBudget() - memoryUsed, processMemory.available()));
    }
}
