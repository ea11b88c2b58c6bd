package net.hybridproxy.proxy.config;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The send buffer of the concentrator's kernel MPTCP connections: 4 MiB unless set, 0 for the kernel's autotuning. */
class ConcentratorSendBufferConfigTest {
    private static final String CONCENTRATOR = """
            hybridproxy { role = concentrator, concentrator.authorized-cidrs = ["198.18.0.0/15"]
            """;

    private static int sendBuffer(String extra) throws InvalidConfigException {
        return ConfigLoader.parseString(CONCENTRATOR + extra + "}").concentrator().orElseThrow().mptcpSendBuffer();
    }

    @Test
    void fourMebibytesByDefault() throws Exception {
        assertEquals(4 << 20, sendBuffer(""));
    }

    @Test
    void zeroLeavesItToTheKernel() throws Exception {
        assertEquals(0, sendBuffer("concentrator.mptcp-send-buffer = 0"));
        assertEquals(8 << 20, sendBuffer("concentrator.mptcp-send-buffer = 8MiB"));
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
