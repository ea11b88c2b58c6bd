package net.hybridproxy.engine.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ConvertRulesTest {

    private static final Set<Integer> MPTCP_AND_TFO = Set.of(30, 34);

    private final ConvertMessage baseRequest = ConvertMessage.connect(
            new InetSocketAddress("192.0.2.1", 80), Optional.empty());

    static ConnectTlv connect(String address, int port, String optionsHex) throws Exception {
        return new ConnectTlv(InetAddress.getByName(address), port, Hex.bytes(optionsHex));
    }

    @Test
    void aConverterAcceptsAConnectTlvWithItsCookie() throws Exception {
        CookieTlv cookie = new CookieTlv(Hex.bytes("01020304"));
        ConvertMessage request = ConvertMessage.of(connect("198.18.30.2", 5001, ""), cookie);

        ConvertRules.ClientRequest.Connect c = assertInstanceOf(ConvertRules.ClientRequest.Connect.class,
                ConvertRules.checkClientRequest(request, MPTCP_AND_TFO));

        assertEquals(5001, c.connect().port());
        assertEquals(Optional.of(cookie), c.cookie());
        assertEquals(false, c.infoRequested());
    }

    @Test
    void aConverterAcceptsAnInfoTlvAloneAsACapabilityQuery() throws Exception {
        assertInstanceOf(ConvertRules.ClientRequest.Info.class,
                ConvertRules.checkClientRequest(ConvertMessage.of(new InfoTlv()), MPTCP_AND_TFO));
    }

    @Test
    void aConverterAcceptsAnInfoTlvNextToAConnectTlv() throws Exception {
        ConvertRules.ClientRequest.Connect c = assertInstanceOf(ConvertRules.ClientRequest.Connect.class,
                ConvertRules.checkClientRequest(ConvertMessage.of(new InfoTlv(), connect("192.0.2.1", 80, "")),
                        MPTCP_AND_TFO));
        assertTrue(c.infoRequested());
    }

    @Test
    void aConverterAcceptsSupportedOptionsAndOptionsTheRfcSaysToIgnore() throws Exception {
        // MPTCP, TFO, then MSS, WS and SACK which RFC 8803 §7.1-7.3 say to ignore.
        ConnectTlv extended = connect("192.0.2.1", 80, "1e02 2202 020405b4 030307 050a0000000000000000");

        assertInstanceOf(ConvertRules.ClientRequest.Connect.class,
                ConvertRules.checkClientRequest(ConvertMessage.of(extended), MPTCP_AND_TFO));
    }

    static Stream<Arguments> refusedRequests() throws Exception {
        return Stream.of(
                Arguments.of("an Error TLV", ConvertMessage.of(connect("192.0.2.1", 80, ""),
                        ErrorTlv.of(ConvertErrorCode.NOT_AUTHORIZED)), ConvertErrorCode.UNSUPPORTED_MESSAGE),
                Arguments.of("an Extended TCP Header TLV", ConvertMessage.of(connect("192.0.2.1", 80, ""),
                        new ExtendedTcpHeaderTlv(new byte[4])), ConvertErrorCode.UNSUPPORTED_MESSAGE),
                Arguments.of("a Supported TCP Extensions TLV", ConvertMessage.of(
                        new SupportedTcpExtensionsTlv(List.of(30))), ConvertErrorCode.UNSUPPORTED_MESSAGE),
                Arguments.of("a Cookie without a request", ConvertMessage.of(new CookieTlv(new byte[4])),
                        ConvertErrorCode.MALFORMED_MESSAGE),
                Arguments.of("a loopback destination", ConvertMessage.of(connect("127.0.0.1", 80, "")),
                        ConvertErrorCode.MALFORMED_MESSAGE),
                Arguments.of("an IPv6 loopback destination", ConvertMessage.of(connect("::1", 80, "")),
                        ConvertErrorCode.MALFORMED_MESSAGE),
                Arguments.of("a multicast destination", ConvertMessage.of(connect("224.0.0.1", 80, "")),
                        ConvertErrorCode.MALFORMED_MESSAGE),
                Arguments.of("an IPv6 multicast destination", ConvertMessage.of(connect("ff02::1", 80, "")),
                        ConvertErrorCode.MALFORMED_MESSAGE),
                Arguments.of("the broadcast destination", ConvertMessage.of(connect("255.255.255.255", 80, "")),
                        ConvertErrorCode.MALFORMED_MESSAGE),
                Arguments.of("TCP-AO even if configured", ConvertMessage.of(connect("192.0.2.1", 80, "1d04 0102")),
                        ConvertErrorCode.UNSUPPORTED_TCP_OPTION),
                Arguments.of("an option the Converter lacks", ConvertMessage.of(connect("192.0.2.1", 80, "0402")),
                        ConvertErrorCode.UNSUPPORTED_TCP_OPTION));
    }

    @ParameterizedTest(name = "a request with {0} -> {2}")
    @MethodSource("refusedRequests")
    void aConverterRefuses(String what, ConvertMessage request, ConvertErrorCode code) {
        ConvertProtocolException e = assertThrows(ConvertProtocolException.class,
                () -> ConvertRules.checkClientRequest(request, Set.of(30, 34, 29)));

        assertEquals(code, e.code(), e::getMessage);
        assertEquals(code.code(), e.errorReply().orElseThrow().errorTlv().orElseThrow().code());
    }

    @Test
    void aRequestWithoutTlvsIsIgnoredSilently() {
        ConvertProtocolException e = assertThrows(ConvertProtocolException.class,
                () -> ConvertRules.checkClientRequest(ConvertMessage.of(), MPTCP_AND_TFO));

        assertTrue(e.isSilent());
    }

    @Test
    void unsupportedOptionsAreListedInTheErrorValue() throws Exception {
        ConvertMessage request = ConvertMessage.of(connect("192.0.2.1", 80, "0402 1e02 1d04 0000 0402 0802"));

        ConvertProtocolException e = assertThrows(ConvertProtocolException.class,
                () -> ConvertRules.checkClientRequest(request, Set.of(30)));

        ErrorTlv error = e.errorReply().orElseThrow().errorTlv().orElseThrow();
        assertArrayEquals(Hex.bytes("04 1d 08"), error.value());
        assertEquals(8, error.encodedLength(), "the list is padded to 32 bits");
    }

    @Test
    void aClientAcceptsABareHeaderAfterABaseConnect() throws Exception {
        assertEquals(new ConvertRules.ConverterReply.Accepted(Optional.empty(), Optional.empty()),
                ConvertRules.checkConverterReply(ConvertMessage.of(), baseRequest));
    }

    @Test
    void aClientSeesAnErrorTlvAsARefusal() throws Exception {
        ErrorTlv error = ErrorTlv.of(ConvertErrorCode.CONNECTION_RESET);

        assertEquals(new ConvertRules.ConverterReply.Refused(error),
                ConvertRules.checkConverterReply(ConvertMessage.of(error), baseRequest));
    }

    @Test
    void aClientRequiresTheExtendedTcpHeaderAfterAnExtendedConnect() throws Exception {
        ConvertMessage extended = ConvertMessage.of(connect("192.0.2.1", 80, "1e02"));
        ExtendedTcpHeaderTlv header = new ExtendedTcpHeaderTlv(Hex.bytes("1e0c00810102030405060708"));

        assertThrows(ConvertProtocolException.class,
                () -> ConvertRules.checkConverterReply(ConvertMessage.of(), extended));
        assertEquals(new ConvertRules.ConverterReply.Accepted(Optional.of(header), Optional.empty()),
                ConvertRules.checkConverterReply(ConvertMessage.of(header), extended));
    }

    @ParameterizedTest
    @ValueSource(ints = {ConnectTlv.TYPE, InfoTlv.TYPE, CookieTlv.TYPE})
    void aClientRefusesARepliedTlvOnlyAClientSends(int type) throws Exception {
        ConvertTlv tlv = switch (type) {
            case ConnectTlv.TYPE -> connect("192.0.2.1", 80, "");
            case InfoTlv.TYPE -> new InfoTlv();
            default -> new CookieTlv(new byte[4]);
        };

        ConvertProtocolException e = assertThrows(ConvertProtocolException.class,
                () -> ConvertRules.checkConverterReply(ConvertMessage.of(tlv), baseRequest));
        assertEquals(ConvertErrorCode.UNSUPPORTED_MESSAGE, e.code());
    }
}
