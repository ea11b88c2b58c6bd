package net.hybridproxy.engine.multipath.connection;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.random.RandomGenerator;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.connection.TimerTable.SessionTimer;
import net.hybridproxy.engine.multipath.crypto.MptcpCrypto;
import net.hybridproxy.engine.multipath.crypto.SessionSecret;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.Data;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.FrameException;
import net.hybridproxy.engine.multipath.frame.FrameReader;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.mib.Mib;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.mib.UplinkJudgements;
import net.hybridproxy.engine.multipath.mib.UplinkSends;
import net.hybridproxy.engine.multipath.pm.PathManager;
import net.hybridproxy.engine.multipath.pm.ProbePolicy;
import net.hybridproxy.engine.multipath.pm.Uplink;
import net.hybridproxy.engine.multipath.subflow.Subflow;
import net.hybridproxy.engine.multipath.subflow.SubflowEstimates;
import net.hybridproxy.engine.multipath.subflow.SubflowState;

/**
 * One multipath session between a cpe and the concentrator: its keys, its subflows, the streams
 * multiplexed over them, the scheduler, reinjection and probes. The counterpart of Linux
 * {@code net/mptcp/protocol.c}'s {@code mptcp_sock}, except that one session carries many
 * logical connections (streams), each with its own data sequence spaces (docs/userspace-protocol.md
 * explains why).
 *
 * <h2>Driving a session</h2>
 * The session has no sockets, threads or clocks: {@code now} is a monotonic time in nanoseconds
 * with any origin, passed to every method that needs one. It is not thread-safe; one thread (one
 * event loop) drives all of a session's subflows. The caller:
 * <ol>
 * <li>feeds bytes read from a subflow to {@link #handleSubflowBytes}, tells the session about TCP
 *     connects and closes ({@link #subflowConnected}, {@link #subflowClosed}) and about each
 *     subflow's TCP state ({@link #updateSubflow}) after every flush and writability change;</li>
 * <li>after any call (including the stream calls {@link #write}, {@link #finish}, {@link #read}
 *     and {@link #handleTimeout}), calls {@link #pollTransmit} until it returns null and writes
 *     each result to its subflow, then drains {@link #pollEvent} until it returns null;</li>
 * <li>arms one timer for {@link #pollTimeout()} and calls {@link #handleTimeout} when it fires
 *     (then step 2 again).</li>
 * </ol>
 * Malformed or unauthenticated input closes the subflow that carried it (a {@code SubflowClose}
 * event, counted in {@link #mib()}); a stream-level violation resets that stream; nothing throws
 * for any bytes received.
 *
 * <h2>Parts</h2>
 * This class coordinates; each concern is a class of its own, split by what it owns (quinn-proto's
 * {@code connection/}): {@link StreamTable} (streams, windows, memory), {@link TransmitAssembly} (what goes out
 * next: control, data, reinjection, redundant and opportunistic sends), {@link Handshake} (keys, the cpe's
 * handshakes, the MACs), {@link InboundFrames} (which part handles each frame received), {@link SubflowTable}
 * (subflows, probes and stalls), {@link AnnouncedAddresses} (ADD_ADDR, REMOVE_ADDR) and {@link TimerTable}. Here:
 * the calls the adapter makes, subflow lifecycle, uplink administration and the session's own state.
 */
public final class Session {

    /** Which end of the session this is. */
    public enum Side { CPE, CONCENTRATOR }

    private enum Lifecycle { HANDSHAKING, ESTABLISHED, CLOSED }

    /** pollTransmit needs room for at least one full frame: this much on a version 2 session. */
    public static final int MIN_TRANSMIT_BUFFER = Frame.MAX_FRAME_LENGTH;

    private final Side role;
    final SessionConfig config;
    private final RandomGenerator random;
    final ProbePolicy probes;
    private final Mib mib = new Mib();
    final SubflowTable subflows;
    final Handshake handshake;
    final StreamTable streams;
    final TransmitAssembly transmit;
    private final TimerTable timers = new TimerTable();
    private final InboundFrames inbound;

    final AnnouncedAddresses addresses;

    private Lifecycle state = Lifecycle.HANDSHAKING;
    final ArrayDeque<SessionEvent> events = new ArrayDeque<>();

    private Session(Side role, SessionConfig config, CpeKey cpeKey, RandomGenerator random, PathManager pathManager,
                    MemoryBudget processMemory) {
        this.role = role;
        this.config = Objects.requireNonNull(config, "config");
        this.random = Objects.requireNonNull(random, "random");
        this.probes = config.probes();
        this.subflows = new SubflowTable(this, config, mib, random, pathManager);
        this.addresses = new AnnouncedAddresses(this, mib);
        this.handshake = new Handshake(this, Objects.requireNonNull(cpeKey, "cpeKey"), mib, random);
        this.streams = new StreamTable(this, config, mib, Objects.requireNonNull(processMemory, "processMemory"));
        this.transmit = new TransmitAssembly(this, streams, config);
        this.inbound = new InboundFrames(this);
    }

    /**
     * A cpe's session: it asks for a subflow over every uplink at once ({@code SubflowRequested}
     * events); whichever connects first carries the capable handshake, the others join.
     *
     * @param random a cryptographically strong generator in production (keys and nonces come from it)
     */
    public static Session cpe(SessionConfig config, CpeKey key, List<Uplink> uplinks, RandomGenerator random,
                              long now) {
        return cpe(config, key, uplinks, random, MemoryBudget.unlimited(), now);
    }

    /** A cpe's session whose streams' memory also counts against {@code processMemory}. */
    public static Session cpe(SessionConfig config, CpeKey key, List<Uplink> uplinks, RandomGenerator random,
                              MemoryBudget processMemory, long now) {
        PathManager pm = new PathManager(uplinks, config.reconnectBackoff().toNanos(),
                config.maxReconnectBackoff().toNanos(), config.stableAfter().toNanos());
        Session session = new Session(Side.CPE, config, key, random, pm, processMemory);
        session.handshake.newLocalKey();
        session.subflows.requestDue(now);
        return session;
    }

    /**
     * A concentrator's session, created by {@link ConcentratorEndpoint} once a CAPABLE_ACK proved the cpe's key:
     * established from the start, its first subflow attached by {@link #attachSubflow}.
     */
    static Session concentrator(SessionConfig config, CpeKey key, long localKey, long remoteKey, int version,
                                SessionSecret secret, RandomGenerator random, MemoryBudget processMemory, long now) {
        Session session = new Session(Side.CONCENTRATOR, config, key, random, null, processMemory);
        session.handshake.completed(localKey, remoteKey, version, Objects.requireNonNull(secret, "secret"));
        session.establish(now);
        return session;
    }

    /**
     * cpe: the protocol version to offer in the capable handshake, {@link CapableSyn#VERSION} (the default) or
     * {@link CapableSyn#VERSION_LARGE_FRAMES}; call before the first subflow connects. Version 3 lets both ends send
     * DATA frames of up to 64 KiB (docs/userspace-protocol.md §3); a concentrator of version 2 refuses it, and the
     * session then offers version 2 on its next attempt.
     */
    public void offerVersion(int version) {
        if (role != Side.CPE || state != Lifecycle.HANDSHAKING) {
            throw new IllegalStateException("only a cpe's session offers a version, before its handshake");
        }
        handshake.offerVersion(version);
    }

    /** The session's protocol version: what its capable handshake chose ({@link CapableSyn#VERSION} before). */
    public int version() {
        return handshake.version();
    }

    /** The largest DATA payload either end of this session may send: {@link Data#MAX_PAYLOAD} in version 2. */
    public int maxDataPayload() {
        return handshake.version() >= CapableSyn.VERSION_LARGE_FRAMES ? Data.MAX_PAYLOAD_V3 : Data.MAX_PAYLOAD;
    }

    /**
     * The room {@link #pollTransmit} needs in its buffer: one largest frame of this session's version
     * ({@link #MIN_TRANSMIT_BUFFER} in version 2, 64 KiB in version 3; a cpe's grows when its handshake chooses 3).
     */
    public int transmitBufferBytes() {
        return Frame.HEADER_LENGTH + Data.FIXED_BODY_LENGTH + maxDataPayload();
    }

    /** The session secret (concentrator: set at creation, never changes; read by the endpoint for joins). */
    SessionSecret secret() {
        return handshake.secret();
    }

    public Side role() {
        return role;
    }

    /** This side's 64-bit key. */
    public long localKey() {
        return handshake.localKey();
    }

    /** The token that names this session to the peer: the hash of this side's key. */
    public int localToken() {
        return MptcpCrypto.token(handshake.localKey());
    }

    /** The id of the cpe key that authenticated (or is authenticating) this session. */
    public String keyId() {
        return handshake.keyId();
    }

    public boolean isEstablished() {
        return state == Lifecycle.ESTABLISHED;
    }

    public boolean isClosed() {
        return state == Lifecycle.CLOSED;
    }

    /** This session's counters. */
    public Mib mib() {
        return mib;
    }

    // ------------------------------------------------------------------ subflow lifecycle

    /**
     * concentrator: attaches a subflow whose handshake the endpoint completed (the capable handshake, or a join whose
     * JOIN_ACK verified). Returns its id, or -1 if the session is closed or has its maximum of subflows.
     */
    long attachSubflow(int addressId, SubflowPriority priority, long now) {
        if (state == Lifecycle.CLOSED) {
            return -1;
        }
        Subflow subflow = subflows.attachNew(addressId, priority, now);
        if (subflow == null) {
            return -1;
        }
        timers.stop(SessionTimer.ORPHAN);
        return subflow.id();
    }

    /**
     * cpe: the TCP connection of {@code subflowId} (from a {@code SubflowRequested} event) is
     * established. The session queues its first frame.
     */
    public void subflowConnected(long subflowId, long now) {
        Subflow subflow = subflows.get(subflowId);
        if (subflow == null || subflow.state() != SubflowState.CONNECTING) {
            return;
        }
        subflow.state(SubflowState.WAITING_FOR_SESSION);
        subflow.attachedAt(now);
        handshake.start(subflows.all(), now);
    }

    /**
     * The subflow's TCP connection is gone (closed, reset, failed to connect). Its data is
     * reinjected on the others; a cpe re-establishes it after a backoff.
     */
    public void subflowClosed(long subflowId, long now) {
        Subflow subflow = subflows.get(subflowId);
        if (subflow == null) {
            return;
        }
        subflows.closed(subflow, now);
    }

    /**
     * The adapter's latest view of a subflow's TCP connection; call after every flush and every
     * writability change, and whenever fresh {@code TCP_INFO} is at hand.
     */
    public void updateSubflow(long subflowId, SubflowEstimates estimates) {
        Subflow subflow = subflows.get(subflowId);
        if (subflow != null) {
            subflow.estimates(estimates);
        }
    }

    /**
     * Bytes read from a subflow. Consumes all of {@code in}. A malformed or unexpected frame
     * closes this subflow (and only it).
     */
    public void handleSubflowBytes(long subflowId, ByteBuffer in, long now) {
        Subflow subflow = subflows.get(subflowId);
        if (subflow == null || subflow.state() == SubflowState.CLOSING || subflow.state() == SubflowState.CLOSED) {
            in.position(in.limit());
            return;
        }
        subflow.received(in.remaining(), now);
        try {
            Frame frame;
            while (subflows.get(subflowId) == subflow && subflow.state() != SubflowState.CLOSING
                    && (frame = subflow.reader().read(in)) != null) {
                inbound.onFrame(subflow, frame, now);
            }
            if (subflows.get(subflowId) == subflow && subflow.state() != SubflowState.CLOSING) {
                deliverOverdueLargeFrame(subflow, now);
            }
        } catch (FrameException e) {
            mib.increment(MibCounter.SUBFLOW_PROTOCOL_ERRORS);
            subflows.fail(subflow, e.reason(), e.getMessage(), now);
        }
        in.position(in.limit());
    }

    /**
     * Bytes the frame the subflow's last bytes began still lacks, or 0 when they ended on a frame boundary (or the
     * subflow is unknown): {@link #handleSubflowBytes} can do nothing with fewer, so the adapter need not wake up for
     * them (a 16 KiB DATA frame arrives in about a dozen TCP segments and was read in several pieces).
     */
    public int subflowBytesMissing(long subflowId) {
        Subflow subflow = subflows.get(subflowId);
        return subflow == null ? 0 : subflow.reader().missingBytes();
    }

    /**
     * The same at {@code now}: 1 once a large DATA frame the subflow is reading is overdue
     * ({@link #LARGE_FRAME_OVERDUE_NANOS}), since from then on every byte of it that arrives is handed on as it comes
     * (when in-order delivery waits for it), so the adapter should read whatever arrives. Ask again when the timer
     * ({@link #pollTimeout}) fires: a frame becomes overdue without any byte arriving.
     */
    public int subflowBytesMissing(long subflowId, long now) {
        Subflow subflow = subflows.get(subflowId);
        if (subflow == null) {
            return 0;
        }
        return largeFrameOverdue(subflow.reader(), now) ? 1 : subflow.reader().missingBytes();
    }

    /** Whether the reader holds a large DATA frame incomplete for {@link #LARGE_FRAME_OVERDUE_NANOS} or longer. */
    private static boolean largeFrameOverdue(FrameReader reader, long now) {
        long since = reader.partialPayloadSince();
        return since != Long.MIN_VALUE && now - since >= LARGE_FRAME_OVERDUE_NANOS;
    }

    /**
     * Version 3: a large DATA frame whose bytes are still arriving this long after a read first ended inside it is
     * handed on in pieces as they arrive, while in-order delivery waits for it. Twice the time the sender lets such a
     * frame take at its path's rate ({@link TransmitAssembly#LARGE_FRAME_MAX_SEND_NANOS}): on a steady path a frame
     * arrives within it and is handed on whole, one wake-up per frame, which is the point of version 3. A path whose
     * rate falls (LTE from 60 to 3 Mbit/s) delivers a 64 KiB frame sized for the old rate in 175 ms, and the receiver
     * could use none of it before its last byte: in the simulator, a 100 ms interval of in-order delivery at nothing
     * at every such collapse (docs/decisions.md, 2026-11-30, "large frames by default").
     */
    static final long LARGE_FRAME_OVERDUE_NANOS = 2 * TransmitAssembly.LARGE_FRAME_MAX_SEND_NANOS;

    /**
     * Hands on what arrived of an overdue large DATA frame ({@link #LARGE_FRAME_OVERDUE_NANOS}) if in-order delivery
     * waits for it: its bytes start at or before the stream's next expected byte. A frame further ahead stays whole
     * in the reader, so the reorder buffer gets no more out-of-order pieces than frames.
     */
    private void deliverOverdueLargeFrame(Subflow subflow, long now) throws FrameException {
        FrameReader reader = subflow.reader();
        reader.notePartialPayload(now);
        if (!largeFrameOverdue(reader, now) || !subflow.state().isAttached()) {
            return;
        }
        Stream stream = streams.get(reader.partialDataStream());
        if (stream == null || reader.partialDataDsn() > stream.receive.dataAck()) {
            return;
        }
        Data arrived = reader.takeArrivedPayload();
        if (arrived != null) {
            mib.increment(MibCounter.LARGE_FRAME_PIECES_RECEIVED);
            inbound.onFrame(subflow, arrived, now);
        }
    }

    /** The earliest moment a large DATA frame being read becomes overdue and was not announced yet. */
    private long nextOverdueLargeFrame() {
        long next = Long.MAX_VALUE;
        for (Subflow subflow : subflows.inOrder()) {
            FrameReader reader = subflow.reader();
            long since = reader.partialPayloadSince();
            if (since != Long.MIN_VALUE && !reader.overdueAnnounced()) {
                next = Math.min(next, since + LARGE_FRAME_OVERDUE_NANOS);
            }
        }
        return next;
    }

    // ------------------------------------------------------------------ streams (StreamTable holds them)

    /**
     * cpe: opens a stream. Bytes written before the session is established wait for it.
     *
     * @return the stream id
     * @throws IllegalStateException if the session is closed, has its maximum of streams or no memory left
     */
    public long openStream(long now) {
        if (role != Side.CPE) {
            throw new IllegalStateException("only the cpe opens streams");
        }
        if (state == Lifecycle.CLOSED) {
            throw new IllegalStateException("session is closed");
        }
        return streams.open(now, null);
    }

    /**
     * cpe: opens a stream whose data, both ways, goes only over subflows of {@code uplink} (a bypass rule with
     * action = proxy): its frames carry P, and the concentrator keeps its answer on the address they arrive from.
     * Its bytes wait while that uplink has no usable subflow, as a TCP connection over that line would.
     */
    public long openPinnedStream(String uplink, long now) {
        if (role != Side.CPE) {
            throw new IllegalStateException("only the cpe opens streams");
        }
        if (state == Lifecycle.CLOSED) {
            throw new IllegalStateException("session is closed");
        }
        return streams.open(now, java.util.Objects.requireNonNull(uplink, "uplink"));
    }

    /**
     * Writes stream bytes; returns how many were taken (0 when the send buffer is full or the memory budget is
     * spent: wait for {@code StreamWritable}). Call {@link #pollTransmit} afterwards.
     */
    public int write(long streamId, ByteBuffer src, long now) {
        Stream stream = streams.get(streamId);
        if (stream == null) {
            throw new IllegalStateException("no stream " + streamId);
        }
        return streams.write(stream, src, now);
    }

    /** Bytes {@link #write} would take now on this stream. */
    public long writable(long streamId) {
        Stream stream = streams.get(streamId);
        return stream == null ? 0 : streams.writable(stream);
    }

    /** No more bytes on this stream from this side: a DATA_FIN follows the last byte (half-close). */
    public void finish(long streamId, long now) {
        Stream stream = streams.get(streamId);
        if (stream == null) {
            return;
        }
        stream.send.finish();
        transmit.scheduleSend(stream);
    }

    /**
     * Reads stream bytes in order.
     *
     * @return bytes read, 0 if none are ready, -1 at the end of the stream (the peer's DATA_FIN)
     */
    public int read(long streamId, ByteBuffer dst, long now) {
        Stream stream = streams.get(streamId);
        return stream == null ? -1 : streams.read(stream, dst, now);
    }

    /** Bytes ready to read on this stream. */
    public long readable(long streamId) {
        Stream stream = streams.get(streamId);
        return stream == null ? 0 : stream.receive.readableBytes();
    }

    /** Closes a stream abruptly (FAST_CLOSE): the client connection was reset. */
    public void reset(long streamId, ResetReason reason, long now) {
        Stream stream = streams.get(streamId);
        if (stream != null) {
            streams.reset(stream, reason);
        }
    }

    /** The ids of the open streams. */
    public List<Long> streamIds() {
        return streams.ids();
    }

    /** Whether the stream is open. */
    public boolean hasStream(long streamId) {
        return streams.get(streamId) != null;
    }

    /** Concentrator: stream ids remembered above the watermark (bounded), for diagnostics and tests. */
    public int rememberedStreamIds() {
        return streams.rememberedIds();
    }

    /** Heap bytes this session's streams hold (buffers and their overhead), as counted against the budgets. */
    public long memoryUsed() {
        return streams.memoryUsed();
    }

    /** Received bytes held out of order across all streams (waiting for a gap to fill), for metrics. */
    public long reorderBufferedBytes() {
        return streams.reorderBufferedBytes();
    }

    // ------------------------------------------------------------------ management

    /** Closes the whole session at once (FAST_CLOSE for stream 0); every stream is reset. */
    public void close(ResetReason reason, long now) {
        if (state == Lifecycle.CLOSED) {
            return;
        }
        Subflow carrier = transmit.bestControlSubflow(now);
        if (carrier != null && state == Lifecycle.ESTABLISHED) {
            carrier.queueControl(handshake.fastClose(FastClose.SESSION, reason));
        }
        terminate("closed locally: " + reason, reason, now);
    }

    /** A view of every subflow, for metrics and logs. */
    public List<SubflowInfo> subflows() {
        return subflows.infos();
    }

    /**
     * One subflow, for metrics.
     *
     * @param probeRttNanos smoothed probe RTT (0 before the first answer)
     */
    public record SubflowInfo(long id, String uplink, SubflowPriority priority, SubflowState state,
                              long probeRttNanos, long bytesSent, long bytesReceived, long dataBytesSent) {
    }

    /** Whether the session still knows the subflow (a closed or refused one is forgotten). */
    public boolean hasSubflow(long subflowId) {
        return subflows.get(subflowId) != null;
    }

    /**
     * DATA sent per uplink, by kind, cumulative over the session's life (closed subflows included), for metrics.
     * A live view: read it on the session's thread.
     */
    public Map<String, UplinkSends> sendsByUplink() {
        return transmit.sendsByUplink();
    }

    /**
     * What each uplink's subflows were judged to be (late, hole, stalled) and by which rule, cumulative over the
     * session's life, for metrics. A live view: read it on the session's thread.
     */
    public Map<String, UplinkJudgements> judgementsByUplink() {
        return subflows.judgementsByUplink();
    }

    /** Overflow (LTE) bytes the scheduler's budget has counted in its current period, 0 without a budget. */
    public long overflowBudgetUsed(long now) {
        return transmit.overflowBudgetUsed(now);
    }

    // ------------------------------------------------------------------ addresses (ADD_ADDR, REMOVE_ADDR)

    /**
     * concentrator: announces another address of the concentrator (ADD_ADDR, with a MAC keyed by the session
     * secret). The cpe reports it as {@code AddressAnnounced}; its path manager may join there.
     */
    public void announceAddress(int addressId, InetAddress address, int port, long now) {
        addresses.announce(addressId, address, port);
    }

    /**
     * concentrator: announces these addresses on the session's first subflow, ahead of the PING that confirms the
     * session to the cpe, so its joins go there from the first one ({@link ConcentratorEndpoint}).
     */
    void announceOnFirstSubflow(List<java.net.InetSocketAddress> addresses) {
        addresses.forEach(Objects::requireNonNull);
        this.addresses.announceOnFirstSubflow(addresses);
    }

    // ------------------------------------------------------------------ uplink administration (cpe)

    /**
     * cpe: uses {@code uplink} with {@code priority} from now on: MP_PRIO on its attached subflows (as RFC 8684
     * §3.3.8 changes a subflow's backup flag), and new subflows over it start with it.
     */
    public void setUplinkPriority(String uplink, SubflowPriority priority, long now) {
        subflows.setUplinkPriority(uplink, priority);
    }

    /** cpe: opens no new subflow over {@code uplink} while paused; existing ones carry on. */
    public void setUplinkPaused(String uplink, boolean paused, long now) {
        subflows.setUplinkPaused(uplink, paused, now);
    }

    /**
     * cpe: closes every subflow over {@code uplink} with a SUBFLOW_RESET (administratively prohibited); what they
     * carried unacknowledged is reinjected on the others. Returns how many were closed. Pause the uplink first, or
     * the path manager reopens them after its backoff.
     */
    public int closeUplinkSubflows(String uplink, long now) {
        return subflows.closeUplink(uplink, now);
    }

    // ------------------------------------------------------------------ output, timers, events

    /**
     * Writes the next bytes to send into {@code out} (from its position; at least
     * {@link #transmitBufferBytes()} bytes must remain) and says which subflow they are for.
     * Call repeatedly until it returns null after every other call on this session; write each
     * result to its subflow in order.
     */
    public Transmit pollTransmit(long now, ByteBuffer out) {
        if (out.remaining() < transmitBufferBytes()) {
            throw new IllegalArgumentException("pollTransmit needs " + transmitBufferBytes() + " bytes of room, has "
                    + out.remaining());
        }
        return transmit.poll(now, out);
    }

    /**
     * The next time {@link #handleTimeout} must be called, or {@code Long.MAX_VALUE} for never.
     * Ask again after every call on this session.
     */
    public long pollTimeout() {
        if (state == Lifecycle.CLOSED) {
            return Long.MAX_VALUE;
        }
        timers.set(SessionTimer.RECONNECT, state == Lifecycle.CLOSED ? Long.MAX_VALUE : subflows.nextReconnect());
        timers.set(SessionTimer.PROBES, subflows.nextProbeDeadline());
        timers.set(SessionTimer.HANDSHAKE, subflows.nextHandshakeDeadline());
        timers.set(SessionTimer.LARGE_FRAME, nextOverdueLargeFrame());
        return timers.next();
    }

    /**
     * Runs every timer due at {@code now}. Call {@link #pollTransmit} afterwards when it returns true; when it returns
     * false nothing was queued, no event added and no state changed (the deadline that fired had moved, e.g. a stall
     * timeout pushed back by the subflow's progress), so a pass over the session would find nothing new: only
     * {@link #pollTimeout()} needs asking again.
     */
    public boolean handleTimeout(long now) {
        if (state == Lifecycle.CLOSED) {
            return false;
        }
        if (timers.expired(SessionTimer.ORPHAN, now)) {
            terminate("no subflow for " + config.orphanTimeout(), ResetReason.UNSPECIFIED, now);
            return true;
        }
        if (timers.expired(SessionTimer.LARGE_FRAME, now)) {
            // Nothing changes in the session: the adapter asks subflowBytesMissing(id, now) again after a timer and
            // reads what arrived of the overdue frame. Announced once per frame, so the timer does not fire again.
            for (Subflow subflow : subflows.inOrder()) {
                if (largeFrameOverdue(subflow.reader(), now)) {
                    subflow.reader().announceOverdue();
                }
            }
        }
        int eventsBefore = events.size();
        boolean probed = subflows.handleProbeTimers(now);
        probed |= subflows.handleHandshakeTimers(now);
        subflows.requestDue(now);
        streams.releaseIdleSendRings(now);
        return probed || events.size() != eventsBefore || state == Lifecycle.CLOSED;
    }

    /** The next event, or null. Drain after every call on this session. */
    public SessionEvent pollEvent() {
        return events.pollFirst();
    }

    // ------------------------------------------------------------------ state changes

    void establish(long now) {
        if (state != Lifecycle.HANDSHAKING) {
            return;
        }
        state = Lifecycle.ESTABLISHED;
        mib.increment(MibCounter.SESSIONS_ESTABLISHED);
        events.add(new SessionEvent.SessionEstablished());
        streams.sendable().forEach(transmit::scheduleSend);
    }

    /** A subflow is gone or going; {@code anyAttachedLeft} says whether the session keeps one. */
    void subflowGone(boolean anyAttachedLeft, long now) {
        if (role == Side.CONCENTRATOR && !anyAttachedLeft && state == Lifecycle.ESTABLISHED
                && !timers.isSet(SessionTimer.ORPHAN)) {
            timers.set(SessionTimer.ORPHAN, now + config.orphanTimeout().toNanos());
        }
        if (role == Side.CPE) {
            handshake.start(subflows.all(), now);
        }
    }

    void terminate(String reason, ResetReason resetReason, long now) {
        if (state == Lifecycle.CLOSED) {
            return;
        }
        state = Lifecycle.CLOSED;
        timers.stopAll();
        streams.dropAll(resetReason);
        subflows.closeAll(reason, resetReason);
        events.add(new SessionEvent.SessionClosed(reason));
    }

    // ------------------------------------------------------------------ helpers

    /** The slowest attached subflow's smoothed RTT: the period over which windows are autotuned. */
    long slowestRttNanos() {
        return subflows.slowestRttNanos();
    }

    /** The period over which a stream's receive limit is autotuned (SubflowTable#slowestRttNanos(boolean)). */
    long receivePeriodNanos() {
        return subflows.slowestRttNanos(config.receivePeriodFromReceiverRtt());
    }

    @Override
    public String toString() {
        return "Session[" + role + " key=" + keyId() + " token=" + Integer.toHexString(localToken()) + " " + state
                + " subflows=" + subflows.size() + " streams=" + streams.all().size() + "]";
    }

    /** For tests and diagnostics: the internal subflow objects. */
    Iterator<Subflow> subflowIterator() {
        return subflows.all().iterator();
    }
}
