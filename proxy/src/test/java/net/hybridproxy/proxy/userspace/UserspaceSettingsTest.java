package net.hybridproxy.proxy.userspace;

import io.netty.channel.WriteBufferWaterMark;
import net.hybridproxy.engine.multipath.connection.ConcentratorEndpoint;
import net.hybridproxy.engine.multipath.connection.SessionConfig;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The process-wide session budget never reaches the heap it is meant to protect. */
class UserspaceSettingsTest {
    private static final long MIB = 1L << 20;

    @Test
    void theBudgetIsAtMostHalfTheMaximumHeap() {
        // The launcher's defaults on a 512 MB router: a 128 MiB heap, so 64 MiB for sessions, not 128.
        assertEquals(64 * MIB, UserspaceSettings.effectiveProcessMemory(128 * MIB, 128 * MIB));
        // A large machine: the configured budget stands.
        assertEquals(128 * MIB, UserspaceSettings.effectiveProcessMemory(128 * MIB, 6144 * MIB));
        assertEquals(32 * MIB, UserspaceSettings.effectiveProcessMemory(32 * MIB, 128 * MIB));
    }

    @Test
    void aBudgetTheHeapHoldsLowerIsLoggedWithBothFiguresAndAnUntouchedOneIsNot() {
        // The launcher's default heap cap (128 MiB) and reference.conf's 128 MiB budget: 64 MiB enforced.
        String line = UserspaceSettings.processMemoryNotice(128 * MIB, 128 * MIB).orElseThrow();
        assertTrue(line.contains("128 MiB is held to 64 MiB"), line);
        assertTrue(line.contains("maximum heap of 128 MiB"), line);
        // The Helm chart's concentrator: half of a 1 GiB limit, so the configured budget stands.
        assertTrue(UserspaceSettings.processMemoryNotice(128 * MIB, 512 * MIB).isEmpty());
    }

    @Test
    void aKeysShareIsAQuarterOfTheBudgetButAtLeastOneSessions() {
        assertEquals(32 * MIB, settings(32 * MIB, 128 * MIB).keyMemoryShare());
        assertEquals(64 * MIB, settings(32 * MIB, 256 * MIB).keyMemoryShare());
        // A 512 MB router: 64 MiB for all sessions, and one key may still grow one session to its 32 MiB.
        assertEquals(32 * MIB, settings(32 * MIB, 64 * MIB).keyMemoryShare());
        assertEquals(16 * MIB, settings(32 * MIB, 16 * MIB).keyMemoryShare());
    }

    private static UserspaceSettings settings(long sessionMemory, long processMemory) {
        return new UserspaceSettings(SessionConfig.defaults().withSessionMemoryBudget(sessionMemory),
                Duration.ofSeconds(1), Duration.ofSeconds(1), Duration.ofSeconds(1),
                new WriteBufferWaterMark(1024, 2048), 2048, ConcentratorEndpoint.Limits.defaults(16), processMemory, false,
                false, 8);
    }
}
