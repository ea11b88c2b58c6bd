package net.hybridproxy.proxy.config;

import net.hybridproxy.engine.multipath.frame.SubflowPriority;
import net.hybridproxy.proxy.userspace.UserspaceSettings;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Selecting and configuring the userspace engine: the shipped examples load, and what it needs is enforced. */
class UserspaceConfigTest {
    private static final String CPE = """
            hybridproxy {
              role = cpe
              engine = userspace
              uplinks = [
                { name = dsl, interface = dsl, address = "198.18.10.1", role = primary }
                { name = lte, interface = lte, address = "198.18.20.1", role = overflow }
              ]
              cpe {
                concentrator = "198.18.100.1:5101"
                listeners = [{ name = lan, mode = explicit, bind = "127.0.0.1:1", destination = "198.18.30.2:80" }]
                %s
              }
              %s
            }
            """;
    private static final String CONCENTRATOR_KEY = "hex:00112233445566778899aabbccddeeff";
    private static final String KEY = "key-id = \"cpe-1\"\nkey = \"hex:00112233445566778899aabbccddeeff\"";

    @Test
    void theShippedExamplesLoad() throws Exception {
        AppConfig cpe = ConfigLoader.load(Path.of("..", "configs", "cpe-userspace.conf"));
        assertEquals(AppConfig.Engine.USERSPACE, cpe.engine());
        assertEquals("primary-first", cpe.userspace().scheduler());
        assertEquals(20L << 30, cpe.userspace().overflowBudgetBytes().orElseThrow());
        AppConfig concentrator = ConfigLoader.load(Path.of("..", "configs", "concentrator.conf"));
        assertEquals(1, concentrator.concentrator().orElseThrow().userspaceListen().size());
    }

    @Test
    void uplinkRolesBecomeSubflowPrioritiesAndDefaultsAreTheDocumentedOnes() throws Exception {
        AppConfig config = ConfigLoader.parseString(CPE.formatted(KEY, ""));
        var uplinks = UserspaceSettings.uplinks(config);
        assertEquals(SubflowPriority.PRIMARY, uplinks.get(0).priority());
        assertEquals(SubflowPriority.OVERFLOW, uplinks.get(1).priority());
        assertEquals(1, uplinks.get(0).addressId());
        assertEquals(2, uplinks.get(1).addressId());
        UserspaceSettings settings = UserspaceSettings.from(config);
        assertEquals("lowest-rtt", settings.session().scheduler());
        assertEquals(256 * 1024, settings.notSentLowWatermark());
        assertEquals(Long.MAX_VALUE, settings.session().overflowBudgetBytes());
        assertEquals(false, settings.session().lateReinjection());
        assertEquals(2, settings.session().receiveWindowPeriods());
        assertEquals(false, settings.session().receivePeriodFromReceiverRtt());
        assertEquals(false, settings.session().collapseReinjection());
        assertEquals(false, settings.session().warmStreamWindows());
        assertEquals(false, settings.restartCongestionControlAfterCollapse());
        assertEquals(8, config.userspace().warmSessionConnections());
    }

    @Test
    void theCongestionControlRestartAfterACollapseIsTurnedOnByItsKey() throws Exception {
        AppConfig config = ConfigLoader.parseString(CPE.formatted(KEY,
                "userspace.restart-congestion-control-after-collapse = true"));
        assertTrue(UserspaceSettings.from(config).restartCongestionControlAfterCollapse());
    }

    @Test
    void theWarmSessionPreferenceIsTurnedOffByAZeroLimitAndRefusesANegativeOne() throws Exception {
        AppConfig config = ConfigLoader.parseString(CPE.formatted(KEY, "userspace.warm-session-connections = 0"));
        assertEquals(0, config.userspace().warmSessionConnections());
        assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(
                CPE.formatted(KEY, "userspace.warm-session-connections = -1")));
    }

    @Test
    void warmStreamWindowsAreTurnedOnByTheirKey() throws Exception {
        AppConfig config = ConfigLoader.parseString(CPE.formatted(KEY, "userspace.warm-stream-windows = true"));
        assertTrue(UserspaceSettings.from(config).session().warmStreamWindows());
    }

    @Test
    void theCollapseRuleIsTurnedOnAloneByItsKey() throws Exception {
        AppConfig config = ConfigLoader.parseString(CPE.formatted(KEY, "userspace.collapse-reinjection = true"));
        assertTrue(UserspaceSettings.from(config).session().collapseReinjection());
        assertEquals(false, UserspaceSettings.from(config).session().lateReinjection());
    }

    @Test
    void theReceivePeriodFromTheReceiversRttIsTurnedOnByItsKey() throws Exception {
        AppConfig config = ConfigLoader.parseString(CPE.formatted(KEY,
                "userspace.receive-period-from-receiver-rtt = true"));
        assertTrue(UserspaceSettings.from(config).session().receivePeriodFromReceiverRtt());
    }

    @Test
    void theReceiveWindowsGrowthIsSetByItsKeyWithinTwoToSixteen() throws Exception {
        AppConfig config = ConfigLoader.parseString(CPE.formatted(KEY, "userspace.receive-window-periods = 4"));
        assertEquals(4, UserspaceSettings.from(config).session().receiveWindowPeriods());
        assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(CPE.formatted(KEY, "userspace.receive-window-periods = 1")));
    }

    @Test
    void lateReinjectionIsTurnedOnByItsKey() throws Exception {
        AppConfig config = ConfigLoader.parseString(CPE.formatted(KEY, "userspace.late-reinjection = true"));
        assertTrue(UserspaceSettings.from(config).session().lateReinjection());
    }

    @Test
    void aReplicaAnnouncesItsAddressWithItsUserspaceListenersPort() throws Exception {
        AppConfig replica = ConfigLoader.parseString("""
                hybridproxy { role = concentrator
                  concentrator { authorized-cidrs = ["198.18.0.0/15"], userspace-listen = ["[::]:5101", "[::]:6101"]
                                 keys = [{ id = "cpe-1", key = "%s" }] }
                  path-manager { announce = ["198.18.41.2"], announce-port = 5200 }
                }""".formatted(CONCENTRATOR_KEY));
        assertEquals(List.of(new InetSocketAddress(InetAddress.getByName("198.18.41.2"), 5101)),
                UserspaceSettings.announcements(replica));
        AppConfig single = ConfigLoader.parseString("""
                hybridproxy { role = concentrator
                  concentrator { authorized-cidrs = ["198.18.0.0/15"], userspace-listen = ["[::]:5101"]
                                 keys = [{ id = "cpe-1", key = "%s" }] }
                }""".formatted(CONCENTRATOR_KEY));
        assertEquals(List.of(), UserspaceSettings.announcements(single), "nothing announced unless configured");
    }

    @Test
    void aCpeWithoutAKeyIsRefusedWithTheReason() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(CPE.formatted("", "")));
        assertTrue(e.getMessage().contains("cpe.key-id") && e.getMessage().contains("pre-shared key"), e.getMessage());
    }

    @Test
    void anUnknownSchedulerIsRefusedListingTheKnownOnes() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(CPE.formatted(KEY, "userspace.scheduler = fastest")));
        assertTrue(e.getMessage().contains("userspace.scheduler") && e.getMessage().contains("primary-first"),
                e.getMessage());
    }

    @Test
    void tooManySubflowsForOneSessionAreRefused() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(CPE.formatted(KEY, "userspace.subflows-per-uplink = 5")));
        assertTrue(e.getMessage().contains("subflows-per-uplink"), e.getMessage());
    }

    @Test
    void aUserspaceConcentratorNeedsAUserspaceListenerAndKeys() {
        String noListener = """
                hybridproxy {
                  role = concentrator
                  engine = userspace
                  concentrator.keys = [{ id = "cpe-1", key = "hex:00112233445566778899aabbccddeeff" }]
                }
                """;
        InvalidConfigException e = assertThrows(InvalidConfigException.class,
                () -> ConfigLoader.parseString(noListener));
        assertTrue(e.getMessage().contains("userspace-listen"), e.getMessage());
        String noKeys = """
                hybridproxy {
                  role = concentrator
                  engine = userspace
                  concentrator.userspace-listen = ["[::]:5101"]
                  concentrator.authorized-cidrs = ["198.18.0.0/15"]
                }
                """;
        e = assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(noKeys));
        assertTrue(e.getMessage().contains("concentrator.keys"), e.getMessage());
    }

    @Test
    void theSidecarStaysOnTheKernelEngine() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString("""
                hybridproxy {
                  role = sidecar
                  engine = userspace
                  sidecar.upstream = "127.0.0.1:9"
                }
                """));
        assertTrue(e.getMessage().contains("kernel engine"), e.getMessage());
    }
}
