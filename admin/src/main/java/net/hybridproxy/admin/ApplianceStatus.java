package net.hybridproxy.admin;

import java.util.List;
import java.util.Map;

/**
 * What {@code GET /api/v1/status} returns and the status page shows: one consistent picture of the appliance.
 * Byte figures are cumulative since start (the page turns them into rates); RTT and cwnd are from the latest
 * sample. No client address or destination appears anywhere in it.
 *
 * @param role             cpe, concentrator or sidecar
 * @param engine           the multipath engine, e.g. kernel
 * @param transport        the Netty transport, e.g. epoll
 * @param uptimeSeconds    since the appliance started
 * @param sampledAtMillis  epoch milliseconds of the subflow sample the figures come from
 * @param uplinks          every configured uplink, in configuration order
 * @param subflows         open subflows, busiest first, at most {@code subflowLimit} of them
 * @param subflowsOmitted  open subflows left out of {@code subflows} to keep the answer bounded
 * @param connections      connection counters of the whole process
 * @param recentFailovers  newest first, bounded
 * @param sessions         the userspace engine's sessions, or null where it does not run
 * @param cpes             on a concentrator, one row per cpe (bounded; the rest summed in a row named "other");
 *                         empty elsewhere
 * @param concentrators    cpe: its concentrators in priority order, with their health and the active one; empty
 *                         on the other roles
 */
public record ApplianceStatus(String role, String engine, String transport, long uptimeSeconds, long sampledAtMillis,
                              List<UplinkStatusView> uplinks, List<SubflowStatusView> subflows, int subflowsOmitted,
                              Connections connections, List<Failover> recentFailovers, SessionsStatusView sessions,
                              List<CpeStatusView> cpes, List<ConcentratorHealth> concentrators) {
    public ApplianceStatus {
        uplinks = List.copyOf(uplinks);
        subflows = List.copyOf(subflows);
        recentFailovers = List.copyOf(recentFailovers);
        cpes = List.copyOf(cpes);
        concentrators = List.copyOf(concentrators);
    }

    /** Without a concentrator list (a concentrator, a sidecar). */
    public ApplianceStatus(String role, String engine, String transport, long uptimeSeconds, long sampledAtMillis,
                           List<UplinkStatusView> uplinks, List<SubflowStatusView> subflows, int subflowsOmitted,
                           Connections connections, List<Failover> recentFailovers, SessionsStatusView sessions,
                           List<CpeStatusView> cpes) {
        this(role, engine, transport, uptimeSeconds, sampledAtMillis, uplinks, subflows, subflowsOmitted, connections,
                recentFailovers, sessions, cpes, List.of());
    }

    /** Without a per-cpe table (a cpe or a sidecar). */
    public ApplianceStatus(String role, String engine, String transport, long uptimeSeconds, long sampledAtMillis,
                           List<UplinkStatusView> uplinks, List<SubflowStatusView> subflows, int subflowsOmitted,
                           Connections connections, List<Failover> recentFailovers, SessionsStatusView sessions) {
        this(role, engine, transport, uptimeSeconds, sampledAtMillis, uplinks, subflows, subflowsOmitted, connections,
                recentFailovers, sessions, List.of(), List.of());
    }

    /** Without the userspace engine's sessions (the kernel engine has none). */
    public ApplianceStatus(String role, String engine, String transport, long uptimeSeconds, long sampledAtMillis,
                           List<UplinkStatusView> uplinks, List<SubflowStatusView> subflows, int subflowsOmitted,
                           Connections connections, List<Failover> recentFailovers) {
        this(role, engine, transport, uptimeSeconds, sampledAtMillis, uplinks, subflows, subflowsOmitted, connections,
                recentFailovers, null, List.of(), List.of());
    }

    /**
     * One of a cpe's concentrators.
     *
     * @param name        as configured (or its position in the list)
     * @param address     "host:port"
     * @param up          whether it passes its health checks
     * @param active      whether new connections go to it
     * @param lastFailure why its last probe or connection failed ("" when none since it was last up)
     */
    public record ConcentratorHealth(String name, String address, boolean up, boolean active, String lastFailure) {
    }

    /**
     * The userspace engine's sessions (a cpe runs one per event loop; a concentrator one per cpe session).
     *
     * @param streams                 proxied connections carried as streams, over all sessions
     * @param reorderBufferBytes      received bytes held out of order, waiting for a gap to fill
     * @param overflowBudgetUsedBytes overflow (LTE) bytes counted against the primary-first budget this period
     */
    public record SessionsStatusView(int sessions, int established, int streams, long reorderBufferBytes,
                                     long overflowBudgetUsedBytes) {
    }

    /**
     * One uplink.
     *
     * @param adminState    active, backup, draining or disabled (what the admin API last set, or the configuration)
     * @param usable        whether the interface is up with its address and not disabled
     * @param usableDetail  why it is (not) usable, for the operator
     * @param srttSeconds   mean smoothed RTT over its open subflows; NaN when it has none
     * @param cwndSegments  mean congestion window over its open subflows, in segments; NaN when it has none
     * @param mptcpFallbacks connections whose first subflow left by this uplink and fell back to plain TCP (an
     *                       MPTCP option stripped or refused on its path)
     */
    public record UplinkStatusView(String name, String interfaceName, String address, String configuredRole,
                                   String adminState, boolean usable, String usableDetail, int subflows,
                                   double srttSeconds, double cwndSegments, long bytesSent, long bytesReceived,
                                   long bytesRetransmitted, long subflowsOpened, long subflowsClosed,
                                   long joinFailures, long failovers, long mptcpFallbacks) {
    }

    /**
     * One open subflow. {@code connection} is a small per-process sequence number, so rows of one connection can
     * be grouped without exposing the kernel token or any address.
     */
    public record SubflowStatusView(String uplink, long connection, int subflowId, String state, double srttSeconds,
                                    long cwndSegments, long bytesSent, long bytesReceived, long bytesRetransmitted) {
    }

    public record Connections(int active, int max, long total, long refused, long mptcpFallbacks,
                              long authFailures, long convertErrors, long bytesUpstream, long bytesDownstream) {
    }

    /**
     * A subflow lost while its connection lived on over other subflows.
     *
     * @param atMillis           epoch milliseconds
     * @param reason             bounded vocabulary: timeout, reset, refused, unreachable, mptcp_reset, closed, ...
     * @param remainingSubflows  subflows the connection still had right after
     */
    public record Failover(long atMillis, String uplink, String reason, int remainingSubflows) {
    }

    /**
     * One cpe as the concentrator sees it. A cpe is named by the key id it authenticated with (the userspace
     * engine's session key, or the Convert cookie's key with the kernel engine) or, where the concentrator checks no
     * keys, by its source address; the row named "other" sums the cpes beyond the table's bound.
     *
     * @param identifiedBy      key, address, or other
     * @param sessions          live userspace sessions (0 with the kernel engine, which has none)
     * @param connections       proxied connections open now
     * @param connectionsTotal  proxied connections since the row was created
     * @param bytesUpstream     relayed from the cpe to the destinations
     * @param bytesDownstream   relayed from the destinations to the cpe
     * @param subflowsByUplink  open subflows per uplink, from the latest sample: the cpe's uplink name (userspace
     *                          engine) or the cpe's address the subflow comes from (kernel engine)
     */
    public record CpeStatusView(String id, String identifiedBy, int sessions, int connections, long connectionsTotal,
                                long bytesUpstream, long bytesDownstream, Map<String, Integer> subflowsByUplink) {
        public CpeStatusView {
            subflowsByUplink = Map.copyOf(subflowsByUplink);
        }
    }
}
