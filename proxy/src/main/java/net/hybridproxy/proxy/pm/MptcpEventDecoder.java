package net.hybridproxy.proxy.pm;

import java.net.InetAddress;
import java.util.Optional;
import java.util.OptionalInt;

import static net.hybridproxy.proxy.pm.NetlinkConstants.AF_INET;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_BACKUP;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_DADDR4;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_DADDR6;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_DPORT;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_ERROR;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_FAMILY;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_FLAGS;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_IF_IDX;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_LOC_ID;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_REM_ID;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_RESET_REASON;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_SADDR4;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_SADDR6;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_SERVER_SIDE;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_SPORT;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_ATTR_TOKEN;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_EVENT_ANNOUNCED;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_EVENT_CLOSED;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_EVENT_CREATED;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_EVENT_ESTABLISHED;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_EVENT_LISTENER_CLOSED;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_EVENT_LISTENER_CREATED;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_EVENT_REMOVED;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_EVENT_SUB_CLOSED;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_EVENT_SUB_ESTABLISHED;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_EVENT_SUB_PRIORITY;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_EV_FLAG_SERVER_SIDE;

/**
 * Turns an {@code mptcp_pm} event message into an {@link MptcpEvent}. Event types and attributes this code does
 * not know are skipped, since newer kernels add both; a known attribute with a bad length is malformed.
 */
final class MptcpEventDecoder {
    private MptcpEventDecoder() {
    }

    static Optional<MptcpEvent> decode(NetlinkMessage.Genl message) throws MalformedNetlinkMessageException {
        NetlinkAttributes a = message.attributes();
        return Optional.ofNullable(switch (message.cmd()) {
            case MPTCP_EVENT_CREATED -> new MptcpEvent.Created(token(a), family(a), source(a), port(a, MPTCP_ATTR_SPORT),
                    destination(a), port(a, MPTCP_ATTR_DPORT), serverSide(a));
            case MPTCP_EVENT_ESTABLISHED -> new MptcpEvent.Established(token(a), family(a), source(a),
                    port(a, MPTCP_ATTR_SPORT), destination(a), port(a, MPTCP_ATTR_DPORT), serverSide(a));
            case MPTCP_EVENT_CLOSED -> new MptcpEvent.Closed(token(a));
            case MPTCP_EVENT_ANNOUNCED -> new MptcpEvent.Announced(token(a), u8(a, MPTCP_ATTR_REM_ID), family(a),
                    destination(a), port(a, MPTCP_ATTR_DPORT));
            case MPTCP_EVENT_REMOVED -> new MptcpEvent.Removed(token(a), u8(a, MPTCP_ATTR_REM_ID));
            case MPTCP_EVENT_SUB_ESTABLISHED -> new MptcpEvent.SubflowEstablished(token(a), family(a),
                    u8(a, MPTCP_ATTR_LOC_ID), u8(a, MPTCP_ATTR_REM_ID), source(a), port(a, MPTCP_ATTR_SPORT),
                    destination(a), port(a, MPTCP_ATTR_DPORT), u8(a, MPTCP_ATTR_BACKUP) != 0, ifIndex(a),
                    u8(a, MPTCP_ATTR_ERROR));
            case MPTCP_EVENT_SUB_CLOSED -> new MptcpEvent.SubflowClosed(token(a), family(a),
                    u8(a, MPTCP_ATTR_LOC_ID), u8(a, MPTCP_ATTR_REM_ID), source(a), port(a, MPTCP_ATTR_SPORT),
                    destination(a), port(a, MPTCP_ATTR_DPORT), u8(a, MPTCP_ATTR_BACKUP) != 0, ifIndex(a),
                    u8(a, MPTCP_ATTR_ERROR), resetReason(a));
            case MPTCP_EVENT_SUB_PRIORITY -> new MptcpEvent.SubflowPriorityChanged(token(a), family(a),
                    u8(a, MPTCP_ATTR_LOC_ID), u8(a, MPTCP_ATTR_REM_ID), source(a), port(a, MPTCP_ATTR_SPORT),
                    destination(a), port(a, MPTCP_ATTR_DPORT), u8(a, MPTCP_ATTR_BACKUP) != 0, ifIndex(a),
                    u8(a, MPTCP_ATTR_ERROR));
            case MPTCP_EVENT_LISTENER_CREATED -> new MptcpEvent.ListenerCreated(family(a), source(a),
                    port(a, MPTCP_ATTR_SPORT));
            case MPTCP_EVENT_LISTENER_CLOSED -> new MptcpEvent.ListenerClosed(family(a), source(a),
                    port(a, MPTCP_ATTR_SPORT));
            default -> null;
        });
    }

    /** The {@code mptcp_pm} event command that carries events of this type; none for {@code EVENTS_LOST}. */
    static OptionalInt command(MptcpEvent.EventType type) {
        return switch (type) {
            case CREATED -> OptionalInt.of(MPTCP_EVENT_CREATED);
            case ESTABLISHED -> OptionalInt.of(MPTCP_EVENT_ESTABLISHED);
            case CLOSED -> OptionalInt.of(MPTCP_EVENT_CLOSED);
            case ANNOUNCED -> OptionalInt.of(MPTCP_EVENT_ANNOUNCED);
            case REMOVED -> OptionalInt.of(MPTCP_EVENT_REMOVED);
            case SUBFLOW_ESTABLISHED -> OptionalInt.of(MPTCP_EVENT_SUB_ESTABLISHED);
            case SUBFLOW_CLOSED -> OptionalInt.of(MPTCP_EVENT_SUB_CLOSED);
            case SUBFLOW_PRIORITY -> OptionalInt.of(MPTCP_EVENT_SUB_PRIORITY);
            case LISTENER_CREATED -> OptionalInt.of(MPTCP_EVENT_LISTENER_CREATED);
            case LISTENER_CLOSED -> OptionalInt.of(MPTCP_EVENT_LISTENER_CLOSED);
            case EVENTS_LOST -> OptionalInt.empty();
        };
    }

    private static long token(NetlinkAttributes a) throws MalformedNetlinkMessageException {
        return a.require(MPTCP_ATTR_TOKEN, "MPTCP_ATTR_TOKEN").u32();
    }

    private static int family(NetlinkAttributes a) throws MalformedNetlinkMessageException {
        var f = a.first(MPTCP_ATTR_FAMILY);
        if (f.isPresent()) {
            return f.get().u16();
        }
        // Older kernels omit the family on some events: infer it from whichever address attribute is present.
        return a.has(MPTCP_ATTR_SADDR6) || a.has(MPTCP_ATTR_DADDR6) ? NetlinkConstants.AF_INET6 : AF_INET;
    }

    private static InetAddress source(NetlinkAttributes a) throws MalformedNetlinkMessageException {
        return address(a, MPTCP_ATTR_SADDR4, MPTCP_ATTR_SADDR6);
    }

    private static InetAddress destination(NetlinkAttributes a) throws MalformedNetlinkMessageException {
        return address(a, MPTCP_ATTR_DADDR4, MPTCP_ATTR_DADDR6);
    }

    private static InetAddress address(NetlinkAttributes a, int v4, int v6) throws MalformedNetlinkMessageException {
        var four = a.first(v4);
        if (four.isPresent()) {
            return four.get().address(4);
        }
        var six = a.first(v6);
        if (six.isPresent()) {
            return six.get().address(16);
        }
        return null;
    }

    /** Event ports are big-endian on the wire, unlike MPTCP_PM_ADDR_ATTR_PORT. */
    private static int port(NetlinkAttributes a, int type) throws MalformedNetlinkMessageException {
        var p = a.first(type);
        return p.isPresent() ? p.get().be16() : 0;
    }

    private static int u8(NetlinkAttributes a, int type) throws MalformedNetlinkMessageException {
        var v = a.first(type);
        return v.isPresent() ? v.get().u8() : 0;
    }

    private static int ifIndex(NetlinkAttributes a) throws MalformedNetlinkMessageException {
        var v = a.first(MPTCP_ATTR_IF_IDX);
        return v.isPresent() ? Math.max(0, v.get().s32()) : 0;
    }

    private static OptionalInt resetReason(NetlinkAttributes a) throws MalformedNetlinkMessageException {
        var v = a.first(MPTCP_ATTR_RESET_REASON);
        return v.isPresent() ? OptionalInt.of(v.get().s32()) : OptionalInt.empty();
    }

    /** Kernels before 6.x send MPTCP_ATTR_SERVER_SIDE; newer ones a bit in MPTCP_ATTR_FLAGS. Accept either. */
    private static boolean serverSide(NetlinkAttributes a) throws MalformedNetlinkMessageException {
        var legacy = a.first(MPTCP_ATTR_SERVER_SIDE);
        if (legacy.isPresent() && legacy.get().u8() != 0) {
            return true;
        }
        var flags = a.first(MPTCP_ATTR_FLAGS);
        return flags.isPresent() && (flags.get().u16() & MPTCP_PM_EV_FLAG_SERVER_SIDE) != 0;
    }
}
