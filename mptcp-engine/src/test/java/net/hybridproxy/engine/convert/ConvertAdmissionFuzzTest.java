package net.hybridproxy.engine.convert;

import net.hybridproxy.engine.auth.AuthResult;
import net.hybridproxy.engine.auth.ConvertAuthenticator;
import net.hybridproxy.engine.auth.CpeKey;
import net.hybridproxy.engine.policy.Cidr;
import net.hybridproxy.engine.policy.DestinationPolicy;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzzing the concentrator's whole decision on a connection's first bytes, as {@code ConvertServerHandler} takes
 * it: decode, the RFC 8803 client-request rules, the destination policy, then the proof. Structured generators
 * (jqwik) produce raw bytes, Convert-looking bytes, damaged encodings, well-formed requests and requests carrying
 * real proofs (right key, wrong key, another destination, a stale clock), so the search reaches every stage.
 * Invariants: the only failure is a {@link ConvertProtocolException}; the decoder never claims more bytes than
 * it got; and only a request proved with a configured key for its own destination is ever accepted.
 *
 * <p>CI runs jqwik's default 1000 tries; {@code -Djqwik.tries.default=1000000} runs a million (docs/operations.md).
 */
class ConvertAdmissionFuzzTest {
    private static final long NOW = 1_767_225_600_000L;
    private static final CpeKey KEY = new CpeKey("cpe-1", HexFormat.of().parseHex("00112233445566778899aabbccddeeff"));
    private static final CpeKey STRANGER = new CpeKey("cpe-1", HexFormat.of().parseHex("ffeeddccbbaa99887766554433221100"));
    private static final DestinationPolicy POLICY = new DestinationPolicy(List.of(Cidr.parse("0.0.0.0/0")), List.of(),
            List.of(), List.of(), Set.of(new InetSocketAddress(InetAddress.ofLiteral("::"), 5100)),
            Set.of(InetAddress.ofLiteral("203.0.113.1")));

    /**
     * A sample and, when it was made from a request with a valid proof (right key, own destination, current clock),
     * that request: damage elsewhere (the unchecked Magic Number, reserved bits) may leave it acceptable, but only
     * with that very destination and Cookie.
     */
    record FuzzInput(byte[] bytes, Optional<ConvertMessage> validRequest) {
        @Override
        public String toString() {
            return (validRequest.isPresent() ? "from a valid request " : "") + HexFormat.of().formatHex(bytes);
        }
    }

    @Property
    void firstBytesAreAdmittedOnlyWithAValidProofAndNeverCrashTheDecision(@ForAll("wire") FuzzInput sample) {
        ConvertAuthenticator.Verifier verifier = new ConvertAuthenticator.Verifier(List.of(KEY), Duration.ofSeconds(30),
                64);
        byte[] bytes = sample.bytes();
        DecodeResult result;
        try {
            result = ConvertDecoder.decode(ByteBuffer.wrap(bytes));
        } catch (ConvertProtocolException refused) {
            return;
        }
        if (!(result instanceof DecodeResult.Decoded decoded)) {
            return;
        }
        assertTrue(decoded.consumedBytes() > 0 && decoded.consumedBytes() <= bytes.length);
        try {
            ConvertRules.checkClientRequest(decoded.message(), Set.of());
        } catch (ConvertProtocolException refused) {
            return;
        }
        Optional<ConnectTlv> connect = decoded.message().connectTlv();
        if (connect.isEmpty()) {
            return;
        }
        InetSocketAddress destination = new InetSocketAddress(connect.get().address(), connect.get().port());
        if (!POLICY.check(destination).allowed()) {
            return;
        }
        AuthResult auth = verifier.verify(decoded.message().cookieTlv(), destination, NOW, 0);
        if (auth instanceof AuthResult.Authenticated) {
            assertTrue(sample.validRequest().isPresent()
                            && sample.validRequest().get().connectTlv().map(c -> c.address().equals(connect.get().address())
                            && c.port() == connect.get().port()).orElse(false)
                            && sample.validRequest().get().cookieTlv().equals(decoded.message().cookieTlv()),
                    () -> "accepted without a valid proof for its destination: " + sample);
        }
    }

    @Provide
    Arbitrary<FuzzInput> wire() {
        Arbitrary<FuzzInput> raw = Arbitraries.bytes().array(byte[].class).ofMaxSize(1100)
                .map(b -> new FuzzInput(b, Optional.empty()));
        Arbitrary<FuzzInput> encoded = ConvertArbitraries.messages()
                .map(m -> new FuzzInput(m.encode(), Optional.empty()));
        Arbitrary<FuzzInput> damaged = Combinators.combine(proved(), Arbitraries.integers().between(0, 1 << 20)
                        .array(int[].class).ofMinSize(1).ofMaxSize(4))
                .as((s, edits) -> {
                    byte[] b = s.bytes().clone();
                    for (int edit : edits) {
                        b[(edit >>> 8) % b.length] = (byte) edit;
                    }
                    return new FuzzInput(b, s.validRequest());
                });
        return Arbitraries.oneOf(raw, encoded, damaged, proved());
    }

    /** Connect requests with a Cookie proof: valid, or wrong key, another destination's, or a stale timestamp. */
    private Arbitrary<FuzzInput> proved() {
        Arbitrary<InetSocketAddress> destinations = Combinators.combine(
                Arbitraries.oneOf(Arbitraries.bytes().array(byte[].class).ofSize(4),
                        Arbitraries.bytes().array(byte[].class).ofSize(16)),
                Arbitraries.integers().between(0, 65535)).as((raw, port) -> {
                    try {
                        return new InetSocketAddress(InetAddress.getByAddress(raw), port);
                    } catch (java.net.UnknownHostException e) {
                        throw new IllegalStateException(e);
                    }
                });
        Arbitrary<Integer> flaw = Arbitraries.integers().between(0, 3); // 0 valid, 1 key, 2 destination, 3 clock
        Arbitrary<byte[]> nonces = Arbitraries.bytes().array(byte[].class).ofSize(16);
        return Combinators.combine(destinations, flaw, nonces).as((dest, f, nonce) -> {
            CpeKey key = f == 1 ? STRANGER : KEY;
            InetSocketAddress provedFor = f == 2 ? new InetSocketAddress(dest.getAddress(), (dest.getPort() + 1) % 65536)
                    : dest;
            long at = f == 3 ? NOW - 31_000 : NOW;
            CookieTlv cookie = ConvertAuthenticator.prove(key, provedFor, at, nonce);
            ConvertMessage request = ConvertMessage.connect(dest, Optional.of(cookie));
            return new FuzzInput(request.encode(), f == 0 ? Optional.of(request) : Optional.empty());
        });
    }
}
