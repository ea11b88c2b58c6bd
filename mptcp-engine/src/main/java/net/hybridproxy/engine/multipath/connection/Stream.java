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

    final long id;
    final SendBuffer send;
    final ReceiveBuffer receive;
    boolean ackPending;
    boolean readableSignalled;
    boolean writeBlocked;
    boolean closed;

    Stream(long id, SessionConfig config) {
        this.id = id;
        this.send = new SendBuffer(config.streamSendBuffer(), INITIAL_WINDOW);
        this.receive = new ReceiveBuffer(config.streamReceiveWindow(), INITIAL_WINDOW, config.maxOutOfOrderPieces());
    }

    /** Both directions are done: our DATA_FIN was acknowledged and the peer's was read. */
    boolean isDone() {
        return send.finAcked() && receive.isFinished();
    }
}
