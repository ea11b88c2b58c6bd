package net.hybridproxy.engine.multipath.connection;

/**
 * Bytes {@link Session#pollTransmit} wrote into the caller's buffer, and the subflow they must
 * be written to.
 *
 * @param subflowId the subflow
 * @param bytes     how many bytes were written, at least 1
 */
public record Transmit(long subflowId, int bytes) {
}
