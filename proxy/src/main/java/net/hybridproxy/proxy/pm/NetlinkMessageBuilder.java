package net.hybridproxy.proxy.pm;

import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;

import static net.hybridproxy.proxy.pm.NetlinkConstants.GENL_HDRLEN;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLA_F_NESTED;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLA_HDRLEN;
import static net.hybridproxy.proxy.pm.NetlinkConstants.NLMSG_HDRLEN;
import static net.hybridproxy.proxy.pm.NetlinkConstants.align;

/**
 * Builds one generic-netlink request: nlmsghdr, genlmsghdr, then attributes, each padded to 4 bytes. Lengths of
 * the message and of nested attributes are patched in when they are closed, so callers cannot get them wrong.
 *
 * <p>Integers are in host byte order, as netlink expects; attributes the kernel wants in network order (IPv4
 * addresses) are passed as raw bytes.
 */
final class NetlinkMessageBuilder {
    private static final boolean LITTLE = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

    private byte[] buf = new byte[128];
    private int pos;
    private final Deque<Integer> openNests = new ArrayDeque<>();

    private NetlinkMessageBuilder() {
    }

    /**
     * A request to generic-netlink family {@code familyId}, command {@code cmd}, at family {@code version}. The
     * nlmsg flags and sequence number are given to {@link #build}, by the transport that knows do from dump.
     */
    static NetlinkMessageBuilder genl(int familyId, int cmd, int version) {
        NetlinkMessageBuilder b = new NetlinkMessageBuilder();
        b.writeInt(0); // nlmsg_len, patched in build()
        b.writeShort(familyId);
        b.writeShort(0); // nlmsg_flags, patched in build()
        b.writeInt(0); // nlmsg_seq, patched in build()
        b.writeInt(0); // nlmsg_pid: 0 lets the kernel fill in our port id
        b.writeByte(cmd);
        b.writeByte(version);
        b.writeShort(0); // genlmsghdr.reserved
        return b;
    }

    NetlinkMessageBuilder putU8(int type, int value) {
        header(type, 1);
        writeByte(value);
        pad();
        return this;
    }

    NetlinkMessageBuilder putU16(int type, int value) {
        header(type, 2);
        writeShort(value);
        pad();
        return this;
    }

    NetlinkMessageBuilder putU32(int type, int value) {
        header(type, 4);
        writeInt(value);
        pad();
        return this;
    }

    NetlinkMessageBuilder putBytes(int type, byte[] value) {
        header(type, value.length);
        ensure(value.length);
        System.arraycopy(value, 0, buf, pos, value.length);
        pos += value.length;
        pad();
        return this;
    }

    /** A NUL-terminated string, as the kernel's NLA_NUL_STRING / NLA_STRING policies accept. */
    NetlinkMessageBuilder putString(int type, String value) {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        byte[] withNul = Arrays.copyOf(bytes, bytes.length + 1);
        return putBytes(type, withNul);
    }

    /** Opens a nested attribute; every attribute added until {@link #endNested()} goes inside it. */
    NetlinkMessageBuilder beginNested(int type) {
        openNests.push(pos);
        header(type | NLA_F_NESTED, 0);
        return this;
    }

    NetlinkMessageBuilder endNested() {
        if (openNests.isEmpty()) {
            throw new IllegalStateException("endNested() without beginNested()");
        }
        int start = openNests.pop();
        putShortAt(start, checkedLength(pos - start));
        return this;
    }

    /** The finished datagram, with length, flags and sequence number filled in. */
    byte[] build(int flags, int seq) {
        if (!openNests.isEmpty()) {
            throw new IllegalStateException(openNests.size() + " nested attribute(s) left open");
        }
        putIntAt(0, pos);
        putShortAt(6, flags);
        putIntAt(8, seq);
        return Arrays.copyOf(buf, pos);
    }

    /** Size so far, for tests and for callers that check it against socket limits. */
    int length() {
        return pos;
    }

    static int headerLength() {
        return NLMSG_HDRLEN + GENL_HDRLEN;
    }

    private void header(int type, int payloadLength) {
        writeShort(checkedLength(NLA_HDRLEN + payloadLength));
        writeShort(type);
    }

    private static int checkedLength(int length) {
        if (length > 0xffff) {
            throw new IllegalArgumentException("netlink attribute of " + length + " bytes exceeds 65535");
        }
        return length;
    }

    private void pad() {
        int padded = align(pos);
        ensure(padded - pos);
        while (pos < padded) {
            buf[pos++] = 0;
        }
    }

    private void ensure(int more) {
        if (pos + more > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, pos + more));
        }
    }

    private void writeByte(int v) {
        ensure(1);
        buf[pos++] = (byte) v;
    }

    private void writeShort(int v) {
        ensure(2);
        putShortAt(pos, v);
        pos += 2;
    }

    private void writeInt(int v) {
        ensure(4);
        putIntAt(pos, v);
        pos += 4;
    }

    private void putShortAt(int at, int v) {
        if (LITTLE) {
            buf[at] = (byte) v;
            buf[at + 1] = (byte) (v >>> 8);
        } else {
            buf[at] = (byte) (v >>> 8);
            buf[at + 1] = (byte) v;
        }
    }

    private void putIntAt(int at, int v) {
        if (LITTLE) {
            buf[at] = (byte) v;
            buf[at + 1] = (byte) (v >>> 8);
            buf[at + 2] = (byte) (v >>> 16);
            buf[at + 3] = (byte) (v >>> 24);
        } else {
            buf[at] = (byte) (v >>> 24);
            buf[at + 1] = (byte) (v >>> 16);
            buf[at + 2] = (byte) (v >>> 8);
            buf[at + 3] = (byte) v;
        }
    }
}
