package net.hybridproxy.engine.multipath.subflow;

import java.util.ArrayDeque;
import java.util.Objects;
import net.hybridproxy.engine.multipath.frame.Frame;
import net.hybridproxy.engine.multipath.frame.FrameReader;
import net.hybridproxy.engine.multipath.frame.SubflowPriority;

/**
 * One TCP connection of a session, as the engine sees it: its state, the frames queued for it
 * alone, the adapter's estimates, and its probe state. The counterpart of Linux
 * {@code net/mptcp/subflow.c}'s per-subflow context. Driven by the session; not thread-safe.
 */
public final class Subflow {

    /** Frames queued for this subflow alone (handshake, probes, MP_PRIO, reset) are few. */
    private static final int MAX_CONTROL_FRAMES = 16;

    private final long id;
    private final int slot;
    private final int addressId;
    private final String uplink;
    private SubflowPriority priority;
    private SubflowState state;
    private final FrameReader reader = new FrameReader();
    private final ArrayDeque<Frame> control = new ArrayDeque<>();
    private final ArrayDeque<long[]> redundantCopies = new ArrayDeque<>();
    private SubflowEstimates estimates = SubflowEstimates.unknown(0);
    private long spaceLeft;
    private final MinRttFilter minRtt = new MinRttFilter();
    private final DeliveredRateFilter deliveredRate = new DeliveredRateFilter();
    private long lateReinjectionAt = Long.MIN_VALUE;
    private long heldUntilDelivered = -1;
    private boolean suspect;
    /** Its rate was found collapsed behind a queue and has not come back since (see {@link #collapseSeen}). */
    private boolean collapseOpen;
    /** Since when its sender has had bytes to send and room in its window yet sent them slowly, or MIN_VALUE. */
    private long senderLimitedSince = Long.MIN_VALUE;
    private long busySince = Long.MIN_VALUE;

    private int localNonce;
    private int remoteNonce;
    /** cpe: when CAPABLE_SYN or JOIN_SYN went out on this subflow, -1 before. */
    private long handshakeSentAt = -1;

    private long nextProbeAt;
    private long probeValue;
    private long probeSentAt = -1;
    private long probeRttNanos;
    private long probeRttVarNanos;
    private long stalledSince = -1;
    private long penalisedUntil;
    private long lastReceivedAt = Long.MIN_VALUE;
    private long deliveredSeen = -1;
    private long deliveredGrewAt = Long.MIN_VALUE;
    private long sackedDeliveredSeen;
    private long attachedAt = -1;

    private String closeWhy;
    private boolean bookkept;

    private long bytesSent;
    private long bytesReceived;
    private long dataBytesSent;

    public Subflow(long id, int slot, int addressId, String uplink, SubflowPriority priority, SubflowState state) {
        this.id = id;
        this.slot = slot;
        this.addressId = addressId;
        this.uplink = Objects.requireNonNull(uplink, "uplink");
        this.priority = Objects.requireNonNull(priority, "priority");
        this.state = Objects.requireNonNull(state, "state");
    }

    public long id() {
        return id;
    }

    /** The bit this subflow occupies in segment masks, 0..63; unique among the session's live subflows. */
    public int slot() {
        return slot;
    }

    public int addressId() {
        return addressId;
    }

    /** The uplink's name (cpe) or a name derived from the address id (concentrator). */
    public String uplink() {
        return uplink;
    }

    public SubflowPriority priority() {
        return priority;
    }

    public void priority(SubflowPriority priority) {
        this.priority = Objects.requireNonNull(priority, "priority");
    }

    public SubflowState state() {
        return state;
    }

    public void state(SubflowState state) {
        this.state = Objects.requireNonNull(state, "state");
    }

    public FrameReader reader() {
        return reader;
    }

    /** Queues a frame for this subflow alone; false if the queue is full (the frame is dropped). */
    public boolean queueControl(Frame frame) {
        if (control.size() >= MAX_CONTROL_FRAMES) {
            return false;
        }
        control.addLast(frame);
        return true;
    }

    public ArrayDeque<Frame> control() {
        return control;
    }

    /** Copies of (stream id, dsn) segments this subflow should also carry (redundant scheduler). */
    public ArrayDeque<long[]> redundantCopies() {
        return redundantCopies;
    }

    public SubflowEstimates estimates() {
        return estimates;
    }

    /** Takes the adapter's latest estimates; the space left is reset to what the socket reports. */
    public void estimates(SubflowEstimates estimates) {
        this.estimates = Objects.requireNonNull(estimates, "estimates");
        this.spaceLeft = estimates.sendSpaceBytes();
    }

    /** The lowest smoothed RTT this subflow's connection reported lately (fed by {@link #sampleMinRtt}). */
    public MinRttFilter minRtt() {
        return minRtt;
    }

    /**
     * Bytes the connection holds: in flight and not sent as the adapter last reported, plus what was handed to it
     * since. 0 when the adapter does not know its TCP state.
     */
    public long backlogBytes() {
        if (estimates.srttNanos() <= 0) {
            return 0;
        }
        return estimates.inflightBytes() + estimates.notSentBytes()
                + Math.max(0, estimates.sendSpaceBytes() - spaceLeft);
    }

    /** The connection's delivery rate from {@code tcpi_delivered} (fed by {@link #noteProgress}). */
    public DeliveredRateFilter deliveredRate() {
        return deliveredRate;
    }

    /** Feeds the minimum-RTT filter with the connection's smoothed RTT at {@code now} (needs the adapter's TCP state). */
    public void sampleMinRtt(long now) {
        if (estimates.srttNanos() > 0) {
            minRtt.update(now, estimates.srttNanos());
        }
    }

    /**
     * Notes whether the connection delivered more since the last call (what it was handed less what it still holds,
     * as the adapter's TCP state says), stamping {@link #progressAt()} with {@code now} if so. Call after estimates
     * may have changed, with the time they were taken.
     */
    public void noteProgress(long now) {
        if (estimates.srttNanos() <= 0) {
            return;
        }
        long delivered = bytesSent - backlogBytes();
        if (delivered > deliveredSeen) {
            deliveredSeen = delivered;
            deliveredGrewAt = now;
        }
        // The cumulative acknowledgement stands still while TCP repairs a loss (a lost retransmission waits for the
        // retransmission timeout, at least 200 ms plus the RTT) although SACKs keep saying the path delivers: the
        // SACK-inclusive count is the path's progress (docs/userspace-protocol.md §7).
        if (estimates.deliveredBytes() > sackedDeliveredSeen) {
            sackedDeliveredSeen = estimates.deliveredBytes();
            deliveredGrewAt = now;
        }
        long minRttNanos = minRtt.minRttNanos() > 0 ? minRtt.minRttNanos() : estimates.srttNanos();
        // A suspect path is handed little (TransmitAssembly.lateRoom): what it delivers of that is what it can
        // carry now, and the samples are what clears it when its rate recovers; so it is sampled whenever it holds
        // something, not only while it holds a window.
        long backlog = backlogBytes();
        // What the peer's TCP SACKed is delivered: a connection whose cumulative acknowledgement waits for a lost
        // retransmission holds it without anything to send. Counted as held, a connection that had delivered all it
        // was handed (the session's receive window closed behind its hole) looked busy while idle, its rate sample
        // over that interval was near zero, and a Reno-like LTE on lossy-mixed links was judged collapsed
        // (docs/decisions.md, "large frames by default, second attempt").
        long undelivered = backlog - Math.min(estimates.sackedBytes(), backlog);
        deliveredRate.update(now, estimates.deliveredBytes(), minRttNanos,
                estimates.cwndBytes() > 0 && (undelivered >= estimates.cwndBytes() || suspect && backlog > 0));
    }

    /**
     * The last sign of life of the path, {@code Long.MIN_VALUE} before any: bytes arrived on it, or its TCP
     * connection delivered bytes (acknowledged by the peer's TCP) as far as {@link #noteProgress} saw.
     */
    public long progressAt() {
        return Math.max(lastReceivedAt, deliveredGrewAt);
    }

    /**
     * Bytes of this subflow's stream its peer's TCP acknowledged: what it was handed less what its connection still
     * holds (in flight and not sent), from the adapter's TCP state; 0 while that is unknown.
     */
    public long tcpDelivered() {
        return estimates.srttNanos() <= 0 ? 0 : bytesSent - backlogBytes();
    }

    /**
     * Bytes of this subflow's stream the peer's TCP holds: {@link #tcpDelivered()} plus what it SACKed above the
     * cumulative acknowledgement. When this reaches past a segment that {@link #tcpDelivered()} does not, the bytes
     * after that segment arrived and the segment itself is a hole TCP is repairing.
     */
    public long tcpReceived() {
        return tcpDelivered() + (estimates.srttNanos() <= 0 ? 0 : estimates.sackedBytes());
    }

    /**
     * How long the connection has held undelivered bytes without delivering any and without a byte arriving on it
     * (0 while it holds nothing, or while the adapter does not know its TCP state). Call {@link #noteProgress} first.
     */
    public long silentFor(long now) {
        if (estimates.srttNanos() <= 0 || backlogBytes() == 0) {
            busySince = Long.MIN_VALUE;
            return 0;
        }
        if (busySince == Long.MIN_VALUE) {
            busySince = now;
        }
        long lastSign = Math.max(busySince, progressAt());
        if (estimates.sinceLastAckNanos() >= 0) {
            // An acknowledgement arrived: the path carries segments both ways, whatever it acknowledged.
            lastSign = Math.max(lastSign, now - estimates.sinceLastAckNanos());
        }
        return Math.max(0, now - lastSign);
    }

    /**
     * Whether the subflow was judged late and gets no new data until its connection delivered everything it held
     * then ({@link #holdUntilDelivered}).
     */
    public boolean heldBack() {
        if (heldUntilDelivered >= 0 && tcpDelivered() >= heldUntilDelivered) {
            heldUntilDelivered = -1;
        }
        return heldUntilDelivered >= 0;
    }

    /** Hands this subflow no new data until its connection delivered what it was handed so far; then suspect. */
    public void holdUntilDelivered() {
        heldUntilDelivered = bytesSent;
        suspect = true;
    }

    /**
     * Whether the subflow was judged late and has not recovered since: it still holds what it held then, or its
     * smoothed RTT is still above {@code clearBelowMinRtts} times its minimum RTT (its queue has not drained) and its
     * delivery rate is still below {@link DeliveredRateFilter#RECOVERED_FRACTION} of its peak. The rate clears a
     * path whose RTT cannot: behind a queue that a loss-based sender keeps full (a 200 ms LTE buffer) the RTT never
     * comes back near its minimum, and a recovered LTE stayed unused (docs/decisions.md, eighth pass).
     */
    public boolean suspect(double clearBelowMinRtts) {
        if (suspect && !heldBack() && estimates.srttNanos() > 0
                && (estimates.srttNanos() <= clearBelowMinRtts * minRtt.minRttNanos() || deliveredRate.recovered())) {
            suspect = false;
        }
        return suspect;
    }

    /**
     * Hands this subflow little new data until its delivery rate or its RTT recovers ({@link #suspect}), without
     * holding it back: a path whose rate collapsed while nothing it holds blocks in-order delivery yet.
     */
    public void markSuspect() {
        suspect = true;
    }

    /**
     * Its delivery rate collapsed while a queue grew in front of it ({@code SubflowTable}'s collapse rule found it,
     * whether or not the rule may act): from now until its rate comes back, a sender that holds the collapsed rate
     * on its own is told apart by {@link #senderLimitedFor}.
     */
    public void collapseSeen() {
        collapseOpen = true;
    }

    /** Whether a collapse was seen and neither its rate came back nor its sender was restarted since. */
    public boolean collapseOpen() {
        return collapseOpen;
    }

    /** The collapse is over for the restart rule: the rate came back, or its sender was asked to restart. */
    public void collapseClosed() {
        collapseOpen = false;
        senderLimitedSince = Long.MIN_VALUE;
    }

    /**
     * Linux BBR paces at its bandwidth estimate with a window of twice its bandwidth-delay product: in the lab, paced
     * at the collapsed rate, 12-14 of 34-40 segments were in flight.
     */
    static final double PACED_WINDOW_SHARE = 0.75;

    /**
     * How long, by the successive TCP states the adapter reported, the connection has been limited by its own
     * sender: bytes waiting in the socket while at most {@link #PACED_WINDOW_SHARE} of its congestion window was in
     * flight (neither the application nor the window held it back: its pacing did; a window-limited sender keeps its
     * window full to the last segment), and its smoothed RTT at most {@code belowMinRtts} minimum RTTs (no queue in
     * front of it). 0 when that does not hold now.
     */
    public long senderLimitedFor(long now, double belowMinRtts) {
        SubflowEstimates e = estimates;
        long minRttNanos = minRtt.minRttNanos();
        boolean limited = e.srttNanos() > 0 && minRttNanos > 0 && e.srttNanos() <= belowMinRtts * minRttNanos
                && e.notSentBytes() > 0 && e.inflightBytes() <= PACED_WINDOW_SHARE * e.cwndBytes();
        if (!limited) {
            senderLimitedSince = Long.MIN_VALUE;
            return 0;
        }
        if (senderLimitedSince == Long.MIN_VALUE) {
            senderLimitedSince = now;
        }
        return now - senderLimitedSince;
    }

    /** When this subflow's held segments were last reinjected because it delivered too slowly. */
    public long lateReinjectionAt() {
        return lateReinjectionAt;
    }

    public void lateReinjectionAt(long at) {
        this.lateReinjectionAt = at;
    }

    /** When bytes last arrived on this subflow ({@code Long.MIN_VALUE} before any). */
    public long lastReceivedAt() {
        return lastReceivedAt;
    }

    /** Bytes the engine may still hand to this subflow before the adapter reports again. */
    public long spaceLeft() {
        return spaceLeft;
    }

    /** Records {@code bytes} handed to the adapter for this subflow. */
    public void consumed(int bytes) {
        spaceLeft = Math.max(0, spaceLeft - bytes);
        bytesSent += bytes;
    }

    public void received(int bytes, long now) {
        bytesReceived += bytes;
        lastReceivedAt = now;
    }

    public void dataSent(int bytes) {
        dataBytesSent += bytes;
    }

    /**
     * The RTT the scheduler uses: TCP's smoothed RTT if the adapter knows it, else the probe RTT
     * (which includes the local socket queue), else {@code fallback}.
     */
    public long srttNanos(long fallback) {
        if (estimates.srttNanos() > 0) {
            return estimates.srttNanos();
        }
        return probeRttNanos > 0 ? probeRttNanos : fallback;
    }

    public int localNonce() {
        return localNonce;
    }

    /** cpe: when this subflow's CAPABLE_SYN or JOIN_SYN was queued, -1 if none was. */
    public long handshakeSentAt() {
        return handshakeSentAt;
    }

    public void handshakeSentAt(long now) {
        this.handshakeSentAt = now;
    }

    public void localNonce(int nonce) {
        this.localNonce = nonce;
    }

    public int remoteNonce() {
        return remoteNonce;
    }

    public void remoteNonce(int nonce) {
        this.remoteNonce = nonce;
    }

    // --- probes ---

    public long nextProbeAt() {
        return nextProbeAt;
    }

    public void nextProbeAt(long at) {
        this.nextProbeAt = at;
    }

    /** Whether a probe is outstanding. */
    public boolean probeOutstanding() {
        return probeSentAt >= 0;
    }

    public long probeSentAt() {
        return probeSentAt;
    }

    public long probeValue() {
        return probeValue;
    }

    public void probeSent(long value, long now) {
        this.probeValue = value;
        this.probeSentAt = now;
    }

    /**
     * Records a probe answer and returns its RTT. Smoothing follows RFC 6298 §2.3 (alpha 1/8,
     * beta 1/4), the same estimator TCP uses for its own RTT.
     */
    public long probeAnswered(long now) {
        long rtt = Math.max(1, now - probeSentAt);
        probeSentAt = -1;
        if (probeRttNanos == 0) {
            probeRttNanos = rtt;
            probeRttVarNanos = rtt / 2;
        } else {
            probeRttVarNanos = (3 * probeRttVarNanos + Math.abs(probeRttNanos - rtt)) / 4;
            probeRttNanos = (7 * probeRttNanos + rtt) / 8;
        }
        return rtt;
    }

    public long probeRttNanos() {
        return probeRttNanos;
    }

    public long probeRttVarNanos() {
        return probeRttVarNanos;
    }

    public long stalledSince() {
        return stalledSince;
    }

    public void stalledSince(long at) {
        this.stalledSince = at;
    }

    public long penalisedUntil() {
        return penalisedUntil;
    }

    public void penalisedUntil(long until) {
        this.penalisedUntil = until;
    }

    public long attachedAt() {
        return attachedAt;
    }

    public void attachedAt(long at) {
        this.attachedAt = at;
    }

    public long bytesSent() {
        return bytesSent;
    }

    public long bytesReceived() {
        return bytesReceived;
    }

    public long dataBytesSent() {
        return dataBytesSent;
    }

    /** Records why the subflow is being closed, for the close event. */
    public void closeReason(net.hybridproxy.engine.multipath.frame.ResetReason reason, String why) {
        this.closeWhy = reason + ": " + why;
    }

    /** Why the subflow is being closed, or null. */
    public String closeWhy() {
        return closeWhy;
    }

    /** Whether the path manager has been told this subflow is gone. */
    public boolean bookkept() {
        return bookkept;
    }

    public void markBookkept() {
        this.bookkept = true;
    }

    @Override
    public String toString() {
        return "Subflow[" + id + " " + uplink + " " + priority + " " + state + "]";
    }
}
