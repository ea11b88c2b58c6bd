package net.hybridproxy.engine.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class ConvertErrorCodeTest {

    @ParameterizedTest(name = "{0} is {1} ({2})")
    @CsvSource({
            "0,  UNSUPPORTED_VERSION,     Unsupported Version",
            "1,  MALFORMED_MESSAGE,       Malformed Message",
            "2,  UNSUPPORTED_MESSAGE,     Unsupported Message",
            "3,  MISSING_COOKIE,          Missing Cookie",
            "32, NOT_AUTHORIZED,          Not Authorized",
            "33, UNSUPPORTED_TCP_OPTION,  Unsupported TCP Option",
            "64, RESOURCE_EXCEEDED,       Resource Exceeded",
            "65, NETWORK_FAILURE,         Network Failure",
            "96, CONNECTION_RESET,        Connection Reset",
            "97, DESTINATION_UNREACHABLE, Destination Unreachable",
    })
    void everyCodeOfRfc8803Table2IsKnownByValueAndName(int value, ConvertErrorCode code, String rfcName) {
        assertEquals(value, code.code());
        assertEquals(rfcName, code.rfcName());
        assertEquals(Optional.of(code), ConvertErrorCode.fromCode(value));
        assertTrue(!code.meaning().isBlank());
    }

    @Test
    void theTableHasExactlyTenCodes() {
        assertEquals(10, ConvertErrorCode.values().length);
    }

    @ParameterizedTest
    @ValueSource(ints = {4, 31, 34, 63, 66, 95, 98, 127, 192, 255, -1, 256})
    void unassignedAndPrivateUseValuesAreNotCodes(int value) {
        assertEquals(Optional.empty(), ConvertErrorCode.fromCode(value));
    }
}
