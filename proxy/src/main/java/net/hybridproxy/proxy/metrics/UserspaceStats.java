package net.hybridproxy.proxy.metrics;

import net.hybridproxy.engine.multipath.frame.ResetReason;
import net.hybridproxy.engine.multipath.mib.MibCounter;
import net.hybridproxy.engine.multipath.mib.UplinkJudgements;
import net.hybridproxy.engine.multipath.mib.UplinkSends;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongConsumer;

/**
 * The userspace engine's figures for the meters and the status API. Sessions are single-threaded on their event
 * loops, so nothing here reads a session: each session's driver adds what it counts on its loop to these adders
 * (bytes as they pass, subflow lifecycle as it happens, the engine's counters' growth at every sampling pass and
 * when the session ends), and the sampler publishes gauges and the subflow table as immutable snapshots. A scrape
 * reads adders and snapshots only: bounded work whatever the number of sessions.
 */
public final class UserspaceStats implements SubflowSampler {
    /** Why an attached subflow closed: the RFC 8684 reset reasons, or the TCP connection closing under it. */
    public static final List<String> CLOSE_REASONS = closeReasons();
    public static final String CONNECTION_CLOSED = "connection_closed";
    /**
     * A process with no configured uplink (a concentrator) labels its subflows by the address id the cpe's join
     * named, {@code address-1} to {@code address-<this>} (a cpe numbers its uplinks 1, 2, ... in configuration
     * order), the session's first subflow {@code address-0} (RFC 8684, paraphrased: the address of the
     * initial subflow has the implicit address ID 0; it is whichever uplink connected first), and any other as {@code other}: bounded
     * labels that say which of the cpe's uplinks a path is.
     */
    public static final int ADDRESS_LABELS = 8;

    private final UplinkStats uplinks;
    private final Map<String, LongAdder[]> sendFrames = new HashMap<>();
    private final Map<String, LongAdder[]> sendBytes = new HashMap<>();
    private final Map<String, Map<String, LongAdder>> closes = new HashMap<>();
    private final Map<String, LongAdder[]> judgements = new HashMap<>();
    private final List<String> pathLabels;
    private final LongAdder[] mib = adders(MibCounter.values().length);
    private final FailoverLog failovers;
    private volatile SubflowSnapshot snapshot = SubflowSnapshot.empty(System.currentTimeMillis());
    private volatile Sessions sessions = new Sessions(0, 0, 0, 0, 0);
    private volatile long lastAttachNanos = Long.MIN_VALUE;
    private final LongAdder sampleErrors = new LongAdder();
    private final Duration sampleInterval;
    private volatile LongConsumer authFailureSink = n -> { };

    /**
     * Session-wide gauges from the latest pass.
     *
     * @param reorderBufferBytes  received bytes held out of order, all sessions
     * @param overflowBudgetUsed  overflow (LTE) bytes counted against the primary-first budget in the current
     *                            period, summed over sessions (each session has its own budget)
     */
    public record Sessions(int sessions, int established, int streams, long reorderBufferBytes,
                           long overflowBudgetUsed) {
    }

    /**
     * @param uplinkNames    the configured uplinks (labels); any other name counts as {@code other}
     * @param sampleInterval how often the sampler reads every session (gauges, the subflow table, engine counters)
     */
    public UserspaceStats(List<String> uplinkNames, FailoverLog failovers, Duration sampleInterval) {
        this.sampleInterval = sampleInterval;
        this.uplinks = UplinkStats.ofNames(uplinkNames);
        this.failovers = failovers;
        this.pathLabels = pathLabels(uplinkNames);
        for (String label : pathLabels) {
            sendFrames.put(label, adders(UplinkSends.Kind.values().length));
            sendBytes.put(label, adders(UplinkSends.Kind.values().length));
            judgements.put(label, adders(UplinkJudgements.Rule.values().length));
            Map<String, LongAdder> byReason = new HashMap<>();
            for (String reason : CLOSE_REASONS) {
                byReason.put(reason, new LongAdder());
            }
            closes.put(label, byReason);
        }
    }

    private static List<String> pathLabels(List<String> uplinkNames) {
        List<String> labels = new java.util.ArrayList<>(uplinkNames);
        if (uplinkNames.isEmpty()) {
            for (int id = 0; id <= ADDRESS_LABELS; id++) {
                labels.add("address-" + id);
            }
        }
        labels.remove(UplinkStats.OTHER);
        labels.add(UplinkStats.OTHER);
        return List.copyOf(labels);
    }

    /**
     * The labels of the per-path counters (scheduler decisions, reinjected bytes, closes, judgements): the
     * configured uplinks' names, or on a process without uplinks the address ids of {@link #ADDRESS_LABELS}; then
     * {@code other}.
     */
    public List<String> pathLabels() {
        return pathLabels;
    }

    public UplinkStats uplinks() {
        return uplinks;
    }

    /** The label a session's uplink name becomes: one of {@link #pathLabels()}, else {@code other}. */
    public String label(String uplink) {
        return sendFrames.containsKey(uplink) ? uplink : UplinkStats.OTHER;
    }

    public void addJudgements(String uplink, UplinkJudgements.Rule kind, long count) {
        judgements.get(label(uplink))[kind.ordinal()].add(count);
    }

    public long judgements(String label, UplinkJudgements.Rule kind) {
        return judgements.get(label)[kind.ordinal()].sum();
    }

    public void addSends(String uplink, UplinkSends.Kind kind, long frames, long bytes) {
        String label = label(uplink);
        sendFrames.get(label)[kind.ordinal()].add(frames);
        sendBytes.get(label)[kind.ordinal()].add(bytes);
    }

    public long sendFrames(String label, UplinkSends.Kind kind) {
        return sendFrames.get(label)[kind.ordinal()].sum();
    }

    /** Payload this uplink's subflows carried that had been sent before: reinjections, opportunistic, redundant. */
    public long reinjectedBytes(String label) {
        LongAdder[] bytes = sendBytes.get(label);
        return bytes[UplinkSends.Kind.REINJECTION.ordinal()].sum() + bytes[UplinkSends.Kind.OPPORTUNISTIC.ordinal()].sum()
                + bytes[UplinkSends.Kind.REDUNDANT.ordinal()].sum();
    }

    public void subflowClosed(String uplink, String reason) {
        closes.get(label(uplink)).get(reason).increment();
    }

    public long subflowCloses(String label, String reason) {
        return closes.get(label).get(reason).sum();
    }

    public void addMib(MibCounter counter, long amount) {
        mib[counter.ordinal()].add(amount);
        if (counter == MibCounter.CAPABLE_UNKNOWN_KEY_ID || counter == MibCounter.CAPABLE_PROOF_FAILED
                || counter == MibCounter.JOIN_HMAC_FAILED) {
            authFailureSink.accept(amount);
        }
    }

    /** Where authentication failures also go: the process's {@code hybridproxy_auth_failures_total}. */
    public void onAuthFailures(LongConsumer sink) {
        this.authFailureSink = sink;
    }

    public Duration sampleInterval() {
        return sampleInterval;
    }

    public long mib(MibCounter counter) {
        return mib[counter.ordinal()].sum();
    }

    /** Sessions and subflows that failed to authenticate: unknown key, a proof or a join HMAC that did not verify. */
    public long authFailures() {
        return mib(MibCounter.CAPABLE_UNKNOWN_KEY_ID) + mib(MibCounter.CAPABLE_PROOF_FAILED)
                + mib(MibCounter.JOIN_HMAC_FAILED);
    }

    public FailoverLog failovers() {
        return failovers;
    }

    public void subflowAttached(long nanoTime) {
        lastAttachNanos = nanoTime;
    }

    /** {@link System#nanoTime()} of the latest subflow attached to any session, or {@code Long.MIN_VALUE}. */
    public long lastAttachNanos() {
        return lastAttachNanos;
    }

    public void publish(SubflowSnapshot latest, Sessions latestSessions) {
        snapshot = latest;
        sessions = latestSessions;
    }

    public Sessions sessions() {
        return sessions;
    }

    public void sampleFailed() {
        sampleErrors.increment();
    }

    @Override
    public SubflowSnapshot snapshot() {
        return snapshot;
    }

    @Override
    public long reinjectedBytes() {
        long sum = 0;
        for (String label : pathLabels) {
            sum += reinjectedBytes(label);
        }
        return sum;
    }

    @Override
    public long sampleErrors() {
        return sampleErrors.sum();
    }

    /**
     * The metric label of a constant of one of the engine's fixed vocabularies ({@link UplinkSends.Kind},
     * {@link UplinkJudgements.Rule}, {@link ResetReason}, {@link MibCounter}): its name in lower case.
     */
    public static String label(Enum<?> constant) {
        return constant.name().toLowerCase(Locale.ROOT);
    }

    private static List<String> closeReasons() {
        List<String> reasons = new java.util.ArrayList<>();
        for (ResetReason r : ResetReason.values()) {
            reasons.add(label(r));
        }
        reasons.add(CONNECTION_CLOSED);
        return List.copyOf(reasons);
    }

    private static LongAdder[] adders(int n) {
        LongAdder[] a = new LongAdder[n];
        for (int i = 0; i < n; i++) {
            a[i] = new LongAdder();
        }
        return a;
    }
}
