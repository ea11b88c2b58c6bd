package net.hybridproxy.engine.multipath.mib;

/**
 * The DATA a session handed to one uplink's subflows, by why the scheduler sent it: frames and payload bytes,
 * cumulative since the session started. Lives as long as the session, so what a closed subflow sent is never lost.
 * Not thread-safe: owned by the session's thread, like {@link Mib}.
 */
public final class UplinkSends {

    /** Why a DATA frame went on this uplink; a fixed vocabulary (it becomes a metric label). */
    public enum Kind {
        /** Payload sent for the first time. */
        NEW,
        /** Payload sent again because the subflow that carried it failed or stalled (RFC 8684 §3.3.1 reinjection). */
        REINJECTION,
        /** Payload sent again because it held the receive window (Raiciu et al., opportunistic retransmission). */
        OPPORTUNISTIC,
        /** A copy sent on purpose by the redundant scheduler. */
        REDUNDANT
    }

    private final long[] frames = new long[Kind.values().length];
    private final long[] bytes = new long[Kind.values().length];

    public void record(Kind kind, int payloadBytes) {
        frames[kind.ordinal()]++;
        bytes[kind.ordinal()] += payloadBytes;
    }

    public long frames(Kind kind) {
        return frames[kind.ordinal()];
    }

    public long bytes(Kind kind) {
        return bytes[kind.ordinal()];
    }
}
