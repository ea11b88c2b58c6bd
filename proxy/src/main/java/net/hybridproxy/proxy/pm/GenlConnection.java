package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.nativeio.Errno;
import net.hybridproxy.proxy.nativeio.NativeException;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static net.hybridproxy.proxy.pm.NetlinkConstants.CTRL_ATTR_FAMILY_ID;
import static net.hybridproxy.proxy.pm.NetlinkConstants.CTRL_ATTR_FAMILY_NAME;
import static net.hybridproxy.proxy.pm.NetlinkConstants.CTRL_ATTR_MCAST_GROUPS;
import static net.hybridproxy.proxy.pm.NetlinkConstants.CTRL_ATTR_MCAST_GRP_ID;
import static net.hybridproxy.proxy.pm.NetlinkConstants.CTRL_ATTR_MCAST_GRP_NAME;
import static net.hybridproxy.proxy.pm.NetlinkConstants.CTRL_ATTR_VERSION;
import static net.hybridproxy.proxy.pm.NetlinkConstants.CTRL_CMD_GETFAMILY;
import static net.hybridproxy.proxy.pm.NetlinkConstants.CTRL_VERSION;
import static net.hybridproxy.proxy.pm.NetlinkConstants.GENL_ID_CTRL;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLMSG_DONE;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLMSG_NOOP;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLMSG_OVERRUN;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLM_F_ACK;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLM_F_DUMP;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLM_F_DUMP_INTR;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLM_F_REQUEST;

/**
 * Synchronous request/response over one netlink socket: numbers each request, reads until that request's ACK or
 * NLMSG_DONE, and ignores replies to earlier requests (one that timed out may still answer late).
 */
final class GenlConnection implements AutoCloseable {
    private static final int DUMP_ATTEMPTS = 3;

    private final NetlinkSocket socket;
    private final Duration replyTimeout;
    private int nextSeq = (int) (System.nanoTime() & 0x3fffffff) | 1;

    GenlConnection(NetlinkSocket socket, Duration replyTimeout) {
        this.socket = socket;
        this.replyTimeout = replyTimeout;
    }

    static GenlConnection open(Duration replyTimeout) throws IOException {
        return new GenlConnection(NetlinkSocket.open(replyTimeout), replyTimeout);
    }

    NetlinkSocket socket() {
        return socket;
    }

    /**
     * A "do" request with NLM_F_ACK: returns any reply messages the kernel sent before its ACK.
     *
     * @param command how the failure should name the request, e.g. MPTCP_PM_CMD_ADD_ADDR
     * @param subject what the request was about (an address, an id) for the error message; may be empty
     */
    List<NetlinkMessage.Genl> execute(NetlinkMessageBuilder request, String command, String subject)
            throws IOException {
        int seq = send(request, NLM_F_REQUEST | NLM_F_ACK);
        List<NetlinkMessage.Genl> replies = new ArrayList<>();
        while (true) {
            for (NetlinkMessage m : receive(command, subject)) {
                if (m.seq() != seq || m.type() == NLMSG_NOOP) {
                    continue;
                }
                if (m.isError()) {
                    NetlinkMessage.ErrorMessage e = m.error();
                    if (e.errno() != 0) {
                        throw new NetlinkException(command, subject, e.errno(), e.extAck());
                    }
                    return replies;
                }
                if (m.type() == NLMSG_DONE || m.type() == NLMSG_OVERRUN) {
                    throw new MalformedNetlinkMessageException(
                            command + ": unexpected control message " + m.type() + " in reply to a request");
                }
                replies.add(m.genl());
            }
        }
    }

    /** A dump request: returns every message up to NLMSG_DONE, retrying if the kernel flags it inconsistent. */
    List<NetlinkMessage.Genl> dump(NetlinkMessageBuilder request, String command) throws IOException {
        for (int attempt = 1; ; attempt++) {
            int seq = send(request, NLM_F_REQUEST | NLM_F_DUMP);
            List<NetlinkMessage.Genl> replies = new ArrayList<>();
            boolean interrupted = false;
            boolean done = false;
            while (!done) {
                for (NetlinkMessage m : receive(command, "")) {
                    if (m.seq() != seq || m.type() == NLMSG_NOOP) {
                        continue;
                    }
                    interrupted |= (m.flags() & NLM_F_DUMP_INTR) != 0;
                    if (m.isError()) {
                        NetlinkMessage.ErrorMessage e = m.error();
                        throw new NetlinkException(command, "dump", e.errno() == 0 ? Errno.EINVAL : e.errno(),
                                e.extAck());
                    }
                    if (m.type() == NLMSG_DONE) {
                        // NLMSG_DONE carries the dump's final status as an int; non-zero means it failed midway.
                        if (m.payload().remaining() >= 4 && m.payload().getInt(0) < 0) {
                            throw new NetlinkException(command, "dump", -m.payload().getInt(0), null);
                        }
                        done = true;
                        break;
                    }
                    replies.add(m.genl());
                }
            }
            // The kernel sets DUMP_INTR when the list changed while it was being dumped; a fresh dump is exact.
            if (!interrupted || attempt == DUMP_ATTEMPTS) {
                return replies;
            }
        }
    }

    private int send(NetlinkMessageBuilder request, int flags) throws IOException {
        int seq = nextSeq++;
        if (nextSeq == 0) {
            nextSeq = 1;
        }
        socket.send(request.build(flags, seq));
        return seq;
    }

    private List<NetlinkMessage> receive(String command, String subject) throws IOException {
        byte[] datagram;
        try {
            datagram = socket.receive();
        } catch (NativeException e) {
            if (e.errno() == Errno.EAGAIN) {
                throw new IOException(command + (subject.isEmpty() ? "" : " " + subject)
                        + ": no reply from the kernel within " + replyTimeout.toMillis() + " ms");
            }
            throw e;
        }
        return NetlinkMessage.parseAll(datagram, datagram.length);
    }

    /** Asks the generic-netlink controller for a family's id, version and multicast groups. */
    GenericNetlinkFamily resolveFamily(String name, String missingAdvice) throws IOException {
        NetlinkMessageBuilder request = NetlinkMessageBuilder.genl(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_VERSION)
                .putString(CTRL_ATTR_FAMILY_NAME, name);
        List<NetlinkMessage.Genl> replies;
        try {
            replies = execute(request, "CTRL_CMD_GETFAMILY", name);
        } catch (NetlinkException e) {
            if (e.errno() == Errno.ENOENT) {
                throw new IOException(missingAdvice, e);
            }
            throw e;
        }
        if (replies.isEmpty()) {
            throw new MalformedNetlinkMessageException("CTRL_CMD_GETFAMILY " + name + ": the controller sent no reply");
        }
        NetlinkAttributes attrs = replies.get(0).attributes();
        int id = attrs.require(CTRL_ATTR_FAMILY_ID, "CTRL_ATTR_FAMILY_ID").u16();
        int version = attrs.first(CTRL_ATTR_VERSION).isPresent()
                ? (int) attrs.require(CTRL_ATTR_VERSION, "CTRL_ATTR_VERSION").u32() : 0;
        Map<String, Integer> groups = new HashMap<>();
        var groupList = attrs.first(CTRL_ATTR_MCAST_GROUPS);
        if (groupList.isPresent()) {
            // A list of nests indexed 1..n, each holding a group's name and id.
            for (NetlinkAttribute entry : groupList.get().nestedAttributes().all()) {
                NetlinkAttributes group = entry.nestedAttributes();
                var groupName = group.first(CTRL_ATTR_MCAST_GRP_NAME);
                var groupId = group.first(CTRL_ATTR_MCAST_GRP_ID);
                if (groupName.isPresent() && groupId.isPresent()) {
                    groups.put(groupName.get().string(), (int) groupId.get().u32());
                }
            }
        }
        return new GenericNetlinkFamily(name, id, version, groups);
    }

    @Override
    public void close() {
        socket.close();
    }
}
