package net.hybridproxy.proxy.config;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The send buffer of the concentrator's kernel MPTCP connections: the kernel's autotuning (0) unless set. */
class ConcentratorSendBufferConfigTest {
    private static final String CONCENTRATOR = """
            hybridproxy { role = concentrator, concentrator.authorized-cidrs = ["198.18.0.0/15"]
            """;

    private static int sendBuffer(String extra) throws InvalidConfigException {
        return ConfigLoader.parseString(CONCENTRATOR + extra + "}").concentrator().orElseThrow().mptcpSendBuffer();
    }

    @Test
    void theKernelsAutotuningByDefault() throws Exception {
        assertEquals(0, sendBuffer(""));
    }

    @Test
    void aFixedSizeIsTakenInBytes() throws Exception {
        assertEquals(4 << 20, sendBuffer("concentrator.mptcp-send-buffer = 4MiB"));
        assertEquals(0, sendBuffer("concentrator.mptcp-send-buffer = 0"));
    }

    @Test
    void sizesTheKernelWouldClampAreRefused() {
        for (String size : new String[] {"1000", "128MiB"}) {
            InvalidConfigException e = assertThrows(InvalidConfigException.class,
                    () -> sendBuffer("concentrator.mptcp-send-buffer = " + size));
            assertTrue(e.getMessage().contains("mptcp-send-buffer"), e.getMessage());
        }
    }
}
