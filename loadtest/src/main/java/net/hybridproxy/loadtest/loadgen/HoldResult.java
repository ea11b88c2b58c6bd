package net.hybridproxy.loadtest.loadgen;

/**
 * What a {@link HoldOptions} run measured.
 *
 * @param verified             connections over which the object came back intact
 * @param openSeconds          time to open them all
 * @param connectionsPerSecond connections opened per second
 * @param stillOpenAfterHold   connections still open at the end of the hold
 */
public record HoldResult(boolean ok, int connections, int verified, int errors, double openSeconds,
                         double connectionsPerSecond, long stillOpenAfterHold) {
}
