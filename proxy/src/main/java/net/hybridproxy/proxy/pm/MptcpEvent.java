package net.hybridproxy.proxy.pm;

import java.net.InetAddress;
import java.util.OptionalInt;

/**
 * An event from the kernel's MPTCP path manager ({@code mptcp_pm_events} multicast group). Tokens are the
 * kernel's 32-bit connection tokens, unsigned. Ports are host numbers. An address is null only when the kernel
 * left it out. {@code family} is AF_INET (2) or AF_INET6 (10).
 */
public sealed interface MptcpEvent {

    /** The event types, for counters. */
    enum EventType {
        CREATED, ESTABLISHED, CLOSED, ANNOUNCED, REMOVED, SUBFLOW_ESTABLISHED, SUBFLOW_CLOSED, SUBFLOW_PRIORITY,
        LISTENER_CREATED, LISTENER_CLOSED, EVENTS_LOST
    }

    default EventType kind() {
        return switch (this) {
            case Created e -> EventType.CREATED;
            case Established e -> EventType.ESTABLISHED;
            case Closed e -> EventType.CLOSED;
            case Announced e -> EventType.ANNOUNCED;
            case Removed e -> EventType.REMOVED;
            case SubflowEstablished e -> EventType.SUBFLOW_ESTABLISHED;
            case SubflowClosed e -> EventType.SUBFLOW_CLOSED;
            case SubflowPriorityChanged e -> EventType.SUBFLOW_PRIORITY;
            case ListenerCreated e -> EventType.LISTENER_CREATED;
            case ListenerClosed e -> EventType.LISTENER_CLOSED;
            case EventsLost e -> EventType.EVENTS_LOST;
        };
    }

    /** Events about a whole MPTCP connection: its first subflow's addresses. */
    sealed interface ConnectionEvent extends MptcpEvent permits Created, Established {
        long token();

        int family();

        InetAddress localAddress();

        int localPort();

        InetAddress remoteAddress();

        int remotePort();

        /** True on the side that accepted the connection. */
        boolean serverSide();
    }

    /** Events about one subflow of a connection. */
    sealed interface SubflowEvent extends MptcpEvent permits SubflowEstablished, SubflowClosed, SubflowPriorityChanged {
        long token();

        int family();

        int localId();

        int remoteId();

        InetAddress localAddress();

        int localPort();

        InetAddress remoteAddress();

        int remotePort();

        boolean backup();

        /** Interface the subflow is bound to, 0 when unbound. */
        int interfaceIndex();

        /** The subflow socket's error (errno), 0 when none. */
        int error();
    }

    /** A new connection; it may take a while before it is {@link Established}. */
    record Created(long token, int family, InetAddress localAddress, int localPort, InetAddress remoteAddress,
                   int remotePort, boolean serverSide) implements ConnectionEvent {
    }

    /** The connection is fully established: additional subflows may now be opened. */
    record Established(long token, int family, InetAddress localAddress, int localPort, InetAddress remoteAddress,
                       int remotePort, boolean serverSide) implements ConnectionEvent {
    }

    record Closed(long token) implements MptcpEvent {
    }

    /** The peer announced an address (ADD_ADDR). */
    record Announced(long token, int remoteId, int family, InetAddress remoteAddress, int remotePort)
            implements MptcpEvent {
    }

    /** The peer withdrew an address (RM_ADDR). */
    record Removed(long token, int remoteId) implements MptcpEvent {
    }

    record SubflowEstablished(long token, int family, int localId, int remoteId, InetAddress localAddress,
                              int localPort, InetAddress remoteAddress, int remotePort, boolean backup,
                              int interfaceIndex, int error) implements SubflowEvent {
    }

    /** @param resetReason the MPTCP reset reason, when the subflow was closed by a TCP reset carrying one */
    record SubflowClosed(long token, int family, int localId, int remoteId, InetAddress localAddress, int localPort,
                         InetAddress remoteAddress, int remotePort, boolean backup, int interfaceIndex, int error,
                         OptionalInt resetReason) implements SubflowEvent {
    }

    /** The subflow's backup priority changed (MP_PRIO). */
    record SubflowPriorityChanged(long token, int family, int localId, int remoteId, InetAddress localAddress,
                                  int localPort, InetAddress remoteAddress, int remotePort, boolean backup,
                                  int interfaceIndex, int error) implements SubflowEvent {
    }

    /** The path manager opened a listener (for a signal endpoint with a port). */
    record ListenerCreated(int family, InetAddress address, int port) implements MptcpEvent {
    }

    record ListenerClosed(int family, InetAddress address, int port) implements MptcpEvent {
    }

    /**
     * Not from the kernel: our receive queue overflowed and events were dropped (ENOBUFS), so any view built from
     * events may now be stale.
     */
    record EventsLost() implements MptcpEvent {
    }
}
