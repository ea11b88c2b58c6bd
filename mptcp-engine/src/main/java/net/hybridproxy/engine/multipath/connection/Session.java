package net.hybridproxy.engine.multipath.connection;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.random.RandomGenerator;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.multipath.connection.TimerTable.Timer;
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
 * handshakes, the MACs) and {@link TimerTable}. Here: subflow lifecycle, frame dispatch, probes and stalls,
 * addresses (ADD_ADDR, REMOVE_ADDR), uplink administration and the session's own state.
 */
public final class Session {

    /** Which end of the session this is. */
    public enum Role { CPE, CONCENTRATOR }

    private enum State { HANDSHAKING, ESTABLISHED, CLOSED }

    /** pollTransmit needs room for at least one full frame. */
    public static final int MIN_TRANSMIT_BUFFER = Frame.MAX_FRAME_LENGTH;

    private final Role role;
    final SessionConfig config;
    private final RandomGenerator random;
    final ProbePolicy probes;
    private final Mib mib = new Mib();
    private final PathManager pathManager;
    final Handshake handshake;
    final StreamTable streams;
    final TransmitAssembly transmit;
    private final TimerTable timers = new TimerTable();

    private State state = State.HANDSHAKING;
    final Map<Long, Subflow> subflows = new LinkedHashMap<>();
    private long nextSubflowId;
    final ArrayDeque<SessionEvent> events = new ArrayDeque<>();
    private final Map<Integer, AddAddr> announcedByPeer = new LinkedHashMap<>();

    private Session(Role role, SessionConfig config, CpeKey cpeKey, RandomGenerator random, PathManager pathManager,
                    MemoryBudget processMemory) {
        this.role = role;
        this.config = Objects.requireNonNull(config, "config");
        this.random = Objects.requireNonNull(random, "random");
        this.probes = config.probes();
        this.pathManager = pathManager;
        this.handshake = new Handshake(this, Objects.requireNonNull(cpeKey, "cpeKey"), mib, random);
        this.streams = new StreamTable(this, config, mib, Objects.requireNonNull(processMemory, "processMemory"));
        this.transmit = new TransmitAssembly(this, streams, config);
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
        Session session = new Session(Role.CPE, config, key, random, pm, processMemory);
        session.handshake.newLocalKey();
        session.requestSubflows(now);
        return session;
    }

    /**
     * A concentrator's session, created by {@link ConcentratorEndpoint} once a CAPABLE_ACK proved the cpe's key:
     * established from the start, its first subflow attached by {@link #attachSubflow}.
     */
    static Session concentrator(SessionConfig config, CpeKey key, long localKey, long remoteKey, SessionSecret secret,
                                RandomGenerator random, MemoryBudget processMemory, long now) {
        Session session = new Session(Role.CONCENTRATOR, config, key, random, null, processMemory);
        session.handshake.completed(localKey, remoteKey, Objects.requireNonNull(secret, "secret"));
        session.establish(now);
        return session;
    }

    /** The session secret (concentrator: set at creation, never changes; read by the endpoint for joins). */
    SessionSecret secret() {
        return handshake.secret();
    }

    public Role role() {
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
        timers.stop(Timer.ORPHAN);
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
        handshake.start(subflows.values());
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
        if (subflow.state() != SubflowState.CLOSED) {
            reinject(subflow);
            subflow.state(SubflowState.CLOSED);
            subflows.remove(subflow.id());
            closedBookkeeping(subflow, now);
        }
        subflows.remove(subflow.id());
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

    // ------------------------------------------------------------------ streams (StreamTable holds them)

    /**
     * cpe: opens a stream. Bytes written before the session is established wait for it.
     *
     * @return the stream id
     * @throws IllegalStateException if the session is closed, has its maximum of streams or no memory left
     */
    public long openStream(long now) {
        if (role != Role.CPE) {
            throw new IllegalStateException("only the cpe opens streams");
        }
        if (state == State.CLOSED) {
            throw new IllegalStateException("session is closed");
        }
        return streams.open(now);
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
        return streams.write(stream, src);
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

    /** Changes a subflow's priority and tells the peer with MP_PRIO. */
    public void setPriority(long subflowId, SubflowPriority priority, long now) {
        Subflow subflow = subflows.get(subflowId);
        if (subflow != null && subflow.state().isAttached()) {
            subflow.priority(priority);
            subflow.queueControl(new MpPrio(priority));
        }
    }

    /** Closes the whole session at once (FAST_CLOSE for stream 0); every stream is reset. */
    public void close(ResetReason reason, long now) {
        if (state == State.CLOSED) {
            return;
        }
        Subflow carrier = transmit.bestControlSubflow();
        if (carrier != null && state == State.ESTABLISHED) {
            carrier.queueControl(handshake.fastClose(FastClose.SESSION, reason));
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
        return transmit.sendsByUplink();
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
        if (handshake.secret() == null) {
            throw new IllegalStateException("no address can be announced before the session is established");
        }
        transmit.queueSessionControl(new AddAddr(addressId, address, port, false,
                handshake.addAddrHmac(addressId, address, port)));
    }

    /** concentrator: withdraws addresses announced before (REMOVE_ADDR). */
    public void withdrawAddresses(List<Integer> addressIds, long now) {
        transmit.queueSessionControl(new RemoveAddr(addressIds));
    }

    /** An ADD_ADDR from the peer: verified, remembered (at most 255), echoed and reported as AddressAnnounced. */
    private void onAddAddr(AddAddr addAddr) {
        if (addAddr.echo()) {
            return;
        }
        if (!handshake.verifiesAddAddr(addAddr.addressId(), addAddr.address(), addAddr.port(),
                addAddr.truncatedHmac())) {
            mib.increment(MibCounter.ADD_ADDR_BAD_HMAC);
            return;
        }
        mib.increment(MibCounter.ADD_ADDR_ACCEPTED);
        if (announcedByPeer.size() < 255 || announcedByPeer.containsKey(addAddr.addressId())) {
            announcedByPeer.put(addAddr.addressId(), addAddr);
        }
        transmit.queueSessionControl(addAddr.echoed());
        events.add(new SessionEvent.AddressAnnounced(addAddr.addressId(), addAddr.address(), addAddr.port()));
    }

    private void onRemoveAddr(RemoveAddr removeAddr) {
        mib.increment(MibCounter.REMOVE_ADDR_RECEIVED);
        for (int id : removeAddr.addressIds()) {
            if (announcedByPeer.remove(id) != null) {
                events.add(new SessionEvent.AddressWithdrawn(id));
            }
        }
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

    // ------------------------------------------------------------------ output, timers, events

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
        return transmit.poll(now, out);
    }

    /**
     * The next time {@link #handleTimeout} must be called, or {@code Long.MAX_VALUE} for never.
     * Ask again after every call on this session.
     */
    public long pollTimeout() {
        if (state == State.CLOSED) {
            return Long.MAX_VALUE;
        }
        timers.set(Timer.RECONNECT, pathManager == null ? Long.MAX_VALUE : pathManager.nextTimeout());
        long probes = Long.MAX_VALUE;
        for (Subflow s : subflows.values()) {
            if (s.state().isAttached()) {
                probes = Math.min(probes, probeDeadline(s));
            }
        }
        timers.set(Timer.PROBES, probes);
        return timers.next();
    }

    /** When {@code subflow} next needs attention: its next probe, its stall, or its close after a long stall. */
    private long probeDeadline(Subflow s) {
        if (!s.probeOutstanding()) {
            return s.nextProbeAt();
        }
        return s.state() == SubflowState.STALLED ? s.stalledSince() + probes.closeAfter()
                : s.probeSentAt() + probes.stallTimeout(s.probeRttNanos(), s.probeRttVarNanos());
    }

    /** Runs every timer due at {@code now}. Call {@link #pollTransmit} afterwards. */
    public void handleTimeout(long now) {
        if (state == State.CLOSED) {
            return;
        }
        if (timers.expired(Timer.ORPHAN, now)) {
            terminate("no subflow for " + config.orphanTimeout(), ResetReason.UNSPECIFIED, now);
            return;
        }
        for (Subflow s : List.copyOf(subflows.values())) {
            if (!s.state().isAttached() || subflows.get(s.id()) != s || now < probeDeadline(s)) {
                continue;
            }
            if (!s.probeOutstanding()) {
                long value = random.nextLong();
                if (s.queueControl(new Ping(value))) {
                    s.probeSent(value, now);
                }
            } else if (s.state() == SubflowState.STALLED) {
                mib.increment(MibCounter.SUBFLOW_STALL_CLOSES);
                fail(s, ResetReason.UNACCEPTABLE_PERFORMANCE, "stalled for " + probes.closeAfter() / 1_000_000 + " ms",
                        now);
            } else {
                stall(s, now);
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
        if (handshake.confirmedBy(subflow, frame instanceof CapableSynAck)) {
            handshake.start(subflows.values());
        }
        switch (frame) {
            case CapableSynAck synAck -> {
                if (role != Role.CPE || subflow.state() != SubflowState.CAPABLE_SENT) {
                    throw unexpected(subflow, synAck);
                }
                handshake.onCapableSynAck(subflow, synAck);
                establish(now);
                attach(subflow, now);
                handshake.start(subflows.values());
            }
            case JoinSynAck synAck -> {
                if (role != Role.CPE || subflow.state() != SubflowState.JOIN_SENT) {
                    throw unexpected(subflow, synAck);
                }
                if (handshake.onJoinSynAck(subflow, synAck)) {
                    attach(subflow, now);
                } else {
                    fail(subflow, ResetReason.ADMINISTRATIVELY_PROHIBITED, "JOIN_SYNACK HMAC does not verify", now);
                    terminate("the concentrator does not know this session (JOIN_SYNACK HMAC does not verify)",
                            ResetReason.PROTOCOL_ERROR, now);
                }
            }
            case SubflowReset reset -> onSubflowReset(subflow, reset, now);
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
                streams.onData(data, now);
            }
            case DataAck ack -> {
                requireAttached(subflow, frame);
                streams.onDataAck(ack, now);
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
                onRemoveAddr(removeAddr);
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

    private void onSubflowReset(Subflow subflow, SubflowReset reset, long now) {
        mib.increment(MibCounter.SUBFLOW_RESETS_RECEIVED);
        if (subflow.state() == SubflowState.JOIN_SENT && !reset.transientError()
                && reset.reason() == ResetReason.PROTOCOL_ERROR) {
            // The concentrator refused our JOIN_SYN itself (not its token, which it answers like any other).
            terminate("concentrator refused a join permanently; the session is gone", ResetReason.PROTOCOL_ERROR, now);
            return;
        }
        forget(subflow, reset.reason(), "peer reset the subflow (" + reset.reason() + ")");
        closedBookkeeping(subflow, now);
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

    private void onFastClose(FastClose fastClose, long now) {
        if (!handshake.verifies(fastClose)) {
            mib.increment(MibCounter.FAST_CLOSE_BAD_KEY);
            return;
        }
        if (fastClose.streamId() == FastClose.SESSION) {
            terminate("peer closed the session (" + fastClose.reason() + ")", fastClose.reason(), now);
            return;
        }
        streams.onFastClose(fastClose);
    }

    // ------------------------------------------------------------------ state changes

    private void establish(long now) {
        if (state != State.HANDSHAKING) {
            return;
        }
        state = State.ESTABLISHED;
        mib.increment(MibCounter.SESSIONS_ESTABLISHED);
        events.add(new SessionEvent.Established());
        streams.sendable().forEach(transmit::scheduleSend);
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
        for (Stream stream : streams.all()) {
            long queued = stream.send.reinject(failed.slot(), live);
            if (queued > 0) {
                mib.add(MibCounter.REINJECTED_BYTES, queued);
                transmit.scheduleSend(stream);
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

    /** Forgets a subflow whose reset frame was written or received, and tells the adapter to close it. */
    void forget(Subflow subflow, ResetReason reason, String why) {
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
        if (role == Role.CONCENTRATOR && !anyLeft && state == State.ESTABLISHED && !timers.isSet(Timer.ORPHAN)) {
            timers.set(Timer.ORPHAN, now + config.orphanTimeout().toNanos());
        }
        if (role == Role.CPE) {
            handshake.start(subflows.values());
        }
    }

    private void terminate(String reason, ResetReason resetReason, long now) {
        if (state == State.CLOSED) {
            return;
        }
        state = State.CLOSED;
        timers.stopAll();
        streams.dropAll(resetReason);
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

    // ------------------------------------------------------------------ helpers

    /** The slowest attached subflow's smoothed RTT: the period over which windows are autotuned. */
    long slowestRttNanos() {
        long slowest = 0;
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
        return "Session[" + role + " key=" + keyId() + " token=" + Integer.toHexString(localToken()) + " " + state
                + " subflows=" + subflows.size() + " streams=" + streams.all().size() + "]";
    }

    /** For tests and diagnostics: the internal subflow objects. */
    Iterator<Subflow> subflowIterator() {
        return subflows.values().iterator();
    }
}
