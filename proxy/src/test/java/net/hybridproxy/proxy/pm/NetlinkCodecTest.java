package net.hybridproxy.proxy.pm;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The builder and parser on hand-made byte arrays: exact layout, round trips, and hostile lengths. */
class NetlinkCodecTest {

    /** Little helper writing netlink's host-order integers, for building replies by hand. */
    private static final class Bytes {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Bytes u8(int v) {
            out.write(v);
            return this;
        }

        Bytes u16(int v) {
            ByteBuffer b = ByteBuffer.allocate(2).order(ByteOrder.nativeOrder()).putShort((short) v);
            out.writeBytes(b.array());
            return this;
        }

        Bytes u32(int v) {
            ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(v);
            out.writeBytes(b.array());
            return this;
        }

        Bytes raw(byte... v) {
            out.writeBytes(v);
            return this;
        }

        byte[] get() {
            return out.toByteArray();
        }
    }

    private static byte[] nlmsg(int type, int flags, int seq, byte[] payload) {
        return new Bytes().u32(16 + payload.length).u16(type).u16(flags).u32(seq).u32(0).raw(payload).get();
    }

    @Test
    void builderLaysOutHeadersAttributesPaddingAndNesting() {
        byte[] msg = NetlinkMessageBuilder.genl(0x1d, 1, 1)
                .beginNested(1)
                .putU16(1, 2)
                .putBytes(3, new byte[] {(byte) 198, 18, 20, 1})
                .putU8(2, 5)
                .endNested()
                .build(NetlinkConstants.NLM_F_REQUEST | NetlinkConstants.NLM_F_ACK, 42);

        byte[] expected = new Bytes()
                .u32(48).u16(0x1d).u16(0x05).u32(42).u32(0) // nlmsghdr
                .u8(1).u8(1).u16(0)                          // genlmsghdr
                .u16(28).u16(1 | NetlinkConstants.NLA_F_NESTED) // nest header, len = 4 + 8 + 8 + 8
                .u16(6).u16(1).u16(2).u16(0)                 // u16 + 2 bytes padding
                .u16(8).u16(3).raw((byte) 198, (byte) 18, (byte) 20, (byte) 1)
                .u16(5).u16(2).u8(5).raw((byte) 0, (byte) 0, (byte) 0) // u8 + 3 bytes padding
                .get();
        assertArrayEquals(expected, msg);
    }

    @Test
    void builderRejectsUnbalancedNesting() {
        assertThrows(IllegalStateException.class,
                () -> NetlinkMessageBuilder.genl(0x1d, 1, 1).beginNested(1).build(0, 1));
        assertThrows(IllegalStateException.class, () -> NetlinkMessageBuilder.genl(0x1d, 1, 1).endNested());
    }

    @Test
    void roundTripThroughParser() throws Exception {
        byte[] msg = NetlinkMessageBuilder.genl(0x1d, 3, 1)
                .putString(2, "mptcp_pm")
                .putU32(6, 0xdeadbeef)
                .beginNested(1).putU16(1, 10).putBytes(4, InetAddress.getByName("2001:db8::1").getAddress())
                .putU16(5, 4242).endNested()
                .build(0, 7);
        List<NetlinkMessage> parsed = NetlinkMessage.parseAll(msg, msg.length);
        assertEquals(1, parsed.size());
        NetlinkMessage m = parsed.get(0);
        assertEquals(0x1d, m.type());
        assertEquals(7, m.seq());
        NetlinkMessage.Genl g = m.genl();
        assertEquals(3, g.cmd());
        assertEquals(1, g.version());
        assertEquals("mptcp_pm", g.attributes().require(2, "name").string());
        assertEquals(0xdeadbeefL, g.attributes().require(6, "u32").u32());
        NetlinkAttribute nest = g.attributes().require(1, "nest");
        assertTrue(nest.nested());
        NetlinkAttributes inner = nest.nestedAttributes();
        assertEquals(10, inner.require(1, "family").u16());
        assertEquals(InetAddress.getByName("2001:db8::1"), inner.require(4, "addr6").address(16));
        assertEquals(4242, inner.require(5, "port").u16());
        assertFalse(inner.has(7));
    }

    @Test
    void parsesSeveralMessagesInOneDatagramAndToleratesMissingFinalPadding() throws Exception {
        byte[] first = NetlinkMessageBuilder.genl(0x1d, 3, 1).putU8(1, 9).build(2, 5);
        // A final message whose attribute is not padded out: legal for the last one in a datagram.
        byte[] lastPayload = new Bytes().u8(3).u8(1).u16(0).u16(5).u16(2).u8(7).get();
        byte[] last = nlmsg(0x1d, 2, 5, lastPayload);
        byte[] datagram = concat(first, last);
        List<NetlinkMessage> parsed = NetlinkMessage.parseAll(datagram, datagram.length);
        assertEquals(2, parsed.size());
        assertEquals(9, parsed.get(0).genl().attributes().require(1, "a").u8());
        assertEquals(7, parsed.get(1).genl().attributes().require(2, "b").u8());
    }

    @Test
    void truncatedAndMalformedInputRaiseClearExceptions() {
        byte[] good = NetlinkMessageBuilder.genl(0x1d, 3, 1).putU32(1, 1).build(0, 1);

        var shortHeader = assertThrows(MalformedNetlinkMessageException.class,
                () -> NetlinkMessage.parseAll(good, 10));
        assertTrue(shortHeader.getMessage().contains("truncated"), shortHeader.getMessage());

        var cut = assertThrows(MalformedNetlinkMessageException.class,
                () -> NetlinkMessage.parseAll(good, good.length - 4));
        assertTrue(cut.getMessage().contains("nlmsg_len 28 but 24 bytes remain"), cut.getMessage());

        byte[] tinyLen = nlmsg(0x1d, 0, 1, new byte[0]);
        tinyLen[0] = 8; // nlmsg_len below the header size would loop forever or underflow if trusted
        assertThrows(MalformedNetlinkMessageException.class, () -> NetlinkMessage.parseAll(tinyLen, tinyLen.length));

        byte[] hugeLen = nlmsg(0x1d, 0, 1, new byte[0]);
        hugeLen[3] = (byte) 0xff; // nlmsg_len near 4 GiB
        hugeLen[0] = (byte) 0xff;
        assertThrows(MalformedNetlinkMessageException.class, () -> NetlinkMessage.parseAll(hugeLen, hugeLen.length));

        byte[] attrTooLong = nlmsg(0x1d, 0, 1, new Bytes().u8(3).u8(1).u16(0).u16(40).u16(1).u32(0).get());
        var attr = assertThrows(MalformedNetlinkMessageException.class,
                () -> NetlinkMessage.parseAll(attrTooLong, attrTooLong.length).get(0).genl());
        assertTrue(attr.getMessage().contains("claims 40 bytes"), attr.getMessage());

        byte[] attrTooShort = nlmsg(0x1d, 0, 1, new Bytes().u8(3).u8(1).u16(0).u16(2).u16(1).get());
        assertThrows(MalformedNetlinkMessageException.class,
                () -> NetlinkMessage.parseAll(attrTooShort, attrTooShort.length).get(0).genl());

        byte[] dangling = nlmsg(0x1d, 0, 1, new Bytes().u8(3).u8(1).u16(0).u16(0).get());
        var tail = assertThrows(MalformedNetlinkMessageException.class,
                () -> NetlinkMessage.parseAll(dangling, dangling.length).get(0).genl());
        assertTrue(tail.getMessage().contains("trailing bytes"), tail.getMessage());

        byte[] noGenl = nlmsg(0x1d, 0, 1, new byte[] {3, 1});
        assertThrows(MalformedNetlinkMessageException.class,
                () -> NetlinkMessage.parseAll(noGenl, noGenl.length).get(0).genl());

        byte[] shortU32 = nlmsg(0x1d, 0, 1, new Bytes().u8(3).u8(1).u16(0).u16(6).u16(1).u16(7).u16(0).get());
        var narrow = assertThrows(MalformedNetlinkMessageException.class,
                () -> NetlinkMessage.parseAll(shortU32, shortU32.length).get(0).genl()
                        .attributes().require(1, "x").u32());
        assertTrue(narrow.getMessage().contains("too short for a s32"), narrow.getMessage());

        byte[] shortAddress = nlmsg(0x1d, 0, 1, new Bytes().u8(3).u8(1).u16(0).u16(7).u16(3)
                .raw((byte) 198, (byte) 18, (byte) 0, (byte) 0).get());
        assertThrows(MalformedNetlinkMessageException.class,
                () -> NetlinkMessage.parseAll(shortAddress, shortAddress.length).get(0).genl()
                        .attributes().require(3, "a").address(4));
    }

    /** Every truncation and many random corruptions of a real reply: only clean results or our exception. */
    @Test
    void fuzzedRepliesNeverEscapeAsIndexErrors() throws Exception {
        byte[] good = concat(
                NetlinkMessageBuilder.genl(0x1d, 3, 1).beginNested(1).putU16(1, 2).putBytes(3, new byte[4])
                        .putU8(2, 1).putU32(6, 2).putU32(7, 3).endNested().build(2, 9),
                nlmsg(NetlinkConstants.NLMSG_DONE, 2, 9, new Bytes().u32(0).get()));
        Random random = new Random(1234);
        for (int len = 0; len <= good.length; len++) {
            walk(good, len);
        }
        for (int i = 0; i < 20_000; i++) {
            byte[] copy = good.clone();
            for (int flips = 1 + random.nextInt(4); flips > 0; flips--) {
                copy[random.nextInt(copy.length)] = (byte) random.nextInt(256);
            }
            walk(copy, copy.length);
        }
    }

    private static void walk(byte[] data, int length) {
        try {
            for (NetlinkMessage m : NetlinkMessage.parseAll(data, length)) {
                if (m.isError()) {
                    m.error();
                    continue;
                }
                walkAttributes(m.genl().attributes());
                if (m.type() == 0x1d) {
                    m.genl().attributes().first(1).ifPresent(a -> {
                        try {
                            MptcpPathManagerClient.decodeEndpoint(a.nestedAttributes());
                        } catch (MalformedNetlinkMessageException expected) {
                            // fine
                        }
                    });
                }
            }
        } catch (MalformedNetlinkMessageException expected) {
            // fine: the only failure we allow
        }
    }

    private static void walkAttributes(NetlinkAttributes attrs) throws MalformedNetlinkMessageException {
        for (NetlinkAttribute a : attrs.all()) {
            a.bytes();
            a.string();
            try {
                a.u8();
                a.u16();
                a.be16();
                a.u32();
                a.address(4);
                a.address(16);
            } catch (MalformedNetlinkMessageException expected) {
                // short value: fine
            }
            if (a.nested()) {
                try {
                    walkAttributes(a.nestedAttributes());
                } catch (MalformedNetlinkMessageException expected) {
                    // fine
                }
            }
        }
    }

    @Test
    void errorWithCappedExtendedAck() throws Exception {
        byte[] text = "address already exists\0".getBytes(StandardCharsets.UTF_8);
        byte[] tlv = new Bytes().u16(4 + text.length).u16(NetlinkConstants.NLMSGERR_ATTR_MSG).raw(text).get();
        byte[] payload = new Bytes()
                .u32(-17)
                .u32(36).u16(0x1d).u16(5).u32(42).u32(0) // the echoed request header only (capped)
                .raw(tlv).get();
        byte[] msg = nlmsg(NetlinkConstants.NLMSG_ERROR,
                NetlinkConstants.NLM_F_CAPPED | NetlinkConstants.NLM_F_ACK_TLVS, 42, payload);
        NetlinkMessage m = NetlinkMessage.parseAll(msg, msg.length).get(0);
        assertTrue(m.isError());
        assertEquals(new NetlinkMessage.ErrorMessage(17, "address already exists"), m.error());
    }

    @Test
    void errorWithEchoedRequestBeforeExtendedAck() throws Exception {
        byte[] request = NetlinkMessageBuilder.genl(0x1d, 5, 1).putU32(3, 9).build(5, 3);
        byte[] text = "limit greater than maximum\0".getBytes(StandardCharsets.UTF_8);
        byte[] payload = new Bytes().u32(-22).raw(request)
                .u16(4 + text.length).u16(NetlinkConstants.NLMSGERR_ATTR_MSG).raw(text).get();
        byte[] msg = nlmsg(NetlinkConstants.NLMSG_ERROR, NetlinkConstants.NLM_F_ACK_TLVS, 3, payload);
        assertEquals(new NetlinkMessage.ErrorMessage(22, "limit greater than maximum"),
                NetlinkMessage.parseAll(msg, msg.length).get(0).error());
    }

    @Test
    void errorKeepsErrnoWhenTheAckSectionIsGarbage() throws Exception {
        byte[] payload = new Bytes().u32(-17).u32(9999).u16(0).u16(0).u32(0).u32(0).get();
        byte[] msg = nlmsg(NetlinkConstants.NLMSG_ERROR, NetlinkConstants.NLM_F_ACK_TLVS, 1, payload);
        NetlinkMessage.ErrorMessage e = NetlinkMessage.parseAll(msg, msg.length).get(0).error();
        assertEquals(17, e.errno());
        assertNull(e.extAck());

        byte[] ack = nlmsg(NetlinkConstants.NLMSG_ERROR, 0, 1, new Bytes().u32(0).get());
        assertEquals(0, NetlinkMessage.parseAll(ack, ack.length).get(0).error().errno());

        byte[] empty = nlmsg(NetlinkConstants.NLMSG_ERROR, 0, 1, new byte[2]);
        assertThrows(MalformedNetlinkMessageException.class,
                () -> NetlinkMessage.parseAll(empty, empty.length).get(0).error());
    }

    @Test
    void decodesEndpointAttributes() throws Exception {
        byte[] msg = NetlinkMessageBuilder.genl(0x1d, 3, 1).beginNested(1)
                .putU16(1, 2).putU8(2, 3).putBytes(3, new byte[] {(byte) 198, 18, 21, 1})
                .putU16(5, 0).putU32(6, EndpointFlag.SUBFLOW.bit() | EndpointFlag.BACKUP.bit() | 1 << 20)
                .putU32(7, 4).endNested().build(0, 1);
        NetlinkAttributes nest = NetlinkMessage.parseAll(msg, msg.length).get(0).genl().attributes()
                .require(1, "addr").nestedAttributes();
        MptcpEndpoint e = MptcpPathManagerClient.decodeEndpoint(nest);
        assertEquals(new MptcpEndpoint(3, InetAddress.getByName("198.18.21.1"), 0,
                Set.of(EndpointFlag.SUBFLOW, EndpointFlag.BACKUP), 4), e);
    }

    @Test
    void exceptionNamesCommandSubjectErrnoAndKernelText() {
        NetlinkException e = new NetlinkException("MPTCP_PM_CMD_ADD_ADDR", "198.18.20.1", 17, null);
        assertEquals("MPTCP_PM_CMD_ADD_ADDR 198.18.20.1 failed: EEXIST", e.getMessage());
        NetlinkException withText = new NetlinkException("MPTCP_PM_CMD_SET_LIMITS", "", 22, "limit too high");
        assertEquals("MPTCP_PM_CMD_SET_LIMITS failed: EINVAL (kernel: limit too high)", withText.getMessage());
        assertEquals("errno 200", NetlinkErrno.name(200));
        assertEquals("ENOBUFS", NetlinkErrno.name(105));
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
