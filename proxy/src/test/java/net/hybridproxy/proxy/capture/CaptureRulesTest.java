package net.hybridproxy.proxy.capture;

import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import net.hybridproxy.proxy.testing.NetNs;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ruleset the cpe installs: its shape, and that the real nft accepts it. */
class CaptureRulesTest {
    private static final String BYPASS = """
            { name = bank, destinations = ["203.0.113.0/24", "2001:db8::/32"], ports = ["443"], action = direct,
              uplink = lte }
            { name = console, source-macs = ["02:00:5e:10:00:01"], action = direct, uplink = dsl }
            { name = game, sources = ["198.18.1.3/32"], ports = ["27015-27030"], action = proxy, uplink = lte }""";

    private static AppConfig config(String bypass) throws Exception {
        String hocon = """
                hybridproxy {
                  role = cpe
                  uplinks = [
                    { name = dsl, interface = dsl, address = "198.18.10.1", gateway = "198.18.10.2" }
                    { name = lte, interface = lte, address = "198.18.20.1", gateway = "198.18.20.2" }
                  ]
                  path-manager { install-routes = true, route-table-base = 100 }
                  cpe {
                    concentrator = "198.18.100.1:5100"
                    install-capture-rules = true
                    listeners = [{ name = lan, mode = tproxy, bind = "0.0.0.0:12345", interface = lan,
                                   ports = ["80", "443"] }]
                    bypass = [%s]
                  }
                }
                """.formatted(bypass);
        return ConfigLoader.parseString(hocon);
    }

    @Test
    void bypassRulesComeFirstInConfigurationOrder() throws Exception {
        String script = new CaptureRules(config(BYPASS)).nftScript();
        List<String> prerouting = script.lines().map(String::strip).filter(l -> l.startsWith("iifname")).toList();
        assertEquals(List.of(
                "iifname { \"lan\" } meta nfproto ipv4 meta l4proto { tcp, udp } ip daddr { 203.0.113.0/24 }"
                        + " th dport { 443 } meta mark set 0x4861 accept comment \"bypass bank: direct via lte\"",
                "iifname { \"lan\" } meta nfproto ipv4 ether saddr { 02:00:5e:10:00:01 } meta mark set 0x4860 accept"
                        + " comment \"bypass console: direct via dsl\"",
                "iifname \"lan\" meta l4proto tcp ip saddr { 198.18.1.3/32 } th dport { 27015-27030 } fib daddr type"
                        + " != local tproxy ip to :12347 meta mark set 0x4850 accept comment \"bypass game: proxy via"
                        + " lte\"",
                "iifname \"lan\" meta l4proto tcp th dport { 80, 443 } fib daddr type != local tproxy ip to :12345"
                        + " meta mark set 0x4850 accept"), prerouting);
        assertTrue(script.contains("meta mark & 0xfffffff0 == 0x4860 accept"), script);
        assertTrue(script.contains("meta mark 0x4861 oifname \"lte\" masquerade"), script);
        assertTrue(script.contains("meta mark 0x4860 oifname \"dsl\" masquerade"), script);
        String commands = new CaptureRules(config(BYPASS)).describe();
        assertTrue(commands.contains("ip -4 rule add fwmark " + 0x4861 + " lookup 101 priority 8990"), commands);
        assertTrue(commands.contains("ip -4 rule add fwmark " + 0x4860 + " lookup 100 priority 8990"), commands);
    }

    @Test
    void withoutBypassTheRulesetIsTheCaptureAlone() throws Exception {
        String script = new CaptureRules(config("")).nftScript();
        assertTrue(!script.contains("bypass") && !script.contains("srcnat") && !script.contains("0x4860"), script);
    }

    /** nft itself parses the script (nft -c: check only), in a private namespace so nothing is installed here. */
    @Test
    void nftAcceptsTheScript() throws Exception {
        String skip = NetNs.skipReason();
        Assumptions.assumeTrue(skip == null, skip);
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/sbin/nft")), "needs nft (Debian package nftables)");
        for (String bypass : List.of(BYPASS, "")) {
            Path script = Files.createTempFile("hybridproxy", ".nft");
            try (NetNs ns = NetNs.create("nft")) {
                Files.writeString(script, new CaptureRules(config(bypass)).nftScript(), StandardCharsets.UTF_8);
                ns.exec("nft", "-c", "-f", script.toString());
            } catch (IOException e) {
                throw new AssertionError("nft refused the script:\n" + Files.readString(script), e);
            } finally {
                Files.delete(script);
            }
        }
    }
}
