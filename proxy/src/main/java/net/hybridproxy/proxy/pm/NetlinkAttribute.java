package net.hybridproxy.proxy.pm;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * One parsed attribute: its type (flags masked off), whether the kernel marked it nested, and a read-only view of
 * its value. Every accessor checks the value is long enough for what it reads.
 */
record NetlinkAttribute(int type, boolean nested, ByteBuffer value) {

    NetlinkAttribute {
        // A view of its own, read-only, in the kernel's byte order, starting at 0: the parser's slices already are
        // (one buffer per attribute); anything else is copied into one. asReadOnlyBuffer() resets the byte order to
        // big-endian, so the order is set after it.
        if (!value.isReadOnly() || value.position() != 0 || value.order() != ByteOrder.nativeOrder()) {
            value = value.slice().asReadOnlyBuffer().order(ByteOrder.nativeOrder());
        }
    }

    int length() {
        return value.remaining();
    }

    int u8() throws MalformedNetlinkMessageException {
        need(1, "u8");
        return value.get(0) & 0xff;
    }

    int u16() throws MalformedNetlinkMessageException {
        need(2, "u16");
        return value.getShort(0) & 0xffff;
    }

    /** A 16-bit value in network byte order (the event port attributes). */
    int be16() throws MalformedNetlinkMessageException {
        need(2, "be16");
        return ((value.get(0) & 0xff) << 8) | (value.get(1) & 0xff);
    }

    int s32() throws MalformedNetlinkMessageException {
        need(4, "s32");
        return value.getInt(0);
    }

    long u32() throws MalformedNetlinkMessageException {
        return Integer.toUnsignedLong(s32());
    }

    byte[] bytes() {
        byte[] out = new byte[value.remaining()];
        value.get(0, out);
        return out;
    }

    /** A string up to its first NUL (or the end of the value when the kernel left the NUL out). */
    String string() {
        int n = value.remaining();
        int end = 0;
        while (end < n && value.get(end) != 0) {
            end++;
        }
        byte[] out = new byte[end];
        value.get(0, out);
        return new String(out, StandardCharsets.UTF_8);
    }

    /** An address given as raw bytes in network order: exactly {@code size} (4 or 16) bytes are used. */
    InetAddress address(int size) throws MalformedNetlinkMessageException {
        need(size, size == 4 ? "IPv4 address" : "IPv6 address");
        byte[] raw = new byte[size];
        value.get(0, raw);
        try {
            return InetAddress.getByAddress(raw);
        } catch (UnknownHostException e) {
            throw new AssertionError("4 or 16 bytes are always a valid address", e);
        }
    }

    NetlinkAttributes nestedAttributes() throws MalformedNetlinkMessageException {
        return NetlinkAttributes.parse(value, "attribute " + type);
    }

    private void need(int size, String what) throws MalformedNetlinkMessageException {
        if (value.remaining() < size) {
            throw new MalformedNetlinkMessageException(
                    "attribute " + type + " holds " + value.remaining() + " bytes, too short for a " + what);
        }
    }
}
