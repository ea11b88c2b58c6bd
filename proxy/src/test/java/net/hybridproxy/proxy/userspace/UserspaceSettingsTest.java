package net.hybridproxy.proxy.userspace;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
