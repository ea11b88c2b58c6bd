package net.hybridproxy.engine.multipath.connection;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import java.util.random.RandomGenerator;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.crypto.CapableProof;
import net.hybridproxy.engine.multipath.crypto.MptcpCrypto;
import net.hybridproxy.engine.multipath.crypto.SessionSecret;
import net.hybridproxy.engine.multipath.frame.AddAddr;
import net.hybridproxy.engine.multipath.frame.CapableAck;
import net.hybridproxy.engine.multipath.frame.CapableSyn;
import net.hybridproxy.engine.multipath.frame.CapableSynAck;
import net.hybridproxy.engine.multipath.frame.Data;
import net.hybridproxy.engine.multipath.frame.DataAck;
import net.hybridproxy.engine.multipath.frame.FastClose;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.FrameCodec;
import net.hybridproxy.engine.multipath.frame.FrameException;
import net.hybridproxy.engine.multipath.frame.JoinAck;
import net.hybridproxy.engine.multipath.frame.JoinSyn;
import net.hybridproxy.engine.multipath.frame.JoinSynAck;
import net.hybridproxy.engine.multipath.frame.MpPrio;
import net.hybridproxy.engine.multipath.frame.Ping;
import net.hybridproxy.engine.multipath.frame.Pong;
import net.hybridproxy.engine.multipath.frame.RemoveAddr;
import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.engine.multipath.frame.SubflowReset;
import net.hybridproxy.engine.multipath.mib.Mib;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.mib.UplinkSends;
import net.hybridproxy.engine.multipath.pm.PathManager;
import net.hybridproxy.engine.multipath.pm.ProbePolicy;
import net.hybridproxy.engine.multipath.pm.Uplink;
import net.hybridproxy.engine.multipath.reassembly.ReceiveBuffer;
import net.hybridproxy.engine.multipath.reassembly.SendBuffer;
import net.hybridproxy.engine.multipath.sched.Scheduler;
import net.hybridproxy.engine.multipath.sched.Schedulers;
import net.hybridproxy.engine.multipath.sched.SubflowView;
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
 */
public final class Session {

    /** Which end of the session this is. */
    public enum Role { CPE, CONCENTRATOR }

    private enum State { HANDSHAKING, ESTABLISHED, CLOSED }

    /** pollTransmit needs room for at least one full frame. */
    public static final int MIN_TRANSMIT_BUFFER = Frame.MAX_FRAME_LENGTH;

    /** A window update is worth a frame once it opens this much (or the window was nearly shut). */
    private static final int WINDOW_UPDATE_THRESHOLD = 64 * 1024;

    /** Chunks smaller than this are not sent while more data waits: tiny frames waste headers. */
    private static final int MIN_CHUNK = 1024;

    /**
     * Stream ids above the watermark remembered as seen (concentrator); beyond this the cpe is misbehaving (an
     * honest cpe leaves a gap only while a new stream's first frame is in flight). 4096 entries of a TreeSet cost
     * about 230 KB.
     */
    private static final int MAX_SEEN_ABOVE_WATERMARK = 4096;

    /** Windows are resized at most once per this long, or per the slowest subflow's RTT if longer. */
    private static final long MIN_AUTOTUNE_PERIOD = 10_000_000L;

    private final Role role;
    private final SessionConfig config;
    private final RandomGenerator random;
    private final Scheduler scheduler;
    private final ProbePolicy probes;
    private final Mib mib = new Mib();
    private final PathManager pathManager;
    private final CpeKey cpeKey;
    private final MemoryBudget processMemory;
    /** Heap bytes this session holds for its streams, reserved in {@link #processMemory} as well. */
    private long memoryUsed;

    private State state = State.HANDSHAKING;
    /**
     * cpe: the concentrator has sent a frame after CAPABLE_SYNACK, so it has verified our
     * CAPABLE_ACK and knows the session as established. Joins wait for this: a JOIN_SYN racing the
     * CAPABLE_ACK over a faster path would find a session still in its handshake.
     */
    private boolean peerConfirmed;
    private long capableSubflowId = -1;
    private long localKey;
    private long remoteKey;
    /** Keys every MAC after the capable handshake (null before it); see {@link SessionSecret}. */
    private SessionSecret secret;
    private long handshakeDeadline;
    private long orphanedSince = -1;

    private final Map<Long, Subflow> subflows = new LinkedHashMap<>();
    private long nextSubflowId;
    private final Map<Long, Stream> streams = new LinkedHashMap<>();
    private final ArrayDeque<Long> sendOrder = new ArrayDeque<>();
    private long nextStreamId = 1;
    private long streamWatermark = 1;
    private final TreeSet<Long> seenAboveWatermark = new TreeSet<>();
    private long receiveReserved;

    private final ArrayDeque<Frame> sessionControl = new ArrayDeque<>();
    private final ArrayDeque<SessionEvent> events = new ArrayDeque<>();
    private final Map<Integer, AddAddr> announcedByPeer = new LinkedHashMap<>();
    /**
     * Per uplink (a cpe's configured names; on the concentrator {@code address-N}, N one byte): bounded by 256.
     */
    private final Map<String, UplinkSends> sendsByUplink = new LinkedHashMap<>();

    private Session(Role role, SessionConfig config, CpeKey cpeKey, RandomGenerator random, PathManager pathManager,
                    MemoryBudget processMemory, long now) {
        this.role = role;
        this.processMemory = Objects.requireNonNull(processMemory, "processMemory");
        this.config = Objects.requireNonNull(config, "config");
        this.cpeKey = Objects.requireNonNull(cpeKey, "cpeKey");
        this.random = Objects.requireNonNull(random, "random");
        this.scheduler = Schedulers.create(config.scheduler(), config.overflowBudgetBytes(),
                Math.max(1, config.overflowBudgetPeriod().toNanos()));
        this.probes = config.probes();
        this.pathManager = pathManager;
        this.handshakeDeadline = now + config.handshakeTimeout().toNanos();
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
        Session session = new Session(Role.CPE, config, key, random, pm, processMemory, now);
        session.localKey = MptcpCrypto.newKey(random);
        session.handshakeDeadline = Long.MAX_VALUE;
        session.requestSubflows(now);
        return session;
    }

    /**
     * A concentrator's session, created by {@link ConcentratorEndpoint} once a CAPABLE_ACK proved the cpe's key:
     * established from the start, its first subflow attached by {@link #attachSubflow}.
     */
    static Session concentrator(SessionConfig config, CpeKey key, long localKey, long remoteKey, SessionSecret secret,
                                RandomGenerator random, MemoryBudget processMemory, long now) {
        Session session = new Session(Role.CONCENTRATOR, config, key, random, null, processMemory, now);
        session.localKey = localKey;
        session.remoteKey = remoteKey;
        session.secret = Objects.requireNonNull(secret, "secret");
        session.establish(now);
        return session;
    }

    /** The session secret (concentrator: set at creation, never changes; read by the endpoint for joins). */
    SessionSecret secret() {
        return secret;
    }

    private SessionSecret.Sender self() {
        return role == Role.CPE ? SessionSecret.Sender.A : SessionSecret.Sender.B;
    }

    private SessionSecret.Sender peer() {
        return role == Role.CPE ? SessionSecret.Sender.B : SessionSecret.Sender.A;
    }

    private FastClose fastClose(long streamId, ResetReason reason) {
        return new FastClose(streamId, secret.fastCloseMac(self(), streamId, reason.code()), reason);
    }

    public Role role() {
        return role;
    }

    /** This side's 64-bit key. */
    public long localKey() {
        return localKey;
    }

    /** The token that names this session to the peer: the hash of this side's key. */
    public int localToken() {
        return MptcpCrypto.token(localKey);
    }

    /** The id of the cpe key that authenticated (or is authenticating) this session. */
    public String keyId() {
        return cpeKey.id();
    }

    public boolean isEstablished() {
        return state == State.ESTABLISHED;
    }

    public boolean isClosed() {
        return state == State.CLOSED;
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
        if (state == State.CLOSED) {
            return -1;
        }
        int slot = freeSlot();
        if (slot < 0) {
            mib.increment(MibCounter.JOIN_REFUSED_LIMIT);
            return -1;
        }
        long id = nextSubflowId++;
        Subflow subflow = new Subflow(id, slot, addressId, "address-" + addressId, priority, SubflowState.ATTACHED);
        subflows.put(id, subflow);
        orphanedSince = -1;
        attach(subflow, now);
        return id;
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
        startHandshakes(now);
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
        remove(subflow, now);
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
        subflow.received(in.remaining());
        try {
            Frame frame;
            while (subflows.get(subflowId) == subflow && subflow.state() != SubflowState.CLOSING
                    && (frame = subflow.reader().read(in)) != null) {
                onFrame(subflow, frame, now);
            }
        } catch (FrameException e) {
            mib.increment(MibCounter.SUBFLOW_PROTOCOL_ERRORS);
            fail(subflow, e.reason(), e.getMessage(), now);
        }
        in.position(in.limit());
    }

    // ------------------------------------------------------------------ streams

    /**
     * cpe: opens a stream. Bytes written before the session is established wait for it.
     *
     * @return the stream id
     * @throws IllegalStateException if the session is closed or has its maximum of streams
     */
    public long openStream(long now) {
        if (role != Role.CPE) {
            throw new IllegalStateException("only the cpe opens streams");
        }
        if (state == State.CLOSED) {
            throw new IllegalStateException("session is closed");
        }
        if (streams.size() >= config.maxStreams()) {
            mib.increment(MibCounter.STREAMS_REFUSED);
            throw new IllegalStateException("session has its maximum of " + config.maxStreams() + " streams");
        }
        if (!tryCharge(Stream.INITIAL_COST)) {
            mib.increment(MibCounter.STREAMS_REFUSED);
            throw new IllegalStateException("session has no memory left for a stream (" + memoryUsed + " of "
                    + config.sessionMemoryBudget() + " bytes, process " + processMemory.used() + " of "
                    + processMemory.limit() + ")");
        }
        long id = nextStreamId++;
        Stream stream = new Stream(id, config, now);
        stream.charged = Stream.INITIAL_COST;
        receiveReserved += stream.receive.reservedBytes();
        streams.put(id, stream);
        mib.increment(MibCounter.STREAMS_OPENED);
        return id;
    }

    /**
     * Writes stream bytes; returns how many were taken (0 when the send buffer is full: wait for
     * {@code StreamWritable}). Call {@link #pollTransmit} afterwards.
     */
    public int write(long streamId, ByteBuffer src, long now) {
        Stream stream = streams.get(streamId);
        if (stream == null) {
            throw new IllegalStateException("no stream " + streamId);
        }
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
        }
        if (n > 0) {
            scheduleSend(stream);
        }
        return n;
    }

    /** Bytes {@link #write} would take now on this stream. */
    public long writable(long streamId) {
        Stream stream = streams.get(streamId);
        return stream == null ? 0 : stream.send.writableWithin(memoryLeft());
    }

    /** No more bytes on this stream from this side: a DATA_FIN follows the last byte (half-close). */
    public void finish(long streamId, long now) {
        Stream stream = streams.get(streamId);
        if (stream == null) {
            return;
        }
        stream.send.finish();
        scheduleSend(stream);
    }

    /**
     * Reads stream bytes in order.
     *
     * @return bytes read, 0 if none are ready, -1 at the end of the stream (the peer's DATA_FIN)
     */
    public int read(long streamId, ByteBuffer dst, long now) {
        Stream stream = streams.get(streamId);
        if (stream == null) {
            return -1;
        }
        int n = stream.receive.read(dst);
        if (n > 0) {
            receiveReserved -= n;
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

    /** Bytes ready to read on this stream. */
    public long readable(long streamId) {
        Stream stream = streams.get(streamId);
        return stream == null ? 0 : stream.receive.readableBytes();
    }

    /** Closes a stream abruptly (FAST_CLOSE): the client connection was reset. */
    public void reset(long streamId, ResetReason reason, long now) {
        Stream stream = streams.get(streamId);
        if (stream != null) {
            resetStream(stream, reason, now);
        }
    }

    /** The ids of the open streams. */
    public List<Long> streamIds() {
        return List.copyOf(streams.keySet());
    }

    /** Whether the stream is open. */
    public boolean hasStream(long streamId) {
        return streams.containsKey(streamId);
    }

    // ------------------------------------------------------------------ management

    /** Changes a subflow's priority and tells the peer with MP_PRIO. */
    public void setPriority(long subflowId, SubflowPriority priority, long now) {
        Subflow subflow = subflows.get(subflowId);
        if (subflow != null && subflow.state().isAttached()) {
            subflow.priority(priority);
            subflow.queueControl(new MpPrio(priority));
        }
    }

    /**
     * concentrator: announces another address of the concentrator (ADD_ADDR, with a MAC keyed by the session
     * secret). The cpe reports it as {@code AddressAnnounced}; its path manager may join there.
     */
    public void announceAddress(int addressId, InetAddress address, int port, long now) {
        if (secret == null) {
            throw new IllegalStateException("no address can be announced before the session is established");
        }
        queueSessionControl(new AddAddr(addressId, address, port, false,
                secret.addAddrHmac(self(), addressId, address, port)));
    }

    /** concentrator: withdraws addresses announced before (REMOVE_ADDR). */
    public void withdrawAddresses(List<Integer> addressIds, long now) {
        queueSessionControl(new RemoveAddr(addressIds));
    }

    /** Closes the whole session at once (FAST_CLOSE for stream 0); every stream is reset. */
    public void close(ResetReason reason, long now) {
        if (state == State.CLOSED) {
            return;
        }
        Subflow carrier = bestControlSubflow();
        if (carrier != null && state == State.ESTABLISHED) {
            carrier.queueControl(fastClose(FastClose.SESSION, reason));
        }
        terminate("closed locally: " + reason, reason, now);
    }

    /** A view of every subflow, for metrics and logs. */
    public List<SubflowInfo> subflows() {
        List<SubflowInfo> out = new ArrayList<>(subflows.size());
        for (Subflow s : subflows.values()) {
            out.add(new SubflowInfo(s.id(), s.uplink(), s.priority(), s.state(), s.probeRttNanos(), s.bytesSent(),
                    s.bytesReceived(), s.dataBytesSent()));
        }
        return out;
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
        return subflows.containsKey(subflowId);
    }

    /**
     * DATA sent per uplink, by kind, cumulative over the session's life (closed subflows included), for metrics.
     * A live view: read it on the session's thread.
     */
    public Map<String, UplinkSends> sendsByUplink() {
        return Collections.unmodifiableMap(sendsByUplink);
    }

    /** Received bytes held out of order across all streams (waiting for a gap to fill), for metrics. */
    public long reorderBufferedBytes() {
        long held = 0;
        for (Stream stream : streams.values()) {
            held += stream.receive.outOfOrderBytes();
        }
        return held;
    }

    /** Overflow (LTE) bytes the scheduler's budget has counted in its current period, 0 without a budget. */
    public long overflowBudgetUsed(long now) {
        return scheduler.budgetUsed(now);
    }

    // ------------------------------------------------------------------ uplink administration (cpe)

    /**
     * cpe: uses {@code uplink} with {@code priority} from now on: MP_PRIO on its attached subflows (as RFC 8684
     * §3.3.8 changes a subflow's backup flag), and new subflows over it start with it.
     */
    public void setUplinkPriority(String uplink, SubflowPriority priority, long now) {
        requirePathManager().priority(uplink, priority);
        for (Subflow subflow : subflows.values()) {
            if (subflow.uplink().equals(uplink)) {
                if (subflow.state().isAttached()) {
                    setPriority(subflow.id(), priority, now);
                } else {
                    subflow.priority(priority);
                }
            }
        }
    }

    /** cpe: opens no new subflow over {@code uplink} while paused; existing ones carry on. */
    public void setUplinkPaused(String uplink, boolean paused, long now) {
        requirePathManager().paused(uplink, paused);
        if (!paused) {
            requestSubflows(now);
        }
    }

    /**
     * cpe: closes every subflow over {@code uplink} with a SUBFLOW_RESET (administratively prohibited); what they
     * carried unacknowledged is reinjected on the others. Returns how many were closed. Pause the uplink first, or
     * the path manager reopens them after its backoff.
     */
    public int closeUplinkSubflows(String uplink, long now) {
        requirePathManager();
        int closed = 0;
        for (Subflow subflow : List.copyOf(subflows.values())) {
            if (!subflow.uplink().equals(uplink) || subflows.get(subflow.id()) != subflow) {
                continue;
            }
            if (subflow.state() == SubflowState.CONNECTING) {
                // No TCP connection yet: forget it; the adapter closes the connection if it still completes.
                subflow.state(SubflowState.CLOSED);
                subflows.remove(subflow.id());
                closedBookkeeping(subflow, now);
                events.add(new SessionEvent.SubflowClose(subflow.id(), ResetReason.ADMINISTRATIVELY_PROHIBITED,
                        "uplink " + uplink + " disabled"));
            } else {
                fail(subflow, ResetReason.ADMINISTRATIVELY_PROHIBITED, "uplink " + uplink + " disabled", now);
            }
            closed++;
        }
        return closed;
    }

    private PathManager requirePathManager() {
        if (pathManager == null) {
            throw new IllegalStateException("only a cpe's session manages uplinks");
        }
        return pathManager;
    }

    // ------------------------------------------------------------------ output

    /**
     * Writes the next bytes to send into {@code out} (from its position; at least
     * {@link #MIN_TRANSMIT_BUFFER} bytes must remain) and says which subflow they are for.
     * Call repeatedly until it returns null after every other call on this session; write each
     * result to its subflow in order.
     */
    public Transmit pollTransmit(long now, ByteBuffer out) {
        if (out.remaining() < MIN_TRANSMIT_BUFFER) {
            throw new IllegalArgumentException("pollTransmit needs " + MIN_TRANSMIT_BUFFER + " bytes of room, has "
                    + out.remaining());
        }
        Transmit control = transmitSubflowControl(out);
        if (control != null || state != State.ESTABLISHED) {
            return control;
        }
        Subflow carrier = bestControlSubflow();
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
        for (Subflow subflow : subflows.values()) {
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
                    forget(subflow, reset.reason(), "reset sent");
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
        for (Stream stream : streams.values()) {
            if (!stream.ackPending) {
                continue;
            }
            DataAck ack = new DataAck(stream.id, stream.receive.dataAck(), stream.receive.window());
            if (ack.encodedLength() > out.remaining()) {
                break;
            }
            ack.encodeTo(out);
            stream.ackPending = false;
            if (stream.isDone()) {
                // The acknowledgement of the peer's DATA_FIN was all that kept this stream open.
                if (lastAckSent == null) {
                    lastAckSent = new ArrayList<>();
                }
                lastAckSent.add(stream);
            }
        }
        if (lastAckSent != null) {
            lastAckSent.forEach(this::closeIfDone);
        }
    }

    private Transmit transmitted(Subflow subflow, int bytes) {
        subflow.consumed(bytes);
        return new Transmit(subflow.id(), bytes);
    }

    /** New data, reinjections, redundant copies and opportunistic retransmissions, for one subflow. */
    private Transmit transmitData(long now, ByteBuffer out) {
        List<Subflow> usable = new ArrayList<>();
        List<SubflowView> views = new ArrayList<>();
        for (Subflow subflow : subflows.values()) {
            if (subflow.state() == SubflowState.ATTACHED) {
                usable.add(subflow);
                views.add(view(subflow, now));
            }
        }
        if (usable.isEmpty()) {
            return null;
        }
        Transmit copies = transmitRedundantCopies(usable, out);
        if (copies != null) {
            return copies;
        }
        int chosen = -1;
        int start = out.position();
        boolean primaryUsable = views.stream().anyMatch(v -> v.priority() == SubflowPriority.PRIMARY);
        // Bounded: every turn either sends a frame (and out shrinks) or drops a stream from the order.
        for (int guard = 4 * sendOrder.size() + 16; guard > 0; guard--) {
            Long streamId = sendOrder.peekFirst();
            if (streamId == null) {
                break;
            }
            Stream stream = streams.get(streamId);
            if (stream == null || !stream.send.hasSendable()) {
                sendOrder.pollFirst();
                continue;
            }
            long pending = pendingBytes();
            int want = (int) Math.min(Data.MAX_PAYLOAD, Math.max(1, stream.send.hasRetransmission()
                    ? Data.MAX_PAYLOAD : stream.send.newSendable()));
            int frameBytes = Frame.HEADER_LENGTH + Data.FIXED_BODY_LENGTH + Math.min(want, MIN_CHUNK);
            int pick = scheduler.pick(views, frameBytes, pending, now);
            if (pick < 0 || (chosen >= 0 && pick != chosen)) {
                break;
            }
            chosen = pick;
            SubflowView view = views.get(pick);
            Subflow subflow = usable.get(pick);
            int room = (int) Math.min(out.remaining(), view.spaceBytes());
            int maxPayload = Math.min(Data.MAX_PAYLOAD, room - Frame.HEADER_LENGTH - Data.FIXED_BODY_LENGTH);
            if (maxPayload < Math.min(want, MIN_CHUNK)) {
                break;
            }
            SendBuffer.Chunk chunk = stream.send.take(maxPayload, subflow.slot(), now);
            if (chunk == null) {
                sendOrder.pollFirst();
                continue;
            }
            int bytes = writeChunk(stream, chunk, subflow, out,
                    chunk.retransmission() ? UplinkSends.Kind.REINJECTION : UplinkSends.Kind.NEW);
            views.set(pick, view.afterSending(bytes));
            scheduler.sent(view, bytes, primaryUsable, now);
            if (view.priority() == SubflowPriority.OVERFLOW && primaryUsable) {
                mib.add(MibCounter.OVERFLOW_BYTES_SENT, chunk.payload().length);
            }
            if (scheduler.redundant()) {
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
            if (out.remaining() < Frame.MAX_FRAME_LENGTH) {
                break;
            }
        }
        if (chosen >= 0 && out.position() > start) {
            return transmitted(usable.get(chosen), out.position() - start);
        }
        return transmitOpportunistic(usable, views, out, now);
    }

    private Transmit transmitRedundantCopies(List<Subflow> usable, ByteBuffer out) {
        if (!scheduler.redundant()) {
            return null;
        }
        for (Subflow subflow : usable) {
            int start = out.position();
            long[] copy;
            while ((copy = subflow.redundantCopies().peekFirst()) != null && subflow.spaceLeft() - (out.position() - start)
                    > Frame.HEADER_LENGTH + Data.FIXED_BODY_LENGTH + MIN_CHUNK
                    && out.remaining() >= Frame.MAX_FRAME_LENGTH) {
                subflow.redundantCopies().pollFirst();
                Stream stream = streams.get(copy[0]);
                SendBuffer.Chunk chunk = stream == null ? null : stream.send.copyOf(copy[1], subflow.slot());
                if (chunk != null) {
                    writeChunk(stream, chunk, subflow, out, UplinkSends.Kind.REDUNDANT);
                    mib.add(MibCounter.REDUNDANT_BYTES, chunk.payload().length);
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
        for (Stream stream : streams.values()) {
            if (!stream.send.blockedByWindow()) {
                continue;
            }
            long carriers = stream.send.headSubflows();
            int fastest = -1;
            for (int i = 0; i < views.size(); i++) {
                SubflowView v = views.get(i);
                if (v.fits(Frame.MAX_FRAME_LENGTH) && (carriers & (1L << v.slot())) == 0
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
            mib.increment(MibCounter.OPPORTUNISTIC_RETRANSMITS);
            for (Subflow slow : usable) {
                if ((carriers & (1L << slow.slot())) != 0 && slow.penalisedUntil() <= now) {
                    slow.penalisedUntil(now + slow.srttNanos(probes.minStall()));
                    mib.increment(MibCounter.PENALISATIONS);
                }
            }
            int start = out.position();
            writeChunk(stream, chunk, subflow, out, UplinkSends.Kind.OPPORTUNISTIC);
            return transmitted(subflow, out.position() - start);
        }
        return null;
    }

    private boolean slowerCarriers(long carriers, long candidateRtt, List<Subflow> usable, long now) {
        boolean any = false;
        for (Subflow s : subflows.values()) {
            if ((carriers & (1L << s.slot())) != 0) {
                any = true;
                if (s.state() == SubflowState.ATTACHED && s.srttNanos(probes.minStall()) <= candidateRtt) {
                    return false;
                }
            }
        }
        return any;
    }

    private int writeChunk(Stream stream, SendBuffer.Chunk chunk, Subflow subflow, ByteBuffer out,
                           UplinkSends.Kind kind) {
        Data frame = new Data(stream.id, chunk.dsn(), chunk.fin(), chunk.payload());
        frame.encodeTo(out);
        syncMemory(stream); // a new segment in flight
        subflow.dataSent(chunk.payload().length);
        sendsByUplink.computeIfAbsent(subflow.uplink(), u -> new UplinkSends()).record(kind, chunk.payload().length);
        mib.add(MibCounter.DATA_BYTES_SENT, chunk.payload().length);
        return frame.encodedLength();
    }

    private SubflowView view(Subflow subflow, long now) {
        SubflowEstimates e = subflow.estimates();
        long space = subflow.spaceLeft();
        boolean penalised = subflow.penalisedUntil() > now;
        if (penalised) {
            space /= 2;
        }
        return new SubflowView(subflow.id(), subflow.slot(), subflow.priority(), subflow.srttNanos(probes.minStall()),
                subflow.probeRttVarNanos(), e.cwndBytes(), e.inflightBytes(), e.notSentBytes(), space, penalised);
    }

    private long pendingBytes() {
        long pending = 0;
        for (Stream stream : streams.values()) {
            pending += stream.send.newSendable();
        }
        return pending;
    }

    /** The attached subflow with the lowest RTT: session-level control frames (DATA_ACK) go there. */
    private Subflow bestControlSubflow() {
        Subflow best = null;
        for (Subflow s : subflows.values()) {
            if (s.state() == SubflowState.ATTACHED
                    && (best == null || s.srttNanos(probes.minStall()) < best.srttNanos(probes.minStall()))) {
                best = s;
            }
        }
        if (best == null) {
            for (Subflow s : subflows.values()) {
                if (s.state() == SubflowState.STALLED) {
                    return s;
                }
            }
        }
        return best;
    }

    private void scheduleSend(Stream stream) {
        if (!sendOrder.contains(stream.id)) {
            sendOrder.addLast(stream.id);
        }
    }

    private void queueSessionControl(Frame frame) {
        // Bounded: one FAST_CLOSE per stream and a handful of address frames at most.
        if (sessionControl.size() < config.maxStreams() + 64) {
            sessionControl.addLast(frame);
        }
    }

    // ------------------------------------------------------------------ timers and events

    /**
     * The next time {@link #handleTimeout} must be called, or {@code Long.MAX_VALUE} for never.
     * Ask again after every call on this session.
     */
    public long pollTimeout() {
        if (state == State.CLOSED) {
            return Long.MAX_VALUE;
        }
        long next = handshakeDeadline;
        if (pathManager != null) {
            next = Math.min(next, pathManager.nextTimeout());
        }
        if (orphanedSince >= 0) {
            next = Math.min(next, orphanedSince + config.orphanTimeout().toNanos());
        }
        for (Subflow s : subflows.values()) {
            if (!s.state().isAttached()) {
                continue;
            }
            if (s.probeOutstanding()) {
                next = Math.min(next, s.state() == SubflowState.STALLED
                        ? s.stalledSince() + probes.closeAfter()
                        : s.probeSentAt() + probes.stallTimeout(s.probeRttNanos(), s.probeRttVarNanos()));
            } else {
                next = Math.min(next, s.nextProbeAt());
            }
        }
        return next;
    }

    /** Runs every timer due at {@code now}. Call {@link #pollTransmit} afterwards. */
    public void handleTimeout(long now) {
        if (state == State.CLOSED) {
            return;
        }
        if (now >= handshakeDeadline && state == State.HANDSHAKING) {
            terminate("capable handshake not completed within " + config.handshakeTimeout(),
                    ResetReason.PROTOCOL_ERROR, now);
            return;
        }
        if (orphanedSince >= 0 && now >= orphanedSince + config.orphanTimeout().toNanos()) {
            terminate("no subflow for " + config.orphanTimeout(), ResetReason.UNSPECIFIED, now);
            return;
        }
        for (Subflow s : List.copyOf(subflows.values())) {
            if (!s.state().isAttached() || subflows.get(s.id()) != s) {
                continue;
            }
            if (s.probeOutstanding()) {
                if (s.state() == SubflowState.STALLED) {
                    if (now >= s.stalledSince() + probes.closeAfter()) {
                        mib.increment(MibCounter.SUBFLOW_STALL_CLOSES);
                        fail(s, ResetReason.UNACCEPTABLE_PERFORMANCE,
                                "stalled for " + probes.closeAfter() / 1_000_000 + " ms", now);
                    }
                } else if (now >= s.probeSentAt() + probes.stallTimeout(s.probeRttNanos(), s.probeRttVarNanos())) {
                    stall(s, now);
                }
            } else if (now >= s.nextProbeAt()) {
                long value = random.nextLong();
                if (s.queueControl(new Ping(value))) {
                    s.probeSent(value, now);
                }
            }
        }
        requestSubflows(now);
    }

    /** The next event, or null. Drain after every call on this session. */
    public SessionEvent pollEvent() {
        return events.pollFirst();
    }

    // ------------------------------------------------------------------ frames

    private void onFrame(Subflow subflow, Frame frame, long now) throws FrameException {
        if (role == Role.CPE && !peerConfirmed && subflow.id() == capableSubflowId && !(frame instanceof CapableSynAck)) {
            peerConfirmed = true;
            startHandshakes(now);
        }
        switch (frame) {
            case CapableSynAck synAck -> onCapableSynAck(subflow, synAck, now);
            case JoinSynAck synAck -> onJoinSynAck(subflow, synAck, now);
            case SubflowReset reset -> {
                mib.increment(MibCounter.SUBFLOW_RESETS_RECEIVED);
                if (subflow.state() == SubflowState.JOIN_SENT && !reset.transientError()
                        && reset.reason() == ResetReason.PROTOCOL_ERROR) {
                    // The concentrator no longer knows our token: it restarted or dropped us.
                    terminate("concentrator refused a join permanently; the session is gone",
                            ResetReason.PROTOCOL_ERROR, now);
                    return;
                }
                forget(subflow, reset.reason(), "peer reset the subflow (" + reset.reason() + ")");
                closedBookkeeping(subflow, now);
            }
            case Ping ping -> {
                requireAttached(subflow, frame);
                subflow.queueControl(new Pong(ping.value()));
            }
            case Pong pong -> onPong(subflow, pong, now);
            case MpPrio prio -> {
                requireAttached(subflow, frame);
                mib.increment(MibCounter.MP_PRIO_RECEIVED);
                subflow.priority(prio.priority());
            }
            case Data data -> {
                requireAttached(subflow, frame);
                onData(data, now);
            }
            case DataAck ack -> {
                requireAttached(subflow, frame);
                onDataAck(ack, now);
            }
            case FastClose fastClose -> {
                requireAttached(subflow, frame);
                onFastClose(fastClose, now);
            }
            case AddAddr addAddr -> {
                requireAttached(subflow, frame);
                onAddAddr(addAddr);
            }
            case RemoveAddr removeAddr -> {
                requireAttached(subflow, frame);
                mib.increment(MibCounter.REMOVE_ADDR_RECEIVED);
                for (int id : removeAddr.addressIds()) {
                    if (announcedByPeer.remove(id) != null) {
                        events.add(new SessionEvent.AddressWithdrawn(id));
                    }
                }
            }
            // The endpoint runs the concentrator's side of both handshakes; none of these belongs on a session.
            case CapableSyn syn -> throw unexpected(subflow, frame);
            case JoinSyn syn -> throw unexpected(subflow, frame);
            case CapableAck ack -> throw unexpected(subflow, frame);
            case JoinAck ack -> throw unexpected(subflow, frame);
        }
    }

    private static FrameException unexpected(Subflow subflow, Frame frame) {
        return new FrameException(FrameCodec.name(frame.type()) + " on subflow " + subflow.id() + " in state "
                + subflow.state());
    }

    private void requireAttached(Subflow subflow, Frame frame) throws FrameException {
        if (!subflow.state().isAttached()) {
            throw unexpected(subflow, frame);
        }
    }

    private void onCapableSynAck(Subflow subflow, CapableSynAck synAck, long now) throws FrameException {
        if (role != Role.CPE || subflow.state() != SubflowState.CAPABLE_SENT) {
            throw unexpected(subflow, synAck);
        }
        if (synAck.version() != CapableSyn.VERSION) {
            throw new FrameException("concentrator chose version " + synAck.version() + "; this cpe speaks "
                    + CapableSyn.VERSION);
        }
        byte[] expected = CapableProof.concentrator(cpeKey, CapableSyn.VERSION, localKey, synAck.key());
        if (!MptcpCrypto.macEquals(expected, synAck.proof())) {
            mib.increment(MibCounter.CAPABLE_PROOF_FAILED);
            throw new FrameException(ResetReason.ADMINISTRATIVELY_PROHIBITED,
                    "concentrator's proof does not verify with key '" + cpeKey.id() + "'");
        }
        remoteKey = synAck.key();
        secret = SessionSecret.derive(cpeKey, CapableSyn.VERSION, localKey, remoteKey);
        subflow.queueControl(new CapableAck(localKey, remoteKey,
                CapableProof.cpe(cpeKey, CapableSyn.VERSION, localKey, remoteKey)));
        establish(now);
        attach(subflow, now);
        startHandshakes(now);
    }

    private void onJoinSynAck(Subflow subflow, JoinSynAck synAck, long now) throws FrameException {
        if (role != Role.CPE || subflow.state() != SubflowState.JOIN_SENT) {
            throw unexpected(subflow, synAck);
        }
        long expected = secret.joinSynAckHmac(synAck.nonce(), subflow.localNonce());
        if (expected != synAck.truncatedHmac()) {
            // The concentrator answers a token it does not know (it restarted, or dropped this session) exactly as
            // a known one, with a MAC it cannot make: the session is gone there, and a new one must start.
            mib.increment(MibCounter.JOIN_HMAC_FAILED);
            fail(subflow, ResetReason.ADMINISTRATIVELY_PROHIBITED, "JOIN_SYNACK HMAC does not verify", now);
            terminate("the concentrator does not know this session (JOIN_SYNACK HMAC does not verify)",
                    ResetReason.PROTOCOL_ERROR, now);
            return;
        }
        subflow.remoteNonce(synAck.nonce());
        subflow.queueControl(new JoinAck(secret.joinAckHmac(subflow.localNonce(), synAck.nonce())));
        attach(subflow, now);
    }

    private void onPong(Subflow subflow, Pong pong, long now) throws FrameException {
        requireAttached(subflow, pong);
        if (!subflow.probeOutstanding() || pong.value() != subflow.probeValue()) {
            return;
        }
        subflow.probeAnswered(now);
        subflow.nextProbeAt(now + probeInterval());
        if (subflow.state() == SubflowState.STALLED) {
            subflow.state(SubflowState.ATTACHED);
            subflow.stalledSince(-1);
            mib.increment(MibCounter.SUBFLOW_RECOVERIES);
            events.add(new SessionEvent.SubflowRecovered(subflow.id(), subflow.uplink()));
        }
    }

    private void onData(Data data, long now) {
        Stream stream = streams.get(data.streamId());
        if (stream == null) {
            stream = acceptStream(data.streamId(), now);
            if (stream == null) {
                return;
            }
        }
        ReceiveBuffer.Received received;
        try {
            received = stream.receive.receive(data.dsn(), data.payload(), data.fin());
        } catch (IllegalStateException e) {
            resetStream(stream, ResetReason.PROTOCOL_ERROR, now);
            return;
        }
        mib.add(MibCounter.DUPLICATE_BYTES_RECEIVED, received.duplicateBytes());
        mib.add(MibCounter.BEYOND_WINDOW_BYTES_RECEIVED, received.beyondWindowBytes());
        if (!syncMemory(stream)) {
            // The peer's frames cost more heap than the window it was given (one-byte pieces out of order) and the
            // budget has no room for the difference: this stream is reset, the session and its other streams go on.
            mib.increment(MibCounter.STREAMS_RESET_MEMORY);
            resetStream(stream, ResetReason.LACK_OF_RESOURCES, now);
            return;
        }
        // Acknowledge every frame, duplicates too: a duplicate may mean our DATA_ACK was lost with
        // a subflow, and the sender holds the data until it hears one.
        stream.ackPending = true;
        if ((received.newBytes() > 0 || received.finNew()) && !stream.readableSignalled
                && (stream.receive.readableBytes() > 0 || stream.receive.finReceived())) {
            stream.readableSignalled = true;
            events.add(new SessionEvent.StreamReadable(stream.id));
        }
        closeIfDone(stream);
    }

    private Stream acceptStream(long id, long now) {
        if (role != Role.CONCENTRATOR || id < streamWatermark || seenAboveWatermark.contains(id)) {
            return null; // a late frame for a stream that is gone
        }
        if (seenAboveWatermark.size() >= MAX_SEEN_ABOVE_WATERMARK) {
            mib.increment(MibCounter.STREAMS_REFUSED);
            queueSessionControl(fastClose(id, ResetReason.LACK_OF_RESOURCES));
            return null;
        }
        markSeen(id);
        if (streams.size() >= config.maxStreams()
                || receiveReserved + Stream.INITIAL_WINDOW > config.sessionReceiveBudget()
                || !tryCharge(Stream.INITIAL_COST)) {
            mib.increment(MibCounter.STREAMS_REFUSED);
            queueSessionControl(fastClose(id, ResetReason.LACK_OF_RESOURCES));
            return null;
        }
        Stream stream = new Stream(id, config, now);
        stream.charged = Stream.INITIAL_COST;
        receiveReserved += stream.receive.reservedBytes();
        streams.put(id, stream);
        mib.increment(MibCounter.STREAMS_OPENED);
        events.add(new SessionEvent.StreamOpened(id));
        return stream;
    }

    private void markSeen(long id) {
        seenAboveWatermark.add(id);
        while (seenAboveWatermark.remove(streamWatermark)) {
            streamWatermark++;
        }
    }

    private void onDataAck(DataAck ack, long now) {
        Stream stream = streams.get(ack.streamId());
        if (stream == null) {
            return;
        }
        long acked;
        try {
            acked = stream.send.onDataAck(ack.dataAck(), ack.window());
        } catch (IllegalStateException e) {
            resetStream(stream, ResetReason.PROTOCOL_ERROR, now);
            return;
        }
        if (acked > 0) {
            autotuneSend(stream, acked, now);
            stream.send.trim();
            syncMemory(stream);
        }
        if (stream.send.hasSendable()) {
            scheduleSend(stream);
        }
        if (stream.writeBlocked && stream.send.freeBytes() > 0) {
            stream.writeBlocked = false;
            events.add(new SessionEvent.StreamWritable(stream.id));
        }
        closeIfDone(stream);
    }

    private void onFastClose(FastClose fastClose, long now) {
        // RFC 8684 §3.5's MP_FASTCLOSE carries the receiver's key; version 2 carries a MAC instead (FastClose).
        if (fastClose.mac() != secret.fastCloseMac(peer(), fastClose.streamId(), fastClose.reason().code())) {
            mib.increment(MibCounter.FAST_CLOSE_BAD_KEY);
            return;
        }
        if (fastClose.streamId() == FastClose.SESSION) {
            terminate("peer closed the session (" + fastClose.reason() + ")", fastClose.reason(), now);
            return;
        }
        Stream stream = streams.get(fastClose.streamId());
        if (stream == null) {
            // Remembered like a stream seen, within the same bound: FAST_CLOSEs for ever new ids cannot grow it.
            if (role == Role.CONCENTRATOR && fastClose.streamId() >= streamWatermark
                    && seenAboveWatermark.size() < MAX_SEEN_ABOVE_WATERMARK) {
                markSeen(fastClose.streamId());
            }
            return;
        }
        drop(stream);
        mib.increment(MibCounter.STREAMS_RESET);
        events.add(new SessionEvent.StreamReset(stream.id, fastClose.reason(), true));
    }

    private void onAddAddr(AddAddr addAddr) {
        if (addAddr.echo()) {
            return;
        }
        long expected = secret.addAddrHmac(peer(), addAddr.addressId(), addAddr.address(), addAddr.port());
        if (expected != addAddr.truncatedHmac()) {
            mib.increment(MibCounter.ADD_ADDR_BAD_HMAC);
            return;
        }
        mib.increment(MibCounter.ADD_ADDR_ACCEPTED);
        if (announcedByPeer.size() < 255 || announcedByPeer.containsKey(addAddr.addressId())) {
            announcedByPeer.put(addAddr.addressId(), addAddr);
        }
        queueSessionControl(addAddr.echoed());
        events.add(new SessionEvent.AddressAnnounced(addAddr.addressId(), addAddr.address(), addAddr.port()));
    }

    // ------------------------------------------------------------------ state changes

    private void establish(long now) {
        if (state != State.HANDSHAKING) {
            return;
        }
        state = State.ESTABLISHED;
        handshakeDeadline = Long.MAX_VALUE;
        mib.increment(MibCounter.SESSIONS_ESTABLISHED);
        events.add(new SessionEvent.Established());
        for (Stream stream : streams.values()) {
            if (stream.send.hasSendable()) {
                scheduleSend(stream);
            }
        }
    }

    private void attach(Subflow subflow, long now) {
        subflow.state(SubflowState.ATTACHED);
        subflow.attachedAt(now);
        subflow.nextProbeAt(now);
        if (role == Role.CONCENTRATOR) {
            // The first probe goes out at once: on the initial subflow it is the frame that tells
            // the cpe its CAPABLE_ACK verified, and that it may join (docs/userspace-protocol.md §4.2).
            long value = random.nextLong();
            subflow.queueControl(new Ping(value));
            subflow.probeSent(value, now);
        }
        mib.increment(MibCounter.SUBFLOWS_ATTACHED);
        events.add(new SessionEvent.SubflowAttached(subflow.id(), subflow.uplink()));
    }

    /** cpe: sends CAPABLE_SYN on one waiting subflow if no session exists, JOIN_SYN on all once it does. */
    private void startHandshakes(long now) {
        if (role != Role.CPE) {
            return;
        }
        boolean capableInProgress = subflows.values().stream().anyMatch(s -> s.state() == SubflowState.CAPABLE_SENT);
        for (Subflow subflow : subflows.values()) {
            if (subflow.state() != SubflowState.WAITING_FOR_SESSION) {
                continue;
            }
            if (state == State.ESTABLISHED) {
                if (!peerConfirmed) {
                    continue;
                }
                subflow.localNonce(random.nextInt());
                subflow.queueControl(new JoinSyn(CapableSyn.VERSION, subflow.priority(), subflow.addressId(),
                        MptcpCrypto.token(remoteKey), subflow.localNonce()));
                subflow.state(SubflowState.JOIN_SENT);
            } else if (!capableInProgress) {
                subflow.queueControl(new CapableSyn(CapableSyn.VERSION, subflow.priority(), localKey, cpeKey.id()));
                subflow.state(SubflowState.CAPABLE_SENT);
                capableSubflowId = subflow.id();
                capableInProgress = true;
            }
        }
    }

    private void requestSubflows(long now) {
        if (pathManager == null || state == State.CLOSED) {
            return;
        }
        for (Uplink uplink : pathManager.due(now)) {
            int slot = freeSlot();
            if (slot < 0) {
                return;
            }
            long id = nextSubflowId++;
            Subflow subflow = new Subflow(id, slot, uplink.addressId(), uplink.name(),
                    pathManager.priority(uplink.name()), SubflowState.CONNECTING);
            subflow.nextProbeAt(Long.MAX_VALUE);
            subflows.put(id, subflow);
            pathManager.opening(uplink.name());
            events.add(new SessionEvent.SubflowRequested(id, uplink.name(), null, 0));
        }
    }

    private void stall(Subflow subflow, long now) {
        subflow.state(SubflowState.STALLED);
        subflow.stalledSince(now);
        mib.increment(MibCounter.SUBFLOW_STALLS);
        events.add(new SessionEvent.SubflowStalled(subflow.id(), subflow.uplink()));
        reinject(subflow);
    }

    /** Queues what {@code failed} carried and nobody else did for sending on the other subflows. */
    private void reinject(Subflow failed) {
        long live = 0;
        for (Subflow s : subflows.values()) {
            if (s != failed && s.state() == SubflowState.ATTACHED) {
                live |= 1L << s.slot();
            }
        }
        for (Stream stream : streams.values()) {
            long queued = stream.send.reinject(failed.slot(), live);
            if (queued > 0) {
                mib.add(MibCounter.REINJECTED_BYTES, queued);
                scheduleSend(stream);
            }
        }
        failed.redundantCopies().clear();
    }

    /** Closes a subflow because of what it carried or did: a SUBFLOW_RESET goes out first. */
    private void fail(Subflow subflow, ResetReason reason, String why, long now) {
        if (subflow.state() == SubflowState.CLOSING || subflow.state() == SubflowState.CLOSED) {
            return;
        }
        reinject(subflow);
        subflow.control().clear();
        subflow.queueControl(new SubflowReset(reason, reason != ResetReason.ADMINISTRATIVELY_PROHIBITED
                && reason != ResetReason.PROTOCOL_ERROR));
        subflow.state(SubflowState.CLOSING);
        subflow.redundantCopies().clear();
        subflow.closeReason(reason, why);
        closedBookkeeping(subflow, now);
    }

    /** The adapter reported the TCP connection gone. */
    private void remove(Subflow subflow, long now) {
        if (subflow.state() != SubflowState.CLOSED) {
            reinject(subflow);
            subflow.state(SubflowState.CLOSED);
            subflows.remove(subflow.id());
            closedBookkeeping(subflow, now);
        }
        subflows.remove(subflow.id());
    }

    /** Forgets a subflow whose reset frame was written or received, and tells the adapter to close it. */
    private void forget(Subflow subflow, ResetReason reason, String why) {
        if (subflow.state() != SubflowState.CLOSING) {
            reinject(subflow);
        }
        subflow.state(SubflowState.CLOSED);
        subflows.remove(subflow.id());
        events.add(new SessionEvent.SubflowClose(subflow.id(), reason,
                subflow.closeWhy() != null ? subflow.closeWhy() : why));
    }

    /** Path manager and orphan bookkeeping after a subflow is gone or going. */
    private void closedBookkeeping(Subflow subflow, long now) {
        if (subflow.bookkept()) {
            return;
        }
        subflow.markBookkept();
        if (pathManager != null) {
            long attachedFor = subflow.attachedAt() >= 0 ? now - subflow.attachedAt() : -1;
            pathManager.closed(subflow.uplink(), attachedFor, now);
        }
        boolean anyLeft = subflows.values().stream().anyMatch(s -> s != subflow && s.state().isAttached());
        if (role == Role.CONCENTRATOR && !anyLeft && state == State.ESTABLISHED) {
            orphanedSince = now;
        }
        if (role == Role.CPE) {
            startHandshakes(now);
        }
    }

    private void terminate(String reason, ResetReason resetReason, long now) {
        if (state == State.CLOSED) {
            return;
        }
        state = State.CLOSED;
        for (Stream stream : List.copyOf(streams.values())) {
            drop(stream);
            events.add(new SessionEvent.StreamReset(stream.id, resetReason, false));
        }
        for (Subflow subflow : List.copyOf(subflows.values())) {
            if (subflow.state() == SubflowState.CLOSING) {
                continue; // its reset is already queued
            }
            if (subflow.control().isEmpty() || subflow.state() == SubflowState.CONNECTING) {
                subflow.state(SubflowState.CLOSED);
                subflows.remove(subflow.id());
                events.add(new SessionEvent.SubflowClose(subflow.id(), resetReason, reason));
            } else {
                // Let the FAST_CLOSE or reset already queued go out; then the adapter closes it.
                subflow.queueControl(new SubflowReset(resetReason, false));
                subflow.state(SubflowState.CLOSING);
            }
        }
        events.add(new SessionEvent.SessionClosed(reason));
    }

    private void resetStream(Stream stream, ResetReason reason, long now) {
        queueSessionControl(fastClose(stream.id, reason));
        drop(stream);
        mib.increment(MibCounter.STREAMS_RESET);
        events.add(new SessionEvent.StreamReset(stream.id, reason, false));
    }

    private void drop(Stream stream) {
        if (stream.closed) {
            return;
        }
        stream.closed = true;
        release(stream.charged);
        stream.charged = 0;
        receiveReserved -= stream.receive.reservedBytes();
        streams.remove(stream.id);
        sendOrder.remove(stream.id);
        for (Subflow s : subflows.values()) {
            s.redundantCopies().removeIf(copy -> copy[0] == stream.id);
        }
    }

    private void closeIfDone(Stream stream) {
        if (!stream.closed && stream.isDone() && !stream.ackPending) {
            drop(stream);
            events.add(new SessionEvent.StreamClosed(stream.id));
        }
    }

    private void maybeOpenWindow(Stream stream) {
        long deficit = stream.receive.windowDeficit();
        long window = stream.receive.window();
        if (deficit < WINDOW_UPDATE_THRESHOLD && window >= WINDOW_UPDATE_THRESHOLD) {
            return;
        }
        long grant = Math.min(Math.min(deficit, config.sessionReceiveBudget() - receiveReserved), memoryLeft());
        long moved = stream.receive.openWindow(grant);
        if (moved > 0) {
            receiveReserved += moved;
            stream.ackPending = true;
        }
    }

    // ------------------------------------------------------------------ memory

    /**
     * Charges or releases the difference between what {@code stream} holds now and what it was charged: its send
     * buffer's heap, and on the receive side the larger of what its buffer holds and the window it was granted
     * beyond the initial one. Growth of a send buffer and window grants were limited to {@link #memoryLeft()}
     * beforehand, so they are charged unconditionally. The initial window (a protocol constant every stream gets)
     * is charged only as data fills it, and what received frames cost only if it fits.
     *
     * @return false if received data did not fit (the caller resets the stream)
     */
    private boolean syncMemory(Stream stream) {
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

    /** Heap bytes this session may still take: the smaller of its own budget's and the process's remainder. */
    private long memoryLeft() {
        return Math.max(0, Math.min(config.sessionMemoryBudget() - memoryUsed, processMemory.available()));
    }

    /** Concentrator: stream ids remembered above the watermark (bounded), for diagnostics and tests. */
    public int rememberedStreamIds() {
        return seenAboveWatermark.size();
    }

    /** Heap bytes this session's streams hold (buffers and their overhead), as counted against the budgets. */
    public long memoryUsed() {
        return memoryUsed;
    }

    /**
     * Receive-space autotuning, the shape of Linux's {@code tcp_rcv_space_adjust()}: once per measurement period
     * (the slowest attached subflow's RTT, which also spans the reordering between paths), if the application
     * read more than half the stream's receive limit, the limit grows to twice what it read. Grows only, up to
     * {@code streamReceiveWindow}; the window then opens as far as the memory budgets allow.
     */
    private void autotuneReceive(Stream stream, int read, long now) {
        stream.readInPeriod += read;
        if (now - stream.receivePeriodStart >= autotunePeriod()) {
            stream.receive.limit(2 * stream.readInPeriod);
            stream.receivePeriodStart = now;
            stream.readInPeriod = 0;
        }
    }

    /** The same for the send buffer, from what the peer acknowledged per period. */
    private void autotuneSend(Stream stream, long acked, long now) {
        stream.ackedInPeriod += acked;
        if (now - stream.sendPeriodStart >= autotunePeriod()) {
            stream.send.limit(2 * stream.ackedInPeriod);
            stream.sendPeriodStart = now;
            stream.ackedInPeriod = 0;
        }
    }

    private long autotunePeriod() {
        long slowest = MIN_AUTOTUNE_PERIOD;
        for (Subflow s : subflows.values()) {
            if (s.state() == SubflowState.ATTACHED) {
                slowest = Math.max(slowest, s.srttNanos(probes.minStall()));
            }
        }
        return slowest;
    }

    private long probeInterval() {
        return streams.isEmpty() ? probes.idleInterval() : probes.activeInterval();
    }

    private int freeSlot() {
        if (subflows.size() >= config.maxSubflows()) {
            return -1;
        }
        long used = 0;
        for (Subflow s : subflows.values()) {
            used |= 1L << s.slot();
        }
        for (int slot = 0; slot < 64; slot++) {
            if ((used & (1L << slot)) == 0) {
                return slot;
            }
        }
        return -1;
    }

    @Override
    public String toString() {
        return "Session[" + role + " key=" + cpeKey.id() + " token=" + Integer.toHexString(localToken()) + " " + state
                + " subflows=" + subflows.size() + " streams=" + streams.size() + "]";
    }

    /** For tests and diagnostics: the internal subflow objects. */
    Iterator<Subflow> subflowIterator() {
        return subflows.values().iterator();
    }
}
