package net.hybridproxy.proxy.pm;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.util.Optional;
import java.util.OptionalInt;

import static net.hybridproxy.proxy.pm.NetlinkConstants.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Event decoding from hand-built kernel messages. */
class MptcpEventDecoderTest {

    private static NetlinkMessage.Genl parse(NetlinkMessageBuilder b) throws Exception {
        byte[] bytes = b.build(0, 0);
        return NetlinkMessage.parseAll(bytes, bytes.length).get(0).genl();
    }

    private static byte[] be16(int port) {
        return new byte[] {(byte) (port >>> 8), (byte) port};
    }

    private static NetlinkMessageBuilder subflow(int cmd) throws Exception {
        return NetlinkMessageBuilder.genl(28, cmd, 1)
                .putU32(MPTCP_ATTR_TOKEN, 0xa12edfed)
                .putU16(MPTCP_ATTR_FAMILY, AF_INET)
                .putU8(MPTCP_ATTR_LOC_ID, 1)
                .putU8(MPTCP_ATTR_REM_ID, 2)
                .putBytes(MPTCP_ATTR_SADDR4, InetAddress.getByName("198.18.41.1").getAddress())
                .putBytes(MPTCP_ATTR_DADDR4, InetAddress.getByName("198.18.41.2").getAddress())
                .putBytes(MPTCP_ATTR_SPORT, be16(42795))
                .putBytes(MPTCP_ATTR_DPORT, be16(40000))
                .putU8(MPTCP_ATTR_BACKUP, 1)
                .putU32(MPTCP_ATTR_IF_IDX, 3);
    }

    @Test
    void decodesCreatedWithBigEndianPortsAndServerSideFlag() throws Exception {
        NetlinkMessageBuilder b = NetlinkMessageBuilder.genl(28, MPTCP_EVENT_CREATED, 1)
                .putU32(MPTCP_ATTR_TOKEN, 0xfffffffe)
                .putU16(MPTCP_ATTR_FAMILY, AF_INET6)
                .putBytes(MPTCP_ATTR_SADDR6, InetAddress.getByName("2001:db8::1").getAddress())
                .putBytes(MPTCP_ATTR_DADDR6, InetAddress.getByName("2001:db8::2").getAddress())
                .putBytes(MPTCP_ATTR_SPORT, be16(443))
                .putBytes(MPTCP_ATTR_DPORT, be16(51000))
                .putU16(MPTCP_ATTR_FLAGS, MPTCP_PM_EV_FLAG_SERVER_SIDE);
        MptcpEvent e = MptcpEventDecoder.decode(parse(b)).orElseThrow();
        assertEquals(new MptcpEvent.Created(0xfffffffeL, AF_INET6, InetAddress.getByName("2001:db8::1"), 443,
                InetAddress.getByName("2001:db8::2"), 51000, true), e);
        assertEquals(MptcpEvent.EventType.CREATED, e.kind());
    }

    @Test
    void decodesSubflowEventsIncludingResetReason() throws Exception {
        MptcpEvent est = MptcpEventDecoder.decode(parse(subflow(MPTCP_EVENT_SUB_ESTABLISHED))).orElseThrow();
        assertEquals(new MptcpEvent.SubflowEstablished(0xa12edfedL, AF_INET, 1, 2,
                InetAddress.getByName("198.18.41.1"), 42795, InetAddress.getByName("198.18.41.2"), 40000, true, 3,
                0), est);

        MptcpEvent closed = MptcpEventDecoder.decode(parse(subflow(MPTCP_EVENT_SUB_CLOSED)
                .putU8(MPTCP_ATTR_ERROR, 111).putU32(MPTCP_ATTR_RESET_REASON, 4))).orElseThrow();
        MptcpEvent.SubflowClosed c = (MptcpEvent.SubflowClosed) closed;
        assertEquals(111, c.error());
        assertEquals(OptionalInt.of(4), c.resetReason());

        MptcpEvent prio = MptcpEventDecoder.decode(parse(subflow(MPTCP_EVENT_SUB_PRIORITY))).orElseThrow();
        assertTrue(prio instanceof MptcpEvent.SubflowPriorityChanged p && p.backup());
    }

    @Test
    void decodesTheRestOfTheEventTypes() throws Exception {
        assertEquals(new MptcpEvent.Closed(7), MptcpEventDecoder.decode(parse(
                NetlinkMessageBuilder.genl(28, MPTCP_EVENT_CLOSED, 1).putU32(MPTCP_ATTR_TOKEN, 7))).orElseThrow());
        assertEquals(new MptcpEvent.Announced(7, 1, AF_INET, InetAddress.getByName("198.18.41.2"), 0),
                MptcpEventDecoder.decode(parse(NetlinkMessageBuilder.genl(28, MPTCP_EVENT_ANNOUNCED, 1)
                        .putU32(MPTCP_ATTR_TOKEN, 7).putU8(MPTCP_ATTR_REM_ID, 1).putU16(MPTCP_ATTR_FAMILY, AF_INET)
                        .putBytes(MPTCP_ATTR_DADDR4, InetAddress.getByName("198.18.41.2").getAddress())))
                        .orElseThrow());
        assertEquals(new MptcpEvent.Removed(7, 1), MptcpEventDecoder.decode(parse(
                NetlinkMessageBuilder.genl(28, MPTCP_EVENT_REMOVED, 1).putU32(MPTCP_ATTR_TOKEN, 7)
                        .putU8(MPTCP_ATTR_REM_ID, 1))).orElseThrow());
        assertEquals(new MptcpEvent.ListenerClosed(AF_INET, InetAddress.getByName("198.18.50.1"), 4444),
                MptcpEventDecoder.decode(parse(NetlinkMessageBuilder.genl(28, MPTCP_EVENT_LISTENER_CLOSED, 1)
                        .putU16(MPTCP_ATTR_FAMILY, AF_INET)
                        .putBytes(MPTCP_ATTR_SADDR4, InetAddress.getByName("198.18.50.1").getAddress())
                        .putBytes(MPTCP_ATTR_SPORT, be16(4444)))).orElseThrow());
    }

    @Test
    void unknownEventsAndAttributesAreSkippedNotFatal() throws Exception {
        assertEquals(Optional.empty(), MptcpEventDecoder.decode(parse(
                NetlinkMessageBuilder.genl(28, 99, 1).putU32(MPTCP_ATTR_TOKEN, 7))));
        MptcpEvent e = MptcpEventDecoder.decode(parse(NetlinkMessageBuilder.genl(28, MPTCP_EVENT_CLOSED, 1)
                .putU32(250, 1).putU32(MPTCP_ATTR_TOKEN, 7).putBytes(251, new byte[13]))).orElseThrow();
        assertEquals(new MptcpEvent.Closed(7), e);
    }

    @Test
    void missingTokenOrShortAddressIsMalformed() {
        assertThrows(MalformedNetlinkMessageException.class, () -> MptcpEventDecoder.decode(parse(
                NetlinkMessageBuilder.genl(28, MPTCP_EVENT_CLOSED, 1))));
        assertThrows(MalformedNetlinkMessageException.class, () -> MptcpEventDecoder.decode(parse(
                NetlinkMessageBuilder.genl(28, MPTCP_EVENT_CREATED, 1).putU32(MPTCP_ATTR_TOKEN, 7)
                        .putBytes(MPTCP_ATTR_SADDR4, new byte[2]))));
    }
}
