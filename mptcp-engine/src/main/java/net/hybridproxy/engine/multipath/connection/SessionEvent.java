package net.hybridproxy.engine.multipath.connection;

import java.net.InetAddress;
import net.hybridproxy.engine.multipath.frame.ResetReason;

/** Something the adapter must act on or may record; drained with {@link Session#pollEvent()}. */
public sealed interface SessionEvent {

    /** The capable handshake completed: both sides proved the pre-shared key. */
    record SessionEstablished() implements SessionEvent {
    }

    /**
     * cpe: open a TCP connection over {@code uplink} to the concentrator (to {@code remote} if not
     * null: an address the concentrator announced), then call {@link Session#subflowConnected} or
     * {@link Session#subflowClosed} with {@code subflowId}.
     */
    record SubflowRequested(long subflowId, String uplink, InetAddress remote, int remotePort) implements SessionEvent {
    }

    /** A subflow authenticated and now carries data. */
    record SubflowAttached(long subflowId, String uplink) implements SessionEvent {
    }

    /** A subflow's probe went unanswered; its data was reinjected on the others. */
    record SubflowStalled(long subflowId, String uplink) implements SessionEvent {
    }

    /** A stalled subflow answered again. */
    record SubflowRecovered(long subflowId, String uplink) implements SessionEvent {
    }

    /**
     * A subflow whose rate collapsed has its queue drained but still delivers at the collapsed rate while its socket
     * holds bytes and its congestion window has room: its TCP sender keeps the rate it measured through the collapse
     * (Linux BBR, docs/decisions.md "the LTE collapse, twelfth pass": two intervals with a fifth lost at a steady
     * rate look like a token-bucket policer to it, and it paces at that rate for 48 round trips, seconds after the
     * link came back). The adapter may restart the connection's congestion control (Linux: switch the socket's
     * algorithm away and back, which initialises it again; setting the same one changes nothing).
     */
    record SubflowRestartCongestionControl(long subflowId, String uplink) implements SessionEvent {
    }

    /**
     * Close the subflow's TCP connection once everything {@link Session#pollTransmit} returned for
     * it has been written. The session has forgotten it.
     */
    record SubflowClose(long subflowId, ResetReason reason, String why) implements SessionEvent {
    }

    /** concentrator: the cpe opened a stream; its first bytes are the RFC 8803 Convert message. */
    record StreamOpened(long streamId) implements SessionEvent {
    }

    /** Bytes (or the end of the stream) can be read; signalled again only after a read drained it. */
    record StreamReadable(long streamId) implements SessionEvent {
    }

    /** A write accepted less than offered before; there is room again. */
    record StreamWritable(long streamId) implements SessionEvent {
    }

    /** Both directions finished and acknowledged; the stream is gone. */
    record StreamClosed(long streamId) implements SessionEvent {
    }

    /** The stream was closed abruptly (FAST_CLOSE), by the peer if {@code byPeer}; it is gone. */
    record StreamReset(long streamId, ResetReason reason, boolean byPeer) implements SessionEvent {
    }

    /** cpe: the concentrator announced an address (its HMAC verified). */
    record AddressAnnounced(int addressId, InetAddress address, int port) implements SessionEvent {
    }

    /** cpe: the concentrator withdrew an address. */
    record AddressWithdrawn(int addressId) implements SessionEvent {
    }

    /** The session is over; every stream is gone. The concentrator's endpoint forgets it. */
    record SessionClosed(String reason) implements SessionEvent {
    }
}
