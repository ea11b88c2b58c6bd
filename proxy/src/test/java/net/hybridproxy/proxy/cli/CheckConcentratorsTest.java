package net.hybridproxy.proxy.cli;

import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** What `check --config` says about a cpe's concentrators. */
class CheckConcentratorsTest {
    private static final String CPE = """
            hybridproxy { role = cpe
              uplinks = [{ name = dsl, interface = dsl, address = "198.18.10.1" }]
              cpe { listeners = [{ name = lan, mode = explicit, bind = "127.0.0.1:12345", destination = "198.18.30.2:80" }]
            """;

    @Test
    void listsThePriorityOrderAndTheHealthCheck() throws Exception {
        AppConfig config = ConfigLoader.parseString(CPE + """
                concentrators = [{ name = paris, address = "198.18.41.2:5100" }, { name = lyon, address = "198.18.42.2:5100" }]
                health-check.fail-back-after = 60s } }""");
        String text = Check.describeConcentrators(config.cpe().orElseThrow());
        assertTrue(text.contains("1. paris  198.18.41.2:5100  (primary)"), text);
        assertTrue(text.contains("2. lyon  198.18.42.2:5100  (backup)"), text);
        assertTrue(text.contains("fail back after 60 s up"), text);
    }

    @Test
    void theSingleKeyShowsOneConcentratorAndNoProbes() throws Exception {
        AppConfig config = ConfigLoader.parseString(CPE + "concentrator = \"198.18.100.1:5100\" } }");
        String text = Check.describeConcentrators(config.cpe().orElseThrow());
        assertTrue(text.contains("1. 0  198.18.100.1:5100  (primary)"), text);
        assertTrue(text.contains("nothing is probed"), text);
    }
}
