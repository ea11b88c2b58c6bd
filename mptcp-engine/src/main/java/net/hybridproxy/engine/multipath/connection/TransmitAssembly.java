package net.hybridproxy.engine.multipath.connection;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.hybridproxy.engine.multipath.frame.Data;
import net.hybridproxy.engine.multipath.frame.DataAck;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.frame.SubflowReset;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.mib.UplinkSends;
import net.hybridproxy.engine.multipath.reassembly.SendBuffer;
import net.hybridproxy.engine.multipath.sched.Scheduler;
import net.hybridproxy.engine.multipath.sched.Schedulers;
import net.hybridproxy.engine.multipath.sched.SubflowView;
import net.hybridproxy.engine.multipath.subflow.Subflow;
import net.hybridproxy.engine.multipath.subflow.SubflowEstimates;
import net.hybridproxy.engine.multipath.subflow.SubflowState;

/**
 * What a session sends next, and on which subflow (quinn-proto's {@code packet_builder.rs} and the send half of
 * Linux {@code net/mptcp/protocol.c}): each subflow's own control frames (handshake, PONG, MP_PRIO,
 * SUBFLOW_RESET), the session's (FAST_CLOSE, ADD_ADDR, DATA_ACK) on the fastest subflow, then data chosen by the
 * scheduler, round robin between streams: reinjections first, redundant copies, new data, and the opportunistic
 * retransmissions that unblock a receive window. Owns the scheduler, the streams' send order, the session-level
 * control queue and the per-uplink send accounting.
 */
final class TransmitAssembly {

    /** Chunks smaller than this are not sent while more data waits: tiny frames waste headers. */
    private static final int MIN_CHUNK = 1024;

    /**
     * Version 3: a DATA frame larger than version 2's 16 KiB takes at most this long to send at its subflow's rate
     * (congestion window over smoothed RTT). The receiver can use none of a frame's bytes before its last one
     * arrives, so a frame's size is a delay: 16 ms keeps it under the shortest RTT of a hybrid-access path (a DSL
     * line's 15–20 ms) and under the reordering between two paths, which in-order delivery waits for anyway. A
     * 64 KiB frame is then sent from about 33 Mb/s on a subflow; an 8 Mb/s DSL line keeps 16 KiB frames.
     */
    static final long LARGE_FRAME_MAX_SEND_NANOS = 16_000_000L;

    /**
     * Version 3's wait for room for half a large frame ({@link #minimumPayload}) applies only where a large frame takes
     * at least this long to send (below about 260 Mb/s for 64 KiB): slower, each frame wakes the receiver; faster,
     * a receiver's read takes several frames anyway, and the adapter's estimate of what a connection holds (TCP_INFO,
     * read every 5 ms) is older than the frame, so waiting on it can leave the link idle (docs/decisions.md, "eleventh
     * pass": on unlimited links version 3 with the wait for every rate did 1 328 Mb/s, version 2 1 639).
     */
    static final long LARGE_FRAME_WAIT_MIN_SEND_NANOS = 2_000_000L;

    private final Session session;
    private final StreamTable streams;
    private final Scheduler scheduler;
    private final ArrayDeque<Long> sendOrder = new ArrayDeque<>();
    private final ArrayDeque<Frame> sessionControl = new ArrayDeque<>();
    /**
     * Per uplink (a cpe's configured names; on the concentrator {@code address-N}, N one byte): bounded by 256.
     */
    private final Map<String, UplinkSends> sendsByUplink = new LinkedHashMap<>();
    private final List<Subflow> usableScratch = new ArrayList<>();
    private final List<SubflowView> viewScratch = new ArrayList<>();

    TransmitAssembly(Session session, StreamTable streams, SessionConfig config) {
        this.session = session;
        this.streams = streams;
        this.scheduler = Schedulers.create(config.scheduler(), config.overflowBudgetBytes(),
                Math.max(1, config.overflowBudgetPeriod().toNanos()));
    }

    /** See {@link Session#sendsByUplink()}. */
    Map<String, UplinkSends> sendsByUplink() {
        return Collections.unmodifiableMap(sendsByUplink);
    }

    /** Overflow bytes the scheduler's budget has counted in its current period. */
    long overflowBudgetUsed(long now) {
        return scheduler.budgetUsed(now);
    }

    /** A stream is gone: it leaves the send order and no subflow keeps a copy of its frames to send. */
    void forget(Stream stream) {
        sendOrder.remove(stream.id);
        for (Subflow s : session.subflows.inOrder()) {
            s.redundantCopies().removeIf(copy -> copy[0] == stream.id);
        }
    }

    /** The next bytes for one subflow, as {@link Session#pollTransmit}: subflow control first, then the session's. */
    Transmit poll(long now, ByteBuffer out) {
        session.subflows.noteProgress(now); // the adapter updated the estimates just before
        Transmit control = transmitSubflowControl(out);
        if (control != null || !session.isEstablished()) {
            return control;
        }
        Subflow carrier = bestControlSubflow(now);
        if (carrier == null) {
            return null;
        }
        // Control frames respect the subflow's room like data: a peer that stops reading gets no growing queue of
        // DATA_ACKs and PONGs in our socket buffers (they wait here, one flag per stream, or are dropped when the
        // subflow's bounded control queue is full).
        if (carrier.spaceLeft() > 0) {
            int start = out.position();
            writeSessionControl(carrier, out);
            if (out.position() > start) {
                return transmitted(carrier, out.position() - start);
            }
        }
        return transmitData(now, out);
    }

    private Transmit transmitSubflowControl(ByteBuffer out) {
        for (Subflow subflow : session.subflows.inOrder()) {
            if (subflow.control().isEmpty() || subflow.state() == SubflowState.CONNECTING
                    || (subflow.state().isAttached() && subflow.spaceLeft() <= 0)) {
                continue;
            }
            int start = out.position();
            Frame frame;
            while ((frame = subflow.control().peekFirst()) != null && frame.encodedLength() <= out.remaining()) {
                subflow.control().pollFirst();
                frame.encodeTo(out);
                if (frame instanceof SubflowReset reset) {
                    subflow.control().clear();
                    subflow.consumed(out.position() - start);
                    session.subflows.forget(subflow, reset.reason(), "reset sent");
                    return new Transmit(subflow.id(), out.position() - start);
                }
            }
            return transmitted(subflow, out.position() - start);
        }
        return null;
    }

    private void writeSessionControl(Subflow carrier, ByteBuffer out) {
        Frame frame;
        while ((frame = sessionControl.peekFirst()) != null && frame.encodedLength() <= out.remaining()) {
            sessionControl.pollFirst();
            frame.encodeTo(out);
        }
        List<Stream> lastAckSent = null;
        for (Stream stream : streams.all()) {
            if (!stream.ackPending) {
                continue;
            }
            DataAck ack = new DataAck(stream.id, stream.receive.dataAck(), stream.receive.window());
            if (ack.encodedLength() > out.remaining()) {
                break;
            }
            ack.encodeTo(out);
            stream.ackPending = false;
            session.mib().increment(MibCounter.DATA_ACKS_SENT);
            if (stream.isDone()) {
                // The acknowledgement of the peer's DATA_FIN was all that kept this stream open.
                if (lastAckSent == null) {
                    lastAckSent = new ArrayList<>();
                }
                lastAckSent.add(stream);
            }
        }
        if (lastAckSent != null) {
            lastAckSent.forEach(streams::closeIfDone);
        }
    }

    private Transmit transmitted(Subflow subflow, int bytes) {
        subflow.consumed(bytes);
        return new Transmit(subflow.id(), bytes);
    }

    /** New data, reinjections, redundant copies and opportunistic retransmissions, for one subflow. */
    private Transmit transmitData(long now, ByteBuffer out) {
        // The silence rule (a blackhole) runs whatever late-reinjection says; the rest of the detector only with it.
        session.subflows.reinjectFromLatePaths(now);
        // Reused from call to call (a poll is never re-entered): this runs once per batch of frames sent.
        List<Subflow> usable = usableScratch;
        List<SubflowView> views = viewScratch;
        usable.clear();
        views.clear();
        for (Subflow subflow : session.subflows.inOrder()) {
            if (subflow.state() == SubflowState.ATTACHED) {
                usable.add(subflow);
                views.add(view(subflow, now));
            }
        }
        if (usable.isEmpty()) {
            return null;
        }
        Transmit copies = transmitRedundantCopies(usable, out, now);
        if (copies != null) {
            return copies;
        }
        int chosen = -1;
        int start = out.position();
        boolean primaryUsable = false;
        for (SubflowView v : views) {
            primaryUsable |= v.priority() == SubflowPriority.PRIMARY;
        }
        // Bounded: every turn either sends a frame (and out shrinks) or drops a stream from the order.
        for (int guard = 4 * sendOrder.size() + 16; guard > 0; guard--) {
            Long streamId = sendOrder.peekFirst();
            if (streamId == null) {
                break;
            }
            Stream stream = streams.get(streamId);
            if (stream == null || !stream.send.hasSendable()) {
                if (stream != null) {
                    // Leaves the order with nothing it may send: perhaps held by the peer's window (timed until the
                    // DATA_ACK that opens it puts the stream back).
                    streams.noteWindowLimited(stream, now);
                }
                sendOrder.pollFirst();
                continue;
            }
            long pending = pendingBytes();
            int sessionMax = session.maxDataPayload();
            int want = (int) Math.min(sessionMax, Math.max(1, stream.send.hasRetransmission()
                    ? sessionMax : stream.send.newSendable()));
            int frameBytes = Frame.HEADER_LENGTH + Data.FIXED_BODY_LENGTH + Math.min(want, MIN_CHUNK);
            int pick = stream.pinnedUplink == null ? scheduler.pick(views, frameBytes, pending, now)
                    : pinnedPick(usable, views, stream.pinnedUplink, frameBytes);
            if (pick < 0 && stream.pinnedUplink != null) {
                // Its uplink has no room (or no subflow): the other streams go on; this one waits its turn.
                sendOrder.pollFirst();
                sendOrder.addLast(streamId);
                continue;
            }
            if (pick < 0 || (chosen >= 0 && pick != chosen)) {
                break;
            }
            chosen = pick;
            SubflowView view = views.get(pick);
            Subflow subflow = usable.get(pick);
            int room = (int) Math.min(out.remaining(), view.spaceBytes());
            int limit = framePayloadLimit(view, subflow);
            int maxPayload = Math.min(limit, room - Frame.HEADER_LENGTH - Data.FIXED_BODY_LENGTH);
            int minPayload = minimumPayload(view, want, limit, stream.send.hasRetransmission());
            if (maxPayload < minPayload) {
                // Too little room for this stream's next frame (in version 3, perhaps for half a large one): the
                // pass ends here, and the DATA_ACK that frees the room brings the next.
                break;
            }
            SendBuffer.Chunk chunk = stream.send.take(maxPayload, subflow.slot(), now);
            if (chunk == null) {
                sendOrder.pollFirst();
                continue;
            }
            int bytes = writeChunk(stream, chunk, subflow, out, out.position() - start,
                    chunk.retransmission() ? UplinkSends.Kind.REINJECTION : UplinkSends.Kind.NEW, now);
            views.set(pick, view.afterSending(bytes));
            scheduler.sent(view, bytes, primaryUsable, now);
            if (view.priority() == SubflowPriority.OVERFLOW && primaryUsable) {
                session.mib().add(MibCounter.OVERFLOW_BYTES_SENT, chunk.length());
            }
            if (scheduler.redundant() && stream.pinnedUplink == null) {
                for (Subflow other : usable) {
                    if (other != subflow && other.redundantCopies().size() < 4096) {
                        other.redundantCopies().addLast(new long[] {stream.id, chunk.dsn()});
                    }
                }
            }
            // Round robin between streams: one frame per stream per turn.
            sendOrder.pollFirst();
            if (stream.send.hasSendable()) {
                sendOrder.addLast(streamId);
            }
            // A reinjected segment keeps its original size (up to a full frame), whatever room is left: stop
            // while a whole frame still fits, so no caller's buffer can overflow.
            if (out.remaining() < session.transmitBufferBytes()) {
                break;
            }
        }
        if (chosen >= 0 && out.position() > start) {
            return transmitted(usable.get(chosen), out.position() - start);
        }
        return transmitOpportunistic(usable, views, out, now);
    }

    /**
     * The largest new DATA payload for {@code view}'s subflow: the session's bound (version 2: 16 KiB), and in
     * version 3 no more than the subflow sends in {@link #LARGE_FRAME_MAX_SEND_NANOS} (at least version 2's 16 KiB;
     * 16 KiB while its rate is unknown). A frame only gets this large when the stream has that much to send: nothing
     * waits for a frame to fill. The rate is the lower of the congestion window over the smoothed RTT and what the
     * subflow's connection delivered lately ({@code tcpi_delivered}, {@link Subflow#deliveredRate()}): a path whose
     * rate collapsed keeps its window sized for the old rate (nothing is lost until its queue overflows), and with the
     * window alone an LTE fallen from 60 to 3 Mbit/s was still handed 64 KiB frames, 175 ms each at the new rate.
     */
    private int framePayloadLimit(SubflowView view, Subflow subflow) {
        int max = session.maxDataPayload();
        if (max <= Data.MAX_PAYLOAD || view.cwndBytes() <= 0 || view.srttNanos() <= 0) {
            return Math.min(max, Data.MAX_PAYLOAD);
        }
        // cwnd is at most a few hundred MB and the bound 1.6e7 ns: the product stays far below 2^63.
        long sentInBound = view.cwndBytes() * LARGE_FRAME_MAX_SEND_NANOS / view.srttNanos();
        long delivered = subflow.deliveredRate().bytesPerSecond();
        if (delivered > 0) {
            sentInBound = Math.min(sentInBound, delivered * LARGE_FRAME_MAX_SEND_NANOS / 1_000_000_000L);
        }
        return (int) Math.max(Data.MAX_PAYLOAD, Math.min(max, sentInBound));
    }

    /**
     * The smallest new DATA payload worth sending on {@code view}'s subflow now. Version 2: 1 KiB (or what the stream
     * has). Version 3, for a stream with a large frame's worth queued: half of {@link #framePayloadLimit}, while the
     * subflow's connection still holds at least a large frame. The room a pass finds is what the connection delivered
     * since the last pass, and passes follow the peer's DATA_ACKs, one per frame: sending whatever room there is would
     * keep a download at the frame size it started with. Waiting costs no throughput, since the connection holds a
     * large frame or more (a socket queue of up to two congestion windows, section 8), and each frame it delivers
     * brings a DATA_ACK and another pass; a connection holding less gets what room there is, so nothing waits for
     * room that no DATA_ACK will announce.
     */
    private static int minimumPayload(SubflowView view, int want, int limit, boolean retransmission) {
        int min = Math.min(want, MIN_CHUNK);
        if (limit <= Data.MAX_PAYLOAD || retransmission || want < limit
                || view.inflightBytes() + view.notSentBytes() < limit
                || limit * view.srttNanos() < LARGE_FRAME_WAIT_MIN_SEND_NANOS * view.cwndBytes()) {
            return min;
        }
        return Math.max(min, limit / 2);
    }

    private Transmit transmitRedundantCopies(List<Subflow> usable, ByteBuffer out, long now) {
        if (!scheduler.redundant()) {
            return null;
        }
        for (Subflow subflow : usable) {
            int start = out.position();
            long[] copy;
            while ((copy = subflow.redundantCopies().peekFirst()) != null && subflow.spaceLeft() - (out.position() - start)
                    > Frame.HEADER_LENGTH + Data.FIXED_BODY_LENGTH + MIN_CHUNK
                    && out.remaining() >= session.transmitBufferBytes()) {
                subflow.redundantCopies().pollFirst();
                Stream stream = streams.get(copy[0]);
                SendBuffer.Chunk chunk = stream == null ? null : stream.send.copyOf(copy[1], subflow.slot());
                if (chunk != null) {
                    writeChunk(stream, chunk, subflow, out, out.position() - start, UplinkSends.Kind.REDUNDANT, now);
                    session.mib().add(MibCounter.REDUNDANT_BYTES, chunk.length());
                }
            }
            if (out.position() > start) {
                return transmitted(subflow, out.position() - start);
            }
        }
        return null;
    }

    /**
     * Raiciu et al., NSDI 2012, §4.2: "opportunistic retransmission" sends the segment that holds
     * the connection-level window again on a faster subflow that has room, and "penalizing slow
     * subflows" halves what the slow subflow may take for one of its RTTs, so that it stops
     * blocking the window.
     */
    private Transmit transmitOpportunistic(List<Subflow> usable, List<SubflowView> views, ByteBuffer out, long now) {
        for (Stream stream : streams.all()) {
            if (!stream.send.blockedByWindow() || stream.pinnedUplink != null) {
                continue; // a pinned stream has one path: nothing faster to retransmit on
            }
            long carriers = stream.send.headSubflows();
            int fastest = -1;
            for (int i = 0; i < views.size(); i++) {
                SubflowView v = views.get(i);
                if (v.fits(session.transmitBufferBytes()) && (carriers & (1L << v.slot())) == 0
                        && (fastest < 0 || v.srttNanos() < views.get(fastest).srttNanos())) {
                    fastest = i;
                }
            }
            if (fastest < 0 || !slowerCarriers(carriers, views.get(fastest).srttNanos(), usable, now)) {
                continue;
            }
            Subflow subflow = usable.get(fastest);
            SendBuffer.Chunk chunk = stream.send.takeOpportunistic(subflow.slot());
            if (chunk == null) {
                continue;
            }
            session.mib().increment(MibCounter.OPPORTUNISTIC_RETRANSMITS);
            for (Subflow slow : usable) {
                if ((carriers & (1L << slow.slot())) != 0 && slow.penalisedUntil() <= now) {
                    slow.penalisedUntil(now + slow.srttNanos(session.probes.minStall()));
                    session.mib().increment(MibCounter.PENALISATIONS);
                }
            }
            int start = out.position();
            writeChunk(stream, chunk, subflow, out, 0, UplinkSends.Kind.OPPORTUNISTIC, now);
            return transmitted(subflow, out.position() - start);
        }
        return null;
    }

    private boolean slowerCarriers(long carriers, long candidateRtt, List<Subflow> usable, long now) {
        boolean any = false;
        for (Subflow s : session.subflows.inOrder()) {
            if ((carriers & (1L << s.slot())) != 0) {
                any = true;
                if (s.state() == SubflowState.ATTACHED && s.srttNanos(session.probes.minStall()) <= candidateRtt) {
                    return false;
                }
            }
        }
        return any;
    }

    /**
     * For a stream pinned to {@code uplink}: the subflow of that uplink with the lowest RTT and room for
     * {@code bytes} (the backup rule does not apply: the operator chose this line), or -1.
     */
    private static int pinnedPick(List<Subflow> usable, List<SubflowView> views, String uplink, int bytes) {
        int best = -1;
        for (int i = 0; i < usable.size(); i++) {
            SubflowView view = views.get(i);
            if (usable.get(i).uplink().equals(uplink) && view.fits(bytes)
                    && (best < 0 || view.srttNanos() < views.get(best).srttNanos())) {
                best = i;
            }
        }
        return best;
    }

    /**
     * Encodes one DATA frame for {@code subflow}, {@code handedBefore} bytes after what this poll already wrote for
     * it, and, with late reinjection on, records where the frame ends in the subflow's byte stream and when it is late
     * ({@link SubflowTable#lateAt}).
     */
    private int writeChunk(Stream stream, SendBuffer.Chunk chunk, Subflow subflow, ByteBuffer out, int handedBefore,
                           UplinkSends.Kind kind, long now) {
        int encoded = Frame.HEADER_LENGTH + Data.FIXED_BODY_LENGTH + chunk.length();
        if (out.remaining() < encoded) {
            throw new java.nio.BufferOverflowException();
        }
        Data.encodeHeader(out, stream.id, chunk.dsn(), chunk.fin(),
                stream.pinnedUplink != null && session.role() == Session.Side.CPE, chunk.length());
        stream.send.copyTo(chunk, out);
        // Where the frame ends on its carrier: the silence rule reads it (whether a silent path holds DATA, what to
        // reinject); when the segment is late only the rest of the late-path detector reads (a division per frame).
        long lateAt = session.config.lateReinjection()
                ? SubflowTable.lateAt(subflow, subflow.backlogBytes() + handedBefore, now) : Long.MAX_VALUE;
        stream.send.carried(chunk.dsn(), subflow.slot(), subflow.bytesSent() + handedBefore + encoded, lateAt);
        streams.syncMemory(stream); // a new segment in flight
        subflow.dataSent(chunk.length());
        sendsByUplink.computeIfAbsent(subflow.uplink(), u -> new UplinkSends()).record(kind, chunk.length());
        session.mib().add(MibCounter.DATA_BYTES_SENT, chunk.length());
        return encoded;
    }

    private SubflowView view(Subflow subflow, long now) {
        SubflowEstimates e = subflow.estimates();
        long space = subflow.spaceLeft();
        boolean penalised = subflow.penalisedUntil() > now;
        if (penalised) {
            space /= 2;
        }
        space = Math.min(space, congestionRoom(subflow));
        space = Math.min(space, lateRoom(subflow, now)); // unbounded unless the subflow was judged late or silent
        return new SubflowView(subflow.id(), subflow.slot(), subflow.priority(), subflow.srttNanos(session.probes.minStall()),
                subflow.probeRttVarNanos(), e.cwndBytes(), e.inflightBytes(), e.notSentBytes(), space, penalised);
    }

    /**
     * What a subflow may be handed beyond what its connection holds: up to {@link #HELD_WINDOWS} congestion windows
     * in all, one in flight and about one more waiting in the socket, enough to keep it sending until the next turn
     * of the event loop; unbounded while the adapter does not know the window. The socket's own room (its
     * TCP_NOTSENT_LOWAT, the channel's water marks) is sized for the fastest path and is far deeper than a slow
     * path's window: the lab's 512 KiB are half a second of an 8 Mb/s DSL. The lowest-RTT scheduler picks such a
     * DSL first and filled that queue with the stream's whole receive window; the faster LTE then had no window
     * left, and the receive window, autotuned from what was read per subflow RTT, never grew past what DSL carried
     * (docs/decisions.md, "the userspace engine left a lossy LTE path unused"). The Linux kernel's scheduler
     * likewise hands a subflow no more than its congestion window lets it send.
     */
    private static long congestionRoom(Subflow subflow) {
        long cwnd = subflow.estimates().cwndBytes();
        if (cwnd <= 0) {
            return Long.MAX_VALUE;
        }
        // What the peer's TCP SACKed is no longer the connection's to send: it arrived, and waits only for a hole to
        // be repaired (tcpi_unacked counts it until the cumulative acknowledgement passes it). Counted as held, a
        // path repairing a loss was handed nothing, went idle behind its hole, and a lost retransmission then waited
        // for the retransmission timeout with no later segment to SACK (docs/decisions.md, 2026-11-30).
        long held = subflow.backlogBytes() - Math.min(subflow.estimates().sackedBytes(), subflow.backlogBytes());
        return Math.max(0, HELD_WINDOWS * cwnd - held);
    }

    /** Congestion windows a subflow's connection may hold: one in flight, one queued behind it. */
    static final int HELD_WINDOWS = 2;

    /**
     * What a subflow judged late ({@link SubflowTable#reinjectFromLatePaths}) may be handed: nothing until its
     * connection delivered what it held then; after that, while its smoothed RTT stays above
     * {@link #SUSPECT_CLEAR_MIN_RTTS} minimum RTTs, what its connection delivers in one minimum RTT by its own
     * estimate (a congestion window per smoothed RTT), at least {@link #SUSPECT_ROOM}: enough to measure a recovered
     * path, too little to build a queue that in-order delivery waits behind. Without it a collapsed LTE, once it had
     * delivered its backlog, was handed two congestion windows again (its window sized for 60 Mbit/s, its rate 3)
     * and in-order delivery waited seconds behind them. TCP's own window and RTT, not a rate sampled by the engine:
     * those swung with the event loop's lag in the lab (docs/decisions.md).
     */
    private static long lateRoom(Subflow subflow, long now) {
        if (subflow.heldBack()) {
            return 0;
        }
        if (!subflow.suspect(SUSPECT_CLEAR_MIN_RTTS)) {
            return Long.MAX_VALUE;
        }
        SubflowEstimates e = subflow.estimates();
        long minRtt = subflow.minRtt().minRttNanos();
        long rate = subflow.deliveredRate().bytesPerSecond();
        // Twice what its connection delivered per second lately (tcpi_delivered, docs/userspace-protocol.md §7) over
        // one minimum RTT: a collapsed LTE's window is not cut by the collapse (nothing is lost until its queue
        // overflows), so its window's worth was 170-340 KB at 3 Mbit/s, and in-order delivery waited behind them.
        // Twice, so that a recovered path's rate can double per RTT as in slow start; with once its rate measured
        // what it was allowed, and a recovered LTE stayed at its collapsed rate (simulator).
        // A sample of zero is a silence, not the path's rate: the rate before it then, if it was measured within the
        // last few minimum RTTs. With the window over the smoothed RTT in its place, a still-collapsed LTE whose
        // queue had just drained (its window sized for 60 Mbit/s, its smoothed RTT falling from seconds towards
        // 100 ms) was handed up to 64 KB at 3 Mbit/s, and in-order delivery stopped behind them. An older rate is
        // no news: a path held back for seconds may have recovered, and the window is then the better guess
        // (docs/decisions.md, large frames, third attempt). Nor is the rate before a silence all that is known: a
        // zero sample mostly means the batch handed to a connection that held nothing was still on its way when the
        // sample's interval ended, and that batch's own delivery time bounds the path's rate from below. A
        // recovered LTE (its queue drained, its batch of 37 KB acknowledged one minimum RTT after it was handed)
        // was handed 37 KB at its collapsed rate instead of a window's worth, and the four-period byte-queue
        // collapse fell from 52.6 to 52.26 Mbit/s; a still-collapsed one keeps its 3 Mbit/s, since its batch takes
        // 100 ms to arrive (docs/decisions.md, large frames, fourth attempt).
        if (rate == 0) {
            long recent = now - RECENT_RATE_MIN_RTTS * minRtt;
            rate = Math.max(subflow.deliveredRate().movingBytesPerSecondSince(recent),
                    subflow.deliveredRate().sinceRestartBytesPerSecondLowerBound(now, recent, minRtt));
        }
        long allowed = rate > 0 ? (long) (2 * rate * (minRtt / 1e9))
                : e.srttNanos() <= 0 ? SUSPECT_ROOM : (long) ((double) e.cwndBytes() * minRtt / e.srttNanos());
        return Math.max(0, Math.max(SUSPECT_ROOM, allowed) - subflow.backlogBytes());
    }

    /** How many minimum RTTs a rate sample stays news for a suspect subflow's room ({@link #lateRoom}). */
    static final int RECENT_RATE_MIN_RTTS = 4;
    /** A late subflow is trusted again once its smoothed RTT is at most this many minimum RTTs. */
    static final double SUSPECT_CLEAR_MIN_RTTS = 1.5;
    /** What a suspect subflow may always hold. */
    static final long SUSPECT_ROOM = 16 * 1024;

    private long pendingBytes() {
        long pending = 0;
        for (Stream stream : streams.all()) {
            pending += stream.send.newSendable();
        }
        return pending;
    }

    /**
     * Where session-level control frames (DATA_ACK, FAST_CLOSE, ADD_ADDR) go: the attached subflow with the lowest
     * RTT among those heard from within two of their RTTs and 20 ms (a subflow whose path went silent would swallow
     * the DATA_ACKs until its probes declare it stalled, and the peer would hold, and count as late, everything it
     * sent meanwhile); the lowest RTT overall when none was heard from lately; a stalled one when nothing else is.
     */
    Subflow bestControlSubflow(long now) {
        Subflow best = null;
        Subflow bestHeard = null;
        long fallback = session.probes.minStall();
        for (Subflow s : session.subflows.inOrder()) {
            if (s.state() != SubflowState.ATTACHED) {
                continue;
            }
            long srtt = s.srttNanos(fallback);
            if (best == null || srtt < best.srttNanos(fallback)) {
                best = s;
            }
            boolean heard = s.lastReceivedAt() != Long.MIN_VALUE && now - s.lastReceivedAt() <= 2 * srtt + 20_000_000L;
            if (heard && (bestHeard == null || srtt < bestHeard.srttNanos(fallback))) {
                bestHeard = s;
            }
        }
        if (bestHeard != null) {
            return bestHeard;
        }
        if (best == null) {
            for (Subflow s : session.subflows.inOrder()) {
                if (s.state() == SubflowState.STALLED) {
                    return s;
                }
            }
        }
        return best;
    }

    void scheduleSend(Stream stream) {
        if (!sendOrder.contains(stream.id)) {
            sendOrder.addLast(stream.id);
        }
    }

    void queueSessionControl(Frame frame) {
        // Bounded: one FAST_CLOSE per stream and a handful of address frames at most.
        if (sessionControl.size() < session.config.maxStreams() + 64) {
            sessionControl.addLast(frame);
        }
    }
}
