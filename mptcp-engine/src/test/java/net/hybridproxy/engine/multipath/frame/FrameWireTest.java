package net.hybridproxy.engine.multipath.frame;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Pins the bytes of each frame, so that a change of layout is a test failure and not a surprise. */
class FrameWireTest {

    private static final HexFormat HEX = HexFormat.of();

    private static void assertWire(String hex, Frame frame) throws FrameException {
        byte[] expected = HEX.parseHex(hex.replace(" ", ""));
        assertArrayEquals(expected, frame.encode(), frame.toString());
        FrameDecodeResult.DecodedFrame decoded = assertInstanceOf(FrameDecodeResult.DecodedFrame.class,
                FrameCodec.decode(ByteBuffer.wrap(expected)));
        assertEquals(frame, decoded.frame());
    }

    @Test
    void capableSynStartsWithTheMagicAndCarriesTheKeyId() throws Exception {
        assertWire("01 00 0011 48504d50 01 00 0102030405060708 02 6131",
                new CapableSyn(1, SubflowPriority.PRIMARY, 0x0102030405060708L, "a1"));
    }

    @Test
    void joinSynCarriesPriorityAddressIdTokenAndNonce() throws Exception {
        assertWire("04 00 000f 48504d50 01 01 03 66840dda 11223344",
                new JoinSyn(1, SubflowPriority.OVERFLOW, 3, 0x66840dda, 0x11223344));
    }

    @Test
    void dataWithFinSetsFlagBitZero() throws Exception {
        assertWire("10 01 000f 00000007 0000000000000100 616263",
                new Data(7, 256, true, new byte[] {'a', 'b', 'c'}));
    }

    @Test
    void bareDataFinHasNoPayload() throws Exception {
        Data fin = new Data(7, 259, true, new byte[0]);
        assertWire("10 01 000c 00000007 0000000000000103", fin);
        assertEquals(260, fin.end());
    }

    @Test
    void dataAckCarriesTheWindowRelativeToTheAck() throws Exception {
        DataAck ack = new DataAck(7, 1000, 65536);
        assertWire("11 00 0010 00000007 00000000000003e8 00010000", ack);
        assertEquals(1000 + 65536, ack.rightEdge());
    }

    @Test
    void addAddrCarriesTheHmacUnlessEchoed() throws Exception {
        InetAddress address = InetAddress.getByName("198.18.0.10");
        AddAddr announce = new AddAddr(1, address, 0, false, 0x2982c3b2ce717cfaL);
        assertWire("20 00 0010 01 04 c612000a 0000 2982c3b2ce717cfa", announce);
        assertWire("20 01 0008 01 04 c612000a 0000", announce.echoed());
    }

    @Test
    void smallFramesHaveTheirDocumentedLayout() throws Exception {
        assertWire("07 01 0001 05", new SubflowReset(ResetReason.UNACCEPTABLE_PERFORMANCE, true));
        assertWire("12 00 000d 00000000 a1b2c3d4e5f60718 03",
                new FastClose(0, 0xa1b2c3d4e5f60718L, ResetReason.ADMINISTRATIVELY_PROHIBITED));
        assertWire("21 00 0002 01 02", new RemoveAddr(List.of(1, 2)));
        assertWire("22 00 0001 02", new MpPrio(SubflowPriority.BACKUP));
        assertWire("30 00 0008 0000000000000001", new Ping(1));
        assertWire("31 00 0008 0000000000000001", new Pong(1));
        assertWire("05 00 000d 00 9cc8fa1357af7dd2 aabbccdd", new JoinSynAck(0, 0x9cc8fa1357af7dd2L, 0xaabbccdd));
    }

    @Test
    void anUnknownTypeIsRefusedFromItsFirstByte() {
        FrameException e = assertThrows(FrameException.class, () -> FrameCodec.decode(ByteBuffer.wrap(new byte[] {0x7f})));
        assertTrue(e.getMessage().contains("unknown frame type 0x7f"), e.getMessage());
        assertEquals(ResetReason.PROTOCOL_ERROR, e.reason());
    }

    @Test
    void aBodyLongerThanItsTypeAllowsIsRefusedFromTheHeader() {
        FrameException e = assertThrows(FrameException.class,
                () -> FrameCodec.decode(ByteBuffer.wrap(HEX.parseHex("300000ff"))));
        assertTrue(e.getMessage().contains("at most 8"), e.getMessage());
        assertThrows(FrameException.class, () -> FrameCodec.decode(ByteBuffer.wrap(HEX.parseHex("1000ffff"))));
    }

    @Test
    void theWrongMagicSaysThePeerDoesNotSpeakTheProtocol() {
        byte[] http = "GET / HTTP/1.1\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        assertThrows(FrameException.class, () -> FrameCodec.decode(ByteBuffer.wrap(http)));
        byte[] badMagic = new CapableSyn(1, SubflowPriority.PRIMARY, 1, "k").encode();
        badMagic[4] = 'X';
        FrameException e = assertThrows(FrameException.class, () -> FrameCodec.decode(ByteBuffer.wrap(badMagic)));
        assertTrue(e.getMessage().contains("does not speak this protocol"), e.getMessage());
    }

    @Test
    void fieldsAreBoundsCheckedOnReceipt() {
        List<String> refused = List.of(
                "10 00 000c 00000000 0000000000000000",            // DATA for stream 0
                "10 00 000c 00000001 0000000000000000",            // DATA with neither payload nor FIN
                "10 00 000d 00000001 8000000000000000 00",         // DSN at 2^63
                "11 00 0010 00000001 ffffffffffffffff 00000000",   // DATA_ACK at 2^64-1
                "20 00 0010 01 05 c612000a 0000 0000000000000000", // IP version 5
                "20 00 0011 01 04 c612000a 0000 0000000000000000 00", // a byte too many
                "21 00 0000",                                      // REMOVE_ADDR with no id
                "22 00 0001 03",                                   // priority 3
                "06 00 0013 00000000000000000000000000000000000000"); // JOIN_ACK one byte short
        for (String hex : refused) {
            byte[] bytes = HEX.parseHex(hex.replace(" ", ""));
            assertThrows(FrameException.class, () -> FrameCodec.decode(ByteBuffer.wrap(bytes)), hex);
        }
    }

    @Test
    void constructorsRefuseValuesWithoutAWireForm() {
        assertThrows(IllegalArgumentException.class, () -> new Data(0, 0, true, new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> new Data(1, 0, false, new byte[Data.MAX_PAYLOAD_V3 + 1]));
        assertThrows(IllegalArgumentException.class, () -> new Data(1L << 32, 0, true, new byte[0]));
        assertThrows(IllegalArgumentException.class, () -> new CapableSyn(1, SubflowPriority.PRIMARY, 0, "has space"));
        assertThrows(IllegalArgumentException.class, () -> new JoinAck(new byte[19]));
        assertThrows(IllegalArgumentException.class, () -> new RemoveAddr(List.of()));
    }

    @Test
    void theReaderSaysHowManyBytesItsIncompleteFrameLacks() throws Exception {
        byte[] wire = ByteBuffer.allocate(64).put(new Data(7, 0, false, new byte[20]).encode())
                .put(new DataAck(7, 20, 65536).encode()).flip().array();
        int dataLength = Frame.HEADER_LENGTH + Data.FIXED_BODY_LENGTH + 20;
        FrameReader reader = new FrameReader();
        assertEquals(0, reader.missingBytes(), "nothing held");
        assertEquals(null, reader.read(ByteBuffer.wrap(wire, 0, 2)));
        assertEquals(Frame.HEADER_LENGTH - 2, reader.missingBytes(), "the rest of the header, as its length is unknown");
        assertEquals(null, reader.read(ByteBuffer.wrap(wire, 2, 10)));
        assertEquals(dataLength - 12, reader.missingBytes(), "the rest of the frame its header announced");
        ByteBuffer rest = ByteBuffer.wrap(wire, 12, dataLength - 12 + 5);
        assertInstanceOf(Data.class, reader.read(rest));
        assertEquals(0, reader.missingBytes(), "a frame boundary: nothing held until read goes on");
        assertEquals(null, reader.read(rest));
        int ackLength = new DataAck(7, 20, 65536).encodedLength();
        assertEquals(ackLength - 5, reader.missingBytes(), "five bytes of the DATA_ACK held");
        assertInstanceOf(DataAck.class, reader.read(ByteBuffer.wrap(wire, dataLength + 5, ackLength - 5)));
        assertEquals(0, reader.missingBytes());
    }

    @Test
    void aDataPayloadIsReadIntoItsOwnArrayWhateverTheCuts() throws Exception {
        byte[] payload = new byte[Data.MAX_PAYLOAD];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) (i * 31);
        }
        byte[] wire = new Data(9, 1L << 40, true, payload, true).encode();
        int prefix = Frame.HEADER_LENGTH + Data.FIXED_BODY_LENGTH;
        FrameReader reader = new FrameReader();
        assertEquals(null, reader.read(ByteBuffer.wrap(wire, 0, prefix - 1)));
        assertEquals(wire.length - prefix + 1, reader.missingBytes());
        assertEquals(null, reader.read(ByteBuffer.wrap(wire, prefix - 1, 1)));
        assertEquals(prefix, reader.bufferedBytes(), "the header and fixed body, no payload yet");
        assertEquals(wire.length - prefix, reader.missingBytes());
        assertEquals(null, reader.read(ByteBuffer.wrap(wire, prefix, 1000)));
        assertEquals(prefix + 1000, reader.bufferedBytes());
        assertEquals(wire.length - prefix - 1000, reader.missingBytes());
        Data data = (Data) reader.read(ByteBuffer.wrap(wire, prefix + 1000, wire.length - prefix - 1000));
        assertEquals(new Data(9, 1L << 40, true, payload, true), data);
        assertEquals(0, reader.bufferedBytes());
        assertEquals(0, reader.missingBytes());
    }

    @Test
    void aDataFrameReadInPiecesIsCheckedAsAWholeOne() {
        ByteBuffer wire = ByteBuffer.allocate(Frame.HEADER_LENGTH + Data.FIXED_BODY_LENGTH + 100);
        wire.put((byte) FrameType.DATA).put((byte) 0).putShort((short) (Data.FIXED_BODY_LENGTH + 100))
                .putInt(0).putLong(0).put(new byte[100]).flip();
        FrameReader reader = new FrameReader();
        FrameException e = assertThrows(FrameException.class, () -> {
            while (wire.hasRemaining()) {
                reader.read(wire.slice(wire.position(), Math.min(7, wire.remaining())));
                wire.position(Math.min(wire.limit(), wire.position() + 7));
            }
        });
        assertEquals("DATA for stream 0", e.getMessage());
    }

    @Test
    void aReaderTakesVersion3DataFramesOnlyOnceToldAndNeverLargerOnes() throws Exception {
        byte[] payload = new byte[Data.MAX_PAYLOAD_V3];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) (i * 7);
        }
        byte[] wire = new Data(3, 0, false, payload).encode();
        assertEquals(64 * 1024, wire.length);
        assertEquals(Frame.MAX_FRAME_LENGTH_V3, wire.length);

        // Version 2's bound holds until the subflow's session says otherwise: refused from the header alone.
        FrameException e = assertThrows(FrameException.class,
                () -> new FrameReader().read(ByteBuffer.wrap(wire, 0, Frame.HEADER_LENGTH)));
        assertTrue(e.getMessage().contains("at most " + Frame.MAX_BODY_LENGTH), e.getMessage());
        assertEquals(ResetReason.PROTOCOL_ERROR, e.reason());
        assertThrows(FrameException.class, () -> FrameCodec.decode(ByteBuffer.wrap(wire)));

        FrameReader v3 = new FrameReader();
        v3.acceptDataPayload(Data.MAX_PAYLOAD_V3);
        assertEquals(null, v3.read(ByteBuffer.wrap(wire, 0, 40_000)));
        assertEquals(wire.length - 40_000, v3.missingBytes());
        assertEquals(new Data(3, 0, false, payload), v3.read(ByteBuffer.wrap(wire, 40_000, wire.length - 40_000)));
        assertEquals(new Data(3, 0, false, payload), ((FrameDecodeResult.DecodedFrame) FrameCodec.decode(
                ByteBuffer.wrap(wire), Data.MAX_PAYLOAD_V3)).frame());

        // One byte more than version 3 allows (Body Length 65 533): refused from the header, nothing awaited.
        FrameReader another = new FrameReader();
        another.acceptDataPayload(Data.MAX_PAYLOAD_V3);
        assertThrows(FrameException.class, () -> another.read(ByteBuffer.wrap(HEX.parseHex("1000fffd"))));
        assertThrows(IllegalArgumentException.class, () -> new FrameReader().acceptDataPayload(Data.MAX_PAYLOAD_V3 + 1));
        assertThrows(IllegalArgumentException.class, () -> new FrameReader().acceptDataPayload(Data.MAX_PAYLOAD - 1));
    }

    @Test
    void anOverdueLargeFrameIsHandedOnInPiecesAndItsRestWithTheFinComesWhole() throws Exception {
        byte[] payload = new byte[40_000];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) (i * 13);
        }
        byte[] wire = new Data(5, 1_000, true, payload).encode();
        FrameReader reader = new FrameReader();
        reader.acceptDataPayload(Data.MAX_PAYLOAD_V3);
        int prefix = Frame.HEADER_LENGTH + Data.FIXED_BODY_LENGTH;

        assertEquals(null, reader.read(ByteBuffer.wrap(wire, 0, prefix + 10_000)));
        assertEquals(Long.MIN_VALUE, reader.partialPayloadSince(), "no clock before the session notes one");
        reader.notePartialPayload(7);
        reader.notePartialPayload(9);
        assertEquals(7, reader.partialPayloadSince(), "the first read that ended inside the frame");
        assertEquals(5, reader.partialDataStream());
        assertEquals(1_000, reader.partialDataDsn());
        Data first = reader.takeArrivedPayload();
        assertEquals(new Data(5, 1_000, false, java.util.Arrays.copyOfRange(payload, 0, 10_000)), first);
        assertEquals(null, reader.takeArrivedPayload(), "nothing new arrived");
        assertEquals(11_000, reader.partialDataDsn());
        assertEquals(wire.length - prefix - 10_000, reader.missingBytes(), "the frame still lacks its rest");

        assertEquals(null, reader.read(ByteBuffer.wrap(wire, prefix + 10_000, 5_000)));
        assertEquals(new Data(5, 11_000, false, java.util.Arrays.copyOfRange(payload, 10_000, 15_000)),
                reader.takeArrivedPayload());
        Data rest = (Data) reader.read(ByteBuffer.wrap(wire, prefix + 15_000, wire.length - prefix - 15_000));
        assertEquals(new Data(5, 16_000, true, java.util.Arrays.copyOfRange(payload, 15_000, 40_000)), rest);
        assertEquals(Long.MIN_VALUE, reader.partialPayloadSince(), "the next frame starts its own clock");

        // A version 2 sized frame is never handed on in pieces.
        byte[] small = new Data(5, 50_000, false, new byte[Data.MAX_PAYLOAD]).encode();
        assertEquals(null, reader.read(ByteBuffer.wrap(small, 0, 1_000)));
        reader.notePartialPayload(20);
        assertEquals(Long.MIN_VALUE, reader.partialPayloadSince());
        assertEquals(null, reader.takeArrivedPayload());
    }
}
