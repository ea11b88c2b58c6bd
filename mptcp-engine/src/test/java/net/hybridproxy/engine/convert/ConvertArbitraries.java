package net.hybridproxy.engine.convert;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/**
 * Generators of valid Convert messages. Opaque fields are generated 32-bit aligned so that a
 * decoded message equals the generated one (padding is otherwise indistinguishable from data).
 */
final class ConvertArbitraries {

    private ConvertArbitraries() {
    }

    static Arbitrary<ConvertMessage> messages() {
        return tlvs().list().ofMaxSize(8).map(ConvertArbitraries::distinctTypes).map(ConvertMessage::new);
    }

    static Arbitrary<ConvertTlv> tlvs() {
        return Arbitraries.oneOf(
                Arbitraries.just(new InfoTlv()),
                connectTlvs(),
                alignedBytes(64).map(ExtendedTcpHeaderTlv::new),
                Arbitraries.integers().between(1, 255).list().ofMaxSize(40).map(SupportedTcpExtensionsTlv::new),
                alignedBytes(128).map(CookieTlv::new),
                Combinators.combine(Arbitraries.integers().between(0, 255),
                        alignedBytes(64).map(ConvertArbitraries::oneLonger)).as(ErrorTlv::new));
    }

    static Arbitrary<ConnectTlv> connectTlvs() {
        Arbitrary<byte[]> address = Arbitraries.oneOf(
                Arbitraries.bytes().array(byte[].class).ofSize(4),
                Arbitraries.bytes().array(byte[].class).ofSize(16));
        return Combinators.combine(address, Arbitraries.integers().between(0, 65535), tcpOptions())
                .as((raw, port, options) -> new ConnectTlv(toAddress(raw), port, options));
    }

    /** Complete TCP options with Kind 2..255 and Length 2..12. */
    static Arbitrary<byte[]> tcpOptions() {
        Arbitrary<byte[]> option = Combinators.combine(
                        Arbitraries.integers().between(2, 255),
                        Arbitraries.bytes().array(byte[].class).ofMaxSize(10))
                .as((kind, value) -> {
                    byte[] o = new byte[2 + value.length];
                    o[0] = (byte) (int) kind;
                    o[1] = (byte) o.length;
                    System.arraycopy(value, 0, o, 2, value.length);
                    return o;
                });
        return option.list().ofMaxSize(5).map(list -> {
            int total = list.stream().mapToInt(o -> o.length).sum();
            byte[] all = new byte[total];
            int at = 0;
            for (byte[] o : list) {
                System.arraycopy(o, 0, all, at, o.length);
                at += o.length;
            }
            return all;
        });
    }

    private static Arbitrary<byte[]> alignedBytes(int maxWords) {
        return Arbitraries.integers().between(0, maxWords / 4)
                .flatMap(words -> Arbitraries.bytes().array(byte[].class).ofSize(words * 4));
    }

    private static byte[] oneLonger(byte[] aligned) {
        byte[] b = new byte[aligned.length + 1];
        System.arraycopy(aligned, 0, b, 1, aligned.length);
        return b;
    }

    private static List<ConvertTlv> distinctTypes(List<ConvertTlv> tlvs) {
        Map<Integer, ConvertTlv> byType = new LinkedHashMap<>();
        for (ConvertTlv tlv : tlvs) {
            byType.putIfAbsent(tlv.type(), tlv);
        }
        return new ArrayList<>(byType.values());
    }

    private static InetAddress toAddress(byte[] raw) {
        try {
            return InetAddress.getByAddress(raw);
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }
}
