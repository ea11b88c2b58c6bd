package net.hybridproxy.proxy.config;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The congestion control of the concentrator's kernel MPTCP subflows: the host's default unless named. */
class ConcentratorCongestionControlConfigTest {
    private static final String CONCENTRATOR = """
            hybridproxy { role = concentrator, concentrator.authorized-cidrs = ["198.18.0.0/15"]
            """;

    private static String congestionControl(String extra) throws InvalidConfigException {
        return ConfigLoader.parseString(CONCENTRATOR + extra + "}").concentrator().orElseThrow()
                .mptcpCongestionControl();
    }

    @Test
    void theHostsDefaultUnlessNamed() throws Exception {
        assertEquals("", congestionControl(""));
        assertEquals("cubic", congestionControl("concentrator.mptcp-congestion-control = cubic"));
        assertEquals("bbr", congestionControl("concentrator.mptcp-congestion-control = \" bbr \""));
    }

    @Test
    void somethingThatCannotBeAModuleNameIsRefusedWithTheKey() {
        for (String value : new String[] {"\"cubic; reboot\"", "BBR", "a_name_longer_than_15"}) {
            InvalidConfigException e = assertThrows(InvalidConfigException.class,
                    () -> congestionControl("concentrator.mptcp-congestion-control = " + value));
            assertTrue(e.getMessage().contains("mptcp-congestion-control"), e.getMessage());
        }
    }
}
