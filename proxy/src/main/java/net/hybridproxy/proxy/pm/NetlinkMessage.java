package net.hybridproxy.proxy.pm;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static net.hybridproxy.proxy.pm.NetlinkConstants.GENL_HDRLEN;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLMSGERR_ATTR_MSG;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLMSG_ERROR;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLMSG_HDRLEN;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLM_F_ACK_TLVS;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLM_F_CAPPED;
import static net.hybridproxy.proxy.pm.NetlinkConstants.align;

/** One netlink message out of a received datagram: its header fields and a read-only view of its payload. */
record NetlinkMessage(int type, int flags, int seq, int portId, ByteBuffer payload) {

    NetlinkMessage {
        // asReadOnlyBuffer() resets the byte order to big-endian, so the order is set after it.
        payload = payload.slice().asReadOnlyBuffer().order(ByteOrder.nativeOrder());
    }

    /** A kernel error or acknowledgement: {@code errno} is positive, or 0 for a plain ACK. */
    record ErrorMessage(int errno, String extAck) {
    }

    /** A generic-netlink message: command, family version and top-level attributes. */
    record Genl(int cmd, int version, NetlinkAttributes attributes) {
    }

    /** Splits a datagram into its messages, checking each nlmsg_len against what was actually received. */
    static List<NetlinkMessage> parseAll(byte[] data, int length) throws MalformedNetlinkMessageException {
        if (length < 0 || length > data.length) {
            throw new IllegalArgumentException("length " + length + " outside a buffer of " + data.length);
        }
        ByteBuffer buf = ByteBuffer.wrap(data, 0, length).slice().order(ByteOrder.nativeOrder());
        List<NetlinkMessage> out = new ArrayList<>();
        int at = 0;
        while (at < length) {
            int remaining = length - at;
            if (remaining < NLMSG_HDRLEN) {
                throw new MalformedNetlinkMessageException(
                        "truncated netlink datagram: " + remaining + " trailing bytes, a header needs 16");
            }
            long len = Integer.toUnsignedLong(buf.getInt(at));
            if (len < NLMSG_HDRLEN || len > remaining) {
                throw new MalformedNetlinkMessageException(
                        "truncated netlink message: nlmsg_len " + len + " but " + remaining + " bytes remain");
            }
            int type = buf.getShort(at + 4) & 0xffff;
            int flags = buf.getShort(at + 6) & 0xffff;
            int seq = buf.getInt(at + 8);
            int pid = buf.getInt(at + 12);
            out.add(new NetlinkMessage(type, flags, seq, pid,
                    buf.slice(at + NLMSG_HDRLEN, (int) len - NLMSG_HDRLEN)));
            at += Math.min(align((int) len), remaining);
        }
        return out;
    }

    boolean isError() {
        return type == NLMSG_ERROR;
    }

    /**
     * Decodes an NLMSG_ERROR payload: a negative errno, the echoed request header (and its payload unless the
     * reply is capped), then extended-ack TLVs when NLM_F_ACK_TLVS is set. A malformed ack section only loses the
     * message text: the errno is what callers act on, and it is read first.
     */
    ErrorMessage error() throws MalformedNetlinkMessageException {
        if (payload.remaining() < 4) {
            throw new MalformedNetlinkMessageException(
                    "NLMSG_ERROR with " + payload.remaining() + " payload bytes, too short for an error code");
        }
        int errno = -payload.getInt(0);
        String extAck = null;
        if ((flags & NLM_F_ACK_TLVS) != 0) {
            extAck = extAckMessage();
        }
        return new ErrorMessage(errno, extAck);
    }

    private String extAckMessage() {
        int echoedStart = 4;
        if (payload.remaining() < echoedStart + NLMSG_HDRLEN) {
            return null;
        }
        int skip = NLMSG_HDRLEN;
        if ((flags & NLM_F_CAPPED) == 0) {
            long echoedLen = Integer.toUnsignedLong(payload.getInt(echoedStart));
            if (echoedLen < NLMSG_HDRLEN || echoedLen > payload.remaining() - echoedStart) {
                return null;
            }
            skip = align((int) echoedLen);
        }
        int tlvStart = echoedStart + skip;
        if (tlvStart >= payload.remaining()) {
            return null;
        }
        try {
            NetlinkAttributes tlvs = NetlinkAttributes.parse(payload.slice(tlvStart, payload.remaining() - tlvStart),
                    "extended ack");
            return tlvs.first(NLMSGERR_ATTR_MSG).map(NetlinkAttribute::string).orElse(null);
        } catch (MalformedNetlinkMessageException e) {
            return null;
        }
    }

    /** Decodes the payload as genlmsghdr + attributes. */
    Genl genl() throws MalformedNetlinkMessageException {
        if (payload.remaining() < GENL_HDRLEN) {
            throw new MalformedNetlinkMessageException("generic netlink message of type " + type + " has "
                    + payload.remaining() + " payload bytes, too short for a genlmsghdr");
        }
        int cmd = payload.get(0) & 0xff;
        int version = payload.get(1) & 0xff;
        NetlinkAttributes attrs = NetlinkAttributes.parse(
                payload.slice(GENL_HDRLEN, payload.remaining() - GENL_HDRLEN), "command " + cmd);
        return new Genl(cmd, version, attrs);
    }
}
