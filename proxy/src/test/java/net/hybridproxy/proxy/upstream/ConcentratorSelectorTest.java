package net.hybridproxy.proxy.upstream;

import net.hybridproxy.proxy.config.AppConfig.HealthCheck;
import net.hybridproxy.proxy.config.AppConfig.UpstreamConcentrator;
import net.hybridproxy.proxy.upstream.ConcentratorSelector.Choice;
import net.hybridproxy.proxy.upstream.ConcentratorSelector.Switch;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The concentrator choice as a table of events and times: no clock, no sockets. */
class ConcentratorSelectorTest {
    private static final long S = 1_000_000_000L;
    private static final UpstreamConcentrator MAIN = concentrator("main", "198.18.41.2");
    private static final UpstreamConcentrator BACKUP = concentrator("backup", "198.18.42.2");
    private static final UpstreamConcentrator THIRD = concentrator("third", "198.18.43.2");
    /** failures 2, recoveries 2, fail back after 30 s. */
    private static final HealthCheck POLICY = new HealthCheck(Duration.ofSeconds(2), Duration.ofSeconds(1), 2, 2,
            Duration.ofSeconds(30));
    private static final Optional<String> OK = Optional.empty();
    private static final Optional<String> TIMEOUT = Optional.of("connect timed out");

    private final long start = 1000 * S;
    private final ConcentratorSelector selector = new ConcentratorSelector(List.of(MAIN, BACKUP, THIRD), POLICY, start);

    @Test
    void startsOnThePrimaryWithEveryoneUp() {
        assertEquals(MAIN, selector.choice().concentrator());
        assertTrue(selector.health().stream().allMatch(ConcentratorSelector.Health::up));
        assertEquals(0, selector.switches());
    }

    @Test
    void aRefusedConnectionFailsOverAtOnce() {
        Optional<Switch> change = selector.connectFailed(at(0), "Connection refused", true, start + 1);
        assertTrue(change.isPresent());
        assertEquals(MAIN, change.get().from().concentrator());
        assertEquals(BACKUP, change.get().to().concentrator());
        assertTrue(change.get().leftDown(), "the primary is down: its sessions are cut");
        assertEquals(BACKUP, selector.choice().concentrator());
        assertEquals(1, selector.switches());
    }

    @Test
    void oneTimeoutIsNotEnoughTwoAre() {
        assertTrue(selector.probed(at(0), TIMEOUT, start + S).isEmpty());
        assertEquals(MAIN, selector.choice().concentrator());
        Switch change = selector.probed(at(0), TIMEOUT, start + 3 * S).orElseThrow();
        assertEquals(BACKUP, change.to().concentrator());
        assertTrue(change.reason().contains("connect timed out"), change.reason());
    }

    @Test
    void aSuccessInBetweenStartsTheFailureCountAgain() {
        selector.probed(at(0), TIMEOUT, start + S);
        selector.connected(at(0));
        assertTrue(selector.probed(at(0), TIMEOUT, start + 3 * S).isEmpty());
        assertEquals(MAIN, selector.choice().concentrator());
    }

    /**
     * A hung concentrator: its kernel still completes connects and probes (the listen backlog accepts), but no
     * Convert reply comes. Two reply timeouts in a row mark it down although every connect and probe between them
     * succeeded.
     */
    @Test
    void replyTimeoutsMarkItDownThoughConnectsAndProbesSucceed() {
        selector.connected(at(0));
        assertTrue(selector.replyTimedOut(at(0), "no Convert reply within 20000 ms", start + S).isEmpty());
        selector.connected(at(0));
        assertTrue(selector.probed(at(0), OK, start + 2 * S).isEmpty());
        Switch change = selector.replyTimedOut(at(0), "no Convert reply within 20000 ms", start + 3 * S)
                .orElseThrow();
        assertEquals(BACKUP, change.to().concentrator());
        assertTrue(change.leftDown());
        assertTrue(change.reason().contains("no Convert reply"), change.reason());
        assertFalse(selector.health().get(0).up());
    }

    @Test
    void aReplyInBetweenStartsTheReplyTimeoutCountAgain() {
        selector.replyTimedOut(at(0), "no Convert reply", start + S);
        selector.replied(at(0));
        assertTrue(selector.replyTimedOut(at(0), "no Convert reply", start + 2 * S).isEmpty());
        assertEquals(MAIN, selector.choice().concentrator());
        assertTrue(selector.health().get(0).up());
    }

    /** Probes bring it back as for any failure; still silent, its next reply timeout takes it down at once. */
    @Test
    void backUpByProbesAStillSilentConcentratorIsDownAgainAtItsNextReplyTimeout() {
        selector.replyTimedOut(at(0), "no Convert reply", start + S);
        selector.replyTimedOut(at(0), "no Convert reply", start + 2 * S);
        selector.probed(at(0), OK, start + 3 * S);
        selector.probed(at(0), OK, start + 4 * S);
        assertTrue(selector.health().get(0).up());
        selector.replyTimedOut(at(0), "no Convert reply", start + 6 * S);
        assertFalse(selector.health().get(0).up());
    }

    @Test
    void failsBackOnlyAfterRecoveriesAndTheHoldDown() {
        selector.connectFailed(at(0), "Connection refused", true, start);
        long t = start + 2 * S;
        assertTrue(selector.probed(at(0), OK, t).isEmpty(), "one success is not a recovery");
        assertFalse(selector.health().get(0).up());
        assertTrue(selector.probed(at(0), OK, t + 2 * S).isEmpty(), "up now, but the hold-down runs");
        assertTrue(selector.health().get(0).up());
        long upAt = t + 2 * S;
        assertTrue(selector.tick(upAt + 29 * S).isEmpty());
        assertEquals(BACKUP, selector.choice().concentrator());
        Switch back = selector.tick(upAt + 30 * S).orElseThrow();
        assertEquals(MAIN, back.to().concentrator());
        assertFalse(back.leftDown(), "fail back: the backup's connections are left alone");
        assertEquals(2, selector.switches());
    }

    @Test
    void aPrimaryThatFlapsDuringTheHoldDownStartsItAgain() {
        selector.connectFailed(at(0), "Connection refused", true, start);
        selector.probed(at(0), OK, start + 2 * S);
        selector.probed(at(0), OK, start + 4 * S); // up at 4 s
        selector.connectFailed(at(0), "Connection refused", true, start + 20 * S); // down again
        selector.probed(at(0), OK, start + 22 * S);
        selector.probed(at(0), OK, start + 24 * S); // up at 24 s
        assertTrue(selector.tick(start + 40 * S).isEmpty(), "30 s since the first recovery, 16 since the last");
        assertEquals(MAIN, selector.tick(start + 54 * S).orElseThrow().to().concentrator());
    }

    @Test
    void theBackupFailingAfterThePrimaryRecoveredGoesBackAtOnce() {
        selector.connectFailed(at(0), "Connection refused", true, start);
        selector.probed(at(0), OK, start + 2 * S);
        selector.probed(at(0), OK, start + 4 * S);
        Choice backup = selector.choice();
        Switch change = selector.connectFailed(backup, "Connection refused", true, start + 5 * S).orElseThrow();
        assertEquals(MAIN, change.to().concentrator(), "a healthy primary needs no hold-down when the backup dies");
        assertTrue(change.leftDown());
    }

    @Test
    void skipsABackupThatIsDownToo() {
        selector.connectFailed(at(1), "Connection refused", true, start);
        Switch change = selector.connectFailed(at(0), "Connection refused", true, start + S).orElseThrow();
        assertEquals(THIRD, change.to().concentrator());
    }

    @Test
    void withEveryoneDownTheActiveStaysAndTheFirstToRecoverTakesOver() {
        selector.connectFailed(at(1), "refused", true, start);
        selector.connectFailed(at(2), "refused", true, start);
        assertTrue(selector.connectFailed(at(0), "refused", true, start).isEmpty());
        assertEquals(MAIN, selector.choice().concentrator());
        selector.probed(at(2), OK, start + 2 * S);
        Switch change = selector.probed(at(2), OK, start + 4 * S).orElseThrow();
        assertEquals(THIRD, change.to().concentrator());
    }

    @Test
    void reportsAgainstAListAReloadReplacedAreIgnored() {
        Choice stale = at(0);
        selector.reconfigure(List.of(MAIN, BACKUP), POLICY, start + S);
        assertTrue(selector.connectFailed(stale, "refused", true, start + 2 * S).isEmpty());
        assertEquals(MAIN, selector.choice().concentrator());
    }

    @Test
    void aReloadKeepsHealthByAddressAndStaysOnAHealthyActive() {
        selector.connectFailed(at(0), "refused", true, start);
        assertEquals(BACKUP, selector.choice().concentrator());
        // The down primary is still listed (renamed); the backup stays active; health is kept by address.
        UpstreamConcentrator renamed = new UpstreamConcentrator("primary", MAIN.address());
        assertTrue(selector.reconfigure(List.of(renamed, BACKUP), POLICY, start + S).isEmpty());
        assertEquals(BACKUP, selector.choice().concentrator());
        assertFalse(selector.health().get(0).up());
    }

    @Test
    void aReloadThatRemovesTheActiveMovesToTheNewFirstWithoutCutting() {
        Switch change = selector.reconfigure(List.of(BACKUP, THIRD), POLICY, start + S).orElseThrow();
        assertNull(change.from());
        assertEquals(BACKUP, change.to().concentrator());
        assertFalse(change.leftDown());
    }

    @Test
    void aReloadThatPutsANewPrimaryFirstFailsBackToItWithoutAHoldDown() {
        // A concentrator new to the list has no history: it is taken as up for ever, like every one at start.
        selector.connectFailed(at(0), "refused", true, start);
        Switch change = selector.reconfigure(List.of(THIRD, BACKUP), POLICY, start + S).orElseThrow();
        assertEquals(THIRD, change.to().concentrator());
    }

    @Test
    void aZeroHoldDownFailsBackAsSoonAsThePrimaryIsUp() {
        ConcentratorSelector quick = new ConcentratorSelector(List.of(MAIN, BACKUP),
                new HealthCheck(Duration.ofSeconds(1), Duration.ofSeconds(1), 1, 1, Duration.ZERO), start);
        quick.probed(quick.choice(), TIMEOUT, start);
        assertEquals(BACKUP, quick.choice().concentrator());
        Choice main = quick.all().get(0);
        assertEquals(MAIN, quick.probed(main, OK, start + S).orElseThrow().to().concentrator());
    }

    @Test
    void aListOfTwoOrMoreIsProbedWholeWhateverItsHealth() {
        assertEquals(3, selector.probeTargets().size());
        selector.connectFailed(at(1), "Connection refused", true, start + 1);
        assertEquals(selector.all(), selector.probeTargets());
    }

    /**
     * A single concentrator that was marked down comes back up through probes alone, with no client connection:
     * before, nothing probed a list of one, and its up gauge stayed 0 after it was back.
     */
    @Test
    void aSingleConcentratorIsProbedOnlyWhileDownAndProbesBringItBackUp() {
        ConcentratorSelector single = new ConcentratorSelector(List.of(MAIN), POLICY, start);
        assertTrue(single.probeTargets().isEmpty(), "up: its connections report failures, nothing to switch to");

        Choice only = single.all().get(0);
        single.connectFailed(only, "Connection refused", true, start + 1);
        assertFalse(single.health().get(0).up());
        assertEquals(List.of(only), single.probeTargets());

        single.connected(only);
        assertFalse(single.health().get(0).up(), "a connection alone does not mark it up");
        single.probed(only, OK, start + 2 * S);
        assertEquals(List.of(only), single.probeTargets(), "one success of the two recoveries");
        single.probed(only, OK, start + 4 * S);
        assertTrue(single.health().get(0).up());
        assertEquals("", single.health().get(0).lastFailure());
        assertTrue(single.probeTargets().isEmpty());
        assertEquals(MAIN, single.choice().concentrator());
        assertEquals(0, single.switches());
    }

    private Choice at(int index) {
        return selector.all().get(index);
    }

    private static UpstreamConcentrator concentrator(String name, String address) {
        return new UpstreamConcentrator(name, new InetSocketAddress(address, 5100));
    }
}
