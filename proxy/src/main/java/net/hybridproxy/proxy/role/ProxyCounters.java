package net.hybridproxy.proxy.role;

import io.netty.channel.Channel;
import net.hybridproxy.engine.convert.ConvertErrorCode;
import net.hybridproxy.proxy.logging.ConnectionLog;
import net.hybridproxy.proxy.metrics.CpeTable;
import net.hybridproxy.proxy.relay.RelaySession;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import java.util.function.LongConsumer;

/**
 * Process-wide counters, cheap enough for the data path (LongAdder: no contention between event loops). The
 * metrics exporter reads them; so do the demo and the tests.
 */
public final class ProxyCounters {
    private final int maxConnections;
    private final AtomicInteger active = new AtomicInteger();
    private final LongAdder accepted = new LongAdder();
    private final LongAdder refusedOverLimit = new LongAdder();
    private final LongAdder convertReplyTimeouts = new LongAdder();
    private final LongAdder mptcpFallbacks = new LongAdder();
    private final LongAdder authFailures = new LongAdder();
    private final LongAdder policyDenials = new LongAdder();
    private final LongAdder selfLoopsRefused = new LongAdder();
    private final LongAdder bytesUpstream = new LongAdder();
    /** The concentrator's per-cpe figures (empty on a cpe): bounded, see {@link CpeTable}. */
    private final CpeTable cpes = new CpeTable();
    private final LongAdder bytesDownstream = new LongAdder();
    private final Map<ConvertErrorCode, LongAdder> convertErrors = new EnumMap<>(ConvertErrorCode.class);
    private final Map<AdmissionRefusal, LongAdder> admissionRefusals = new EnumMap<>(AdmissionRefusal.class);
    private volatile LongConsumer setupLatencyNanos = nanos -> { };
    private volatile Consumer<InetAddress> fallbackByLocalAddress = local -> { };
    /** Built once, not per relay: what every relay reports its bytes and its end to. */
    final RelaySession.ByteCounter relayedBytes = this::relayed;
    final Consumer<RelaySession> relayEnded = this::relayClosed;

    public ProxyCounters(int maxConnections) {
        this.maxConnections = maxConnections;
        for (ConvertErrorCode code : ConvertErrorCode.values()) {
            convertErrors.put(code, new LongAdder());
        }
        for (AdmissionRefusal reason : AdmissionRefusal.values()) {
            admissionRefusals.put(reason, new LongAdder());
        }
    }

    /** Admits one more connection unless the configured bound is reached. */
    public boolean tryAdmit() {
        while (true) {
            int now = active.get();
            if (now >= maxConnections) {
                refusedOverLimit.increment();
                return false;
            }
            if (active.compareAndSet(now, now + 1)) {
                accepted.increment();
                return true;
            }
        }
    }

    /** Releases a connection admitted by {@link #tryAdmit} that ended before it became a relay. */
    public void release() {
        active.decrementAndGet();
    }

    /** Where each connection's setup time goes (the metrics' histogram); nothing until set. */
    public void onSetupLatency(LongConsumer nanos) {
        this.setupLatencyNanos = nanos;
    }

    void setupCompleted(long nanos) {
        setupLatencyNanos.accept(nanos);
    }

    /** Relayed bytes, counted as they pass so that rates are live (not only when a connection ends). */
    public CpeTable cpes() {
        return cpes;
    }

    void relayed(boolean upstream, int bytes) {
        (upstream ? bytesUpstream : bytesDownstream).add(bytes);
    }

    void relayClosed(RelaySession session) {
        active.decrementAndGet();
        ConnectionLog.closed(session.label(), session.closeReason(), session.bytesUpstream(),
                session.bytesDownstream(), session.ageNanos());
    }

    /** Where each fallback is attributed to an uplink, by the connection's local address; nothing until set. */
    public void onMptcpFallback(Consumer<InetAddress> byLocalAddress) {
        this.fallbackByLocalAddress = byLocalAddress;
    }

    /** A connection that was meant to be MPTCP and fell back to plain TCP, counted on its local address's uplink. */
    public void mptcpFallback(Channel channel) {
        mptcpFallbacks.increment();
        if (channel.localAddress() instanceof InetSocketAddress local) {
            fallbackByLocalAddress.accept(local.getAddress());
        }
    }

    public void authFailure() {
        authFailures.increment();
    }

    /** Failures an engine counted itself (the userspace engine's session and join proofs). */
    public void addAuthFailures(long count) {
        authFailures.add(count);
    }

    public void policyDenial() {
        policyDenials.increment();
    }

    /** A cpe connection refused because its destination was the cpe itself. */
    public void selfLoopRefused() {
        selfLoopsRefused.increment();
    }

    public long selfLoopsRefused() {
        return selfLoopsRefused.sum();
    }

    public void convertError(ConvertErrorCode code) {
        convertErrors.get(code).increment();
    }

    /** A connection refused or closed by the concentrator's deadlines and fair-share quotas. */
    public void admissionRefusal(AdmissionRefusal reason) {
        admissionRefusals.get(reason).increment();
    }

    public long admissionRefusals(AdmissionRefusal reason) {
        return admissionRefusals.get(reason).sum();
    }

    public int maxConnections() {
        return maxConnections;
    }

    public int active() {
        return active.get();
    }

    public long accepted() {
        return accepted.sum();
    }

    public long refusedOverLimit() {
        return refusedOverLimit.sum();
    }

    /** cpe: a LAN connection reset because its concentrator's Convert reply did not come in time. */
    void convertReplyTimedOut() {
        convertReplyTimeouts.increment();
    }

    public long convertReplyTimeouts() {
        return convertReplyTimeouts.sum();
    }

    public long mptcpFallbacks() {
        return mptcpFallbacks.sum();
    }

    public long authFailures() {
        return authFailures.sum();
    }

    public long policyDenials() {
        return policyDenials.sum();
    }

    public long bytesUpstream() {
        return bytesUpstream.sum();
    }

    public long bytesDownstream() {
        return bytesDownstream.sum();
    }

    public long convertErrors(ConvertErrorCode code) {
        return convertErrors.get(code).sum();
    }
}
