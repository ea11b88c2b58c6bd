package net.hybridproxy.proxy.pm;

/**
 * Values from the kernel UAPI headers {@code netlink.h}, {@code genetlink.h} and {@code mptcp_pm.h}. They are ABI
 * and never change once released, so they are spelled out here rather than discovered at run time (only the
 * generic-netlink family id and multicast group ids are dynamic).
 */
final class NetlinkConstants {
    // struct nlmsghdr / struct genlmsghdr / struct nlattr sizes; everything is padded to 4 bytes.
    static final int NLMSG_HDRLEN = 16;
    static final int GENL_HDRLEN = 4;
    static final int NLA_HDRLEN = 4;
    static final int ALIGNTO = 4;

    static final int NLM_F_REQUEST = 0x01;
    static final int NLM_F_MULTI = 0x02;
    static final int NLM_F_ACK = 0x04;
    static final int NLM_F_DUMP_INTR = 0x10;
    static final int NLM_F_DUMP = 0x300;
    /** On NLMSG_ERROR: the original request payload was left out (NETLINK_CAP_ACK). */
    static final int NLM_F_CAPPED = 0x100;
    /** On NLMSG_ERROR: extended-ack TLVs follow the embedded request. */
    static final int NLM_F_ACK_TLVS = 0x200;

    static final int NLMSG_NOOP = 1;
    static final int NLMSG_ERROR = 2;
    static final int NLMSG_DONE = 3;
    static final int NLMSG_OVERRUN = 4;

    static final int NLA_F_NESTED = 1 << 15;
    static final int NLA_F_NET_BYTEORDER = 1 << 14;
    static final int NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

    static final int NLMSGERR_ATTR_MSG = 1;

    /** setsockopt(SOL_NETLINK): do not echo the whole request back inside error replies. */
    static final int NETLINK_CAP_ACK = 10;

    // Generic netlink controller.
    static final int GENL_ID_CTRL = 0x10;
    static final int CTRL_CMD_GETFAMILY = 3;
    static final int CTRL_VERSION = 2;
    static final int CTRL_ATTR_FAMILY_ID = 1;
    static final int CTRL_ATTR_FAMILY_NAME = 2;
    static final int CTRL_ATTR_VERSION = 3;
    static final int CTRL_ATTR_MCAST_GROUPS = 7;
    static final int CTRL_ATTR_MCAST_GRP_NAME = 1;
    static final int CTRL_ATTR_MCAST_GRP_ID = 2;

    // mptcp_pm family.
    static final String MPTCP_PM_NAME = "mptcp_pm";
    static final String MPTCP_PM_EV_GRP_NAME = "mptcp_pm_events";
    static final int MPTCP_PM_VER = 1;

    static final int MPTCP_PM_CMD_ADD_ADDR = 1;
    static final int MPTCP_PM_CMD_DEL_ADDR = 2;
    static final int MPTCP_PM_CMD_GET_ADDR = 3;
    static final int MPTCP_PM_CMD_FLUSH_ADDRS = 4;
    static final int MPTCP_PM_CMD_SET_LIMITS = 5;
    static final int MPTCP_PM_CMD_GET_LIMITS = 6;
    static final int MPTCP_PM_CMD_SET_FLAGS = 7;

    static final int MPTCP_PM_ATTR_ADDR = 1;
    static final int MPTCP_PM_ATTR_RCV_ADD_ADDRS = 2;
    static final int MPTCP_PM_ATTR_SUBFLOWS = 3;

    static final int MPTCP_PM_ADDR_ATTR_FAMILY = 1;
    static final int MPTCP_PM_ADDR_ATTR_ID = 2;
    static final int MPTCP_PM_ADDR_ATTR_ADDR4 = 3;
    static final int MPTCP_PM_ADDR_ATTR_ADDR6 = 4;
    /** Host byte order on the wire (the kernel converts with htons/ntohs), unlike the event port attributes. */
    static final int MPTCP_PM_ADDR_ATTR_PORT = 5;
    static final int MPTCP_PM_ADDR_ATTR_FLAGS = 6;
    static final int MPTCP_PM_ADDR_ATTR_IF_IDX = 7;

    static final int MPTCP_EVENT_CREATED = 1;
    static final int MPTCP_EVENT_ESTABLISHED = 2;
    static final int MPTCP_EVENT_CLOSED = 3;
    static final int MPTCP_EVENT_ANNOUNCED = 6;
    static final int MPTCP_EVENT_REMOVED = 7;
    static final int MPTCP_EVENT_SUB_ESTABLISHED = 10;
    static final int MPTCP_EVENT_SUB_CLOSED = 11;
    static final int MPTCP_EVENT_SUB_PRIORITY = 13;
    static final int MPTCP_EVENT_LISTENER_CREATED = 15;
    static final int MPTCP_EVENT_LISTENER_CLOSED = 16;

    static final int MPTCP_ATTR_TOKEN = 1;
    static final int MPTCP_ATTR_FAMILY = 2;
    static final int MPTCP_ATTR_LOC_ID = 3;
    static final int MPTCP_ATTR_REM_ID = 4;
    static final int MPTCP_ATTR_SADDR4 = 5;
    static final int MPTCP_ATTR_SADDR6 = 6;
    static final int MPTCP_ATTR_DADDR4 = 7;
    static final int MPTCP_ATTR_DADDR6 = 8;
    /** Network byte order (be16). */
    static final int MPTCP_ATTR_SPORT = 9;
    /** Network byte order (be16). */
    static final int MPTCP_ATTR_DPORT = 10;
    static final int MPTCP_ATTR_BACKUP = 11;
    static final int MPTCP_ATTR_ERROR = 12;
    static final int MPTCP_ATTR_FLAGS = 13;
    static final int MPTCP_ATTR_TIMEOUT = 14;
    static final int MPTCP_ATTR_IF_IDX = 15;
    static final int MPTCP_ATTR_RESET_REASON = 16;
    static final int MPTCP_ATTR_RESET_FLAGS = 17;
    static final int MPTCP_ATTR_SERVER_SIDE = 18;

    /** Bit of MPTCP_ATTR_FLAGS that newer kernels use instead of MPTCP_ATTR_SERVER_SIDE. */
    static final int MPTCP_PM_EV_FLAG_SERVER_SIDE = 1 << 1;

    static final int AF_INET = 2;
    static final int AF_INET6 = 10;

    private NetlinkConstants() {
    }

    static int align(int length) {
        return (length + ALIGNTO - 1) & ~(ALIGNTO - 1);
    }

    static String commandName(int cmd) {
        return switch (cmd) {
            case MPTCP_PM_CMD_ADD_ADDR -> "MPTCP_PM_CMD_ADD_ADDR";
            case MPTCP_PM_CMD_DEL_ADDR -> "MPTCP_PM_CMD_DEL_ADDR";
            case MPTCP_PM_CMD_GET_ADDR -> "MPTCP_PM_CMD_GET_ADDR";
            case MPTCP_PM_CMD_FLUSH_ADDRS -> "MPTCP_PM_CMD_FLUSH_ADDRS";
            case MPTCP_PM_CMD_SET_LIMITS -> "MPTCP_PM_CMD_SET_LIMITS";
            case MPTCP_PM_CMD_GET_LIMITS -> "MPTCP_PM_CMD_GET_LIMITS";
            case MPTCP_PM_CMD_SET_FLAGS -> "MPTCP_PM_CMD_SET_FLAGS";
            default -> "MPTCP_PM_CMD " + cmd;
        };
    }
}
