package net.hybridproxy.proxy.config;

import net.hybridproxy.engine.policy.Cidr;
import net.hybridproxy.engine.policy.PortRange;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** cpe.bypass: every criterion read, every mistake refused with the key named. */
class BypassConfigTest {
    static String cpe(String engine, boolean installRoutes, String bypass) {
        return """
                hybridproxy {
                  role = cpe
                  engine = %s
                  uplinks = [
                    { name = dsl, interface = dsl, address = "198.18.10.1", gateway = "198.18.10.2" }
                    { name = lte, interface = lte, address = "198.18.20.1", gateway = "198.18.20.2" }
                  ]
                  path-manager.install-routes = %s
                  cpe {
                    concentrator = "198.18.100.1:5100"
                    install-capture-rules = true
                    listeners = [{ name = lan, mode = tproxy, bind = "0.0.0.0:12345", interface = lan }]
                    key-id = "cpe-1"
                    key = "hex:00112233445566778899aabbccddeeff"
                    bypass = [%s]
                  }
                }
                """.formatted(engine, installRoutes, bypass);
    }

    private static InvalidConfigException refused(String engine, boolean installRoutes, String bypass) {
        return assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(cpe(engine, installRoutes, bypass)));
    }

    @Test
    void everyCriterionIsRead() throws Exception {
        AppConfig config = ConfigLoader.parseString(cpe("kernel", true, """
                { name = bank, destinations = ["203.0.113.0/24", "2001:db8::/32"], ports = ["443", "8000-8100"],
                  sources = ["198.18.1.0/28"], source-macs = ["02:00:5E:10:00:01"], action = direct, uplink = dsl }
                { name = game, ports = ["27015"], action = proxy, uplink = lte }"""));
        List<AppConfig.Bypass> rules = config.cpe().orElseThrow().bypass();
        assertEquals(new AppConfig.Bypass("bank", List.of(Cidr.parse("203.0.113.0/24"), Cidr.parse("2001:db8::/32")),
                List.of(PortRange.of(443), PortRange.parse("8000-8100")), List.of(Cidr.parse("198.18.1.0/28")),
                List.of("02:00:5e:10:00:01"), AppConfig.BypassAction.DIRECT, "dsl"), rules.get(0));
        assertEquals(AppConfig.BypassAction.PROXY, rules.get(1).action());
        assertEquals(List.of(), ConfigLoader.parseString(cpe("kernel", true, "")).cpe().orElseThrow().bypass());
    }

    @Test
    void mistakesNameTheKey() {
        String unknownUplink = refused("kernel", true, "{ name = a, ports = [\"1\"], action = direct, uplink = wifi }")
                .getMessage();
        assertTrue(unknownUplink.contains("cpe.bypass[0].uplink") && unknownUplink.contains("wifi"), unknownUplink);
        String matchesAll = refused("kernel", true, "{ name = a, action = direct, uplink = dsl }").getMessage();
        assertTrue(matchesAll.contains("at least one of destinations, ports, sources or source-macs"), matchesAll);
        String mac = refused("kernel", true, "{ name = a, source-macs = [\"02:00:5e\"], action = direct, uplink = dsl }")
                .getMessage();
        assertTrue(mac.contains("cpe.bypass[0].source-macs"), mac);
        String cidr = refused("kernel", true, "{ name = a, destinations = [\"300.1.1.1/8\"], action = direct,"
                + " uplink = dsl }").getMessage();
        assertTrue(cidr.contains("cpe.bypass[0].destinations"), cidr);
        String action = refused("kernel", true, "{ name = a, ports = [\"1\"], action = tunnel, uplink = dsl }")
                .getMessage();
        assertTrue(action.contains("direct or proxy"), action);
        String typo = refused("kernel", true, "{ name = a, port = [\"1\"], action = direct, uplink = dsl }")
                .getMessage();
        assertTrue(typo.contains("port"), typo);
    }

    @Test
    void directNeedsTheUplinksOwnTableAndProxyWorksWithBothEngines() throws Exception {
        String direct = refused("kernel", false, "{ name = a, ports = [\"1\"], action = direct, uplink = dsl }")
                .getMessage();
        assertTrue(direct.contains("path-manager.install-routes"), direct);
        AppConfig userspace = ConfigLoader.parseString(cpe("userspace", true,
                "{ name = a, ports = [\"1\"], action = proxy, uplink = lte }"));
        assertTrue(userspace.cpe().orElseThrow().bypass().getFirst().action() == AppConfig.BypassAction.PROXY);
    }

    @Test
    void pinnedPortsMayNotCollide() {
        String hocon = cpe("kernel", true, "{ name = a, ports = [\"1\"], action = proxy, uplink = lte }").replace(
                "listeners = [{ name = lan, mode = tproxy, bind = \"0.0.0.0:12345\", interface = lan }]",
                "listeners = [{ name = lan, mode = tproxy, bind = \"0.0.0.0:12345\", interface = lan },"
                        + " { name = lan2, mode = tproxy, bind = \"0.0.0.0:12346\", interface = lan2 }]");
        InvalidConfigException e = assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(hocon));
        assertTrue(e.getMessage().contains("port 12346"), e.getMessage());
    }
}
