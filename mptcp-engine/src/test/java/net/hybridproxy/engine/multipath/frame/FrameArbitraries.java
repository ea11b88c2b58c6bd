package net.hybridproxy.engine.multipath.frame;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/** Generators of every frame of version 1, over the whole range of each field. */
public final class FrameArbitraries {

    private FrameArbitraries() {
    }

    public static Arbitrary<Frame> frames() {
        return Arbitraries.oneOf(List.of(capableSyn(), capableSynAck(), capableAck(), joinSyn(), joinSynAck(),
                joinAck(), subflowReset(), data(), dataAck(), fastClose(), addAddr(), removeAddr(), mpPrio(),
                Arbitraries.longs().map(Ping::new), Arbitraries.longs().map(Pong::new)));
    }

    private static Arbitrary<SubflowPriority> priority() {
        return Arbitraries.of(SubflowPriority.class);
    }

    private static Arbitrary<Long> u32() {
        return Arbitraries.longs().between(0, 0xFFFF_FFFFL);
    }

    private static Arbitrary<byte[]> bytes(int length) {
        return Arbitraries.bytes().array(byte[].class).ofSize(length);
    }

    static Arbitrary<Frame> capableSyn() {
        Arbitrary<String> ids = Arbitraries.strings().withCharRange('!', '~').ofMinLength(1).ofMaxLength(64);
        return Combinators.combine(Arbitraries.integers().between(0, 255), priority(), Arbitraries.longs(), ids)
                .as(CapableSyn::new);
    }

    static Arbitrary<Frame> capableSynAck() {
        return Combinators.combine(Arbitraries.integers().between(0, 255), Arbitraries.longs(), bytes(32))
                .as(CapableSynAck::new);
    }

    static Arbitrary<Frame> capableAck() {
        return Combinators.combine(Arbitraries.longs(), Arbitraries.longs(), bytes(32)).as(CapableAck::new);
    }

    static Arbitrary<Frame> joinSyn() {
        return Combinators.combine(Arbitraries.integers().between(0, 255), priority(),
                Arbitraries.integers().between(0, 255), Arbitraries.integers(), Arbitraries.integers())
                .as(JoinSyn::new);
    }

    static Arbitrary<Frame> joinSynAck() {
        return Combinators.combine(Arbitraries.integers().between(0, 255), Arbitraries.longs(), Arbitraries.integers())
                .as(JoinSynAck::new);
    }

    static Arbitrary<Frame> joinAck() {
        return bytes(20).map(JoinAck::new);
    }

    static Arbitrary<Frame> subflowReset() {
        return Combinators.combine(Arbitraries.of(ResetReason.class), Arbitraries.of(true, false))
                .as(SubflowReset::new);
    }

    static Arbitrary<Frame> data() {
        Arbitrary<byte[]> payloads = Arbitraries.oneOf(List.of(
                Arbitraries.bytes().array(byte[].class).ofMinSize(0).ofMaxSize(64),
                Arbitraries.bytes().array(byte[].class).ofMinSize(Data.MAX_PAYLOAD - 8).ofMaxSize(Data.MAX_PAYLOAD)));
        Arbitrary<Long> dsns = Arbitraries.oneOf(List.of(Arbitraries.longs().between(0, 1L << 40),
                Arbitraries.longs().between(Long.MAX_VALUE - (1 << 20), Long.MAX_VALUE - Data.MAX_PAYLOAD - 1)));
        return Combinators.combine(u32().filter(id -> id != 0), dsns, Arbitraries.of(true, false), payloads)
                .filter((id, dsn, fin, payload) -> fin || payload.length > 0)
                .as(Data::new);
    }

    static Arbitrary<Frame> dataAck() {
        return Combinators.combine(u32().filter(id -> id != 0), Arbitraries.longs().between(0, Long.MAX_VALUE), u32())
                .as(DataAck::new);
    }

    static Arbitrary<Frame> fastClose() {
        return Combinators.combine(u32(), Arbitraries.longs(), Arbitraries.of(ResetReason.class)).as(FastClose::new);
    }

    static Arbitrary<Frame> addAddr() {
        Arbitrary<InetAddress> addresses = Arbitraries.oneOf(List.of(bytes(4).map(FrameArbitraries::address),
                bytes(16).filter(b -> !isV4Mapped(b)).map(FrameArbitraries::address)));
        return Combinators.combine(Arbitraries.integers().between(0, 255), addresses,
                Arbitraries.integers().between(0, 65535), Arbitraries.of(true, false), Arbitraries.longs())
                .as((id, address, port, echo, hmac) -> new AddAddr(id, address, port, echo, echo ? 0 : hmac));
    }

    static Arbitrary<Frame> removeAddr() {
        return Arbitraries.integers().between(0, 255).list().ofMinSize(1).ofMaxSize(255).map(RemoveAddr::new);
    }

    static Arbitrary<Frame> mpPrio() {
        return priority().map(MpPrio::new);
    }

    private static boolean isV4Mapped(byte[] b) {
        for (int i = 0; i < 10; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return b[10] == (byte) 0xFF && b[11] == (byte) 0xFF;
    }

    private static InetAddress address(byte[] raw) {
        try {
            return InetAddress.getByAddress(raw);
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }
}
