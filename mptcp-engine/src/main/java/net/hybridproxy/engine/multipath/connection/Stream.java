package net.hybridproxy.engine.multipath.connection;

import net.hybridproxy.engine.multipath.reassembly.ReceiveBuffer;
import net.hybridproxy.engine.multipath.reassembly.SendBuffer;

/**
 * One logical connection (one client TCP connection) multiplexed over the session's subflows: an
 * MPTCP connection's data-level state, RFC 8684 §3.3, with its own data sequence spaces in both
 * directions, its own DATA_ACK, window and DATA_FIN.
 */
final class Stream {

    /**
     * The window each side may assume before the peer's first DATA_ACK: 256 KiB. A protocol
     * constant (docs/userspace-protocol.md §5.3): the opener sends its first bytes (the RFC 8803
     * Convert message and early data) without waiting a round trip, and the receiver reserves this
     * much for every stream it accepts.
     */
    static final int INITIAL_WINDOW = 256 * 1024;

    /** Heap bytes of a stream's objects besides its buffers (Stream, both buffers' fields, maps, deques). */
    static final int OVERHEAD = 1024;

    /**
     * What a new stream is charged: its objects (its send ring comes with its first write and goes once it is idle,
     * {@link StreamTable#releaseIdleSendRings}). The initial window it grants is charged as data fills it (a peer
     * that fills it beyond the budget has the stream reset), so that a thousand idle streams cost about 1 MB, not
     * 256 MB.
     */
    static final long INITIAL_COST = OVERHEAD;

    final long id;
    final SendBuffer send;
    final ReceiveBuffer receive;
    boolean ackPending;
    boolean readableSignalled;
    boolean writeBlocked;
    boolean closed;
    /**
     * The uplink this stream's data may use, or null for any: on the cpe the one a bypass rule named (its frames
     * carry P), on the concentrator the one the first P frame arrived over.
     */
    String pinnedUplink;
    /** Heap bytes charged to the session's memory budget for this stream. */
    long charged;
    /** Autotuning: bytes the application read, and the peer acknowledged, since the period started. */
    long readInPeriod;
    long receivePeriodStart;
    long ackedInPeriod;
    long sendPeriodStart;
    /** When the application last wrote or the peer last acknowledged new bytes: idle sends give their ring back. */
    long sendActiveAt;
    /**
     * Where this stream's delivery waits, for the MIB's time counters: since when out-of-order data waits for the
     * head, the peer's window has blocked new data, and the send buffer has been full; -1 while not waiting.
     */
    long headWaitSince = -1;
    long windowLimitedSince = -1;
    long writeBlockedSince = -1;

    Stream(long id, SessionConfig config, long now) {
        this.id = id;
        this.send = new SendBuffer(config.streamSendBuffer(), INITIAL_WINDOW);
        this.receive = new ReceiveBuffer(config.streamReceiveWindow(), INITIAL_WINDOW, config.maxOutOfOrderPieces());
        // Both start at the initial window and grow with what the stream measures (Session.autotuneReceive).
        this.send.initialLimit(INITIAL_WINDOW);
        this.receive.initialLimit(INITIAL_WINDOW);
        this.receivePeriodStart = now;
        this.sendPeriodStart = now;
        this.sendActiveAt = now;
    }

    /** Both directions are done: our DATA_FIN was acknowledged and the peer's was read. */
    boolean isDone() {
        return send.finAcked() && receive.isFinished();
    }
}
