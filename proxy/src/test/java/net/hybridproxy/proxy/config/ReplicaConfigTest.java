package net.hybridproxy.proxy.config;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A concentrator replica's path-manager keys: its own announced address and port, and MP_CAPABLE's C flag. */
class ReplicaConfigTest {
    private static final String CONCENTRATOR = """
            hybridproxy { role = concentrator, concentrator.authorized-cidrs = ["198.18.0.0/15"]
            """;

    @Test
    void defaultsAllowJoinsToTheInitialAddressAndAnnounceNoPort() throws Exception {
        AppConfig.PathManagerConfig pm = ConfigLoader.parseString(CONCENTRATOR + "}").pathManager();
        assertTrue(pm.allowJoinInitialAddress());
        assertEquals(0, pm.announcePort());
    }

    @Test
    void aReplicaAnnouncesItsAddressWithAJoinPortAndSetsTheCFlag() throws Exception {
        AppConfig.PathManagerConfig pm = ConfigLoader.parseString(CONCENTRATOR + """
                path-manager { announce = ["198.18.41.2"], announce-port = 5200, allow-join-initial-address = false }
                }""").pathManager();
        assertEquals(List.of(InetAddress.getByName("198.18.41.2")), pm.announce());
        assertEquals(5200, pm.announcePort());
        assertFalse(pm.allowJoinInitialAddress());
    }

    @Test
    void theCFlagWithoutAnAnnouncedAddressIsRefused() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(
                CONCENTRATOR + "path-manager.allow-join-initial-address = false }"));
        assertTrue(e.getMessage().contains("announce this replica's own address"), e.getMessage());
    }

    @Test
    void onlyAConcentratorSetsTheCFlag() {
        InvalidConfigException e = assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString("""
                hybridproxy { role = sidecar, sidecar.upstream = "127.0.0.1:8080"
                  path-manager.allow-join-initial-address = false }"""));
        assertTrue(e.getMessage().contains("only a concentrator"), e.getMessage());
    }

    @Test
    void theAnnouncedPortIsAPort() {
        assertThrows(InvalidConfigException.class, () -> ConfigLoader.parseString(
                CONCENTRATOR + "path-manager.announce-port = 70000 }"));
    }
}
