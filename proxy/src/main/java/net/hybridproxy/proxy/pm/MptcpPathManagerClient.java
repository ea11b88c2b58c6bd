package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.nativeio.Errno;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static net.hybridproxy.proxy.pm.NetlinkConstants.AF_INET;
import static net.hybridproxy.proxy.pm.NetlinkConstants.AF_INET6;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_ADDR_ATTR_ADDR4;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_ADDR_ATTR_ADDR6;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_ADDR_ATTR_FAMILY;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_ADDR_ATTR_FLAGS;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_ADDR_ATTR_ID;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_ADDR_ATTR_IF_IDX;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_ADDR_ATTR_PORT;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_ATTR_ADDR;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_ATTR_RCV_ADD_ADDRS;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_ATTR_SUBFLOWS;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_CMD_ADD_ADDR;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_CMD_DEL_ADDR;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_CMD_FLUSH_ADDRS;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_CMD_GET_ADDR;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_CMD_GET_LIMITS;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_CMD_SET_FLAGS;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_CMD_SET_LIMITS;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_NAME;
import static net.hybridproxy.proxy.pm.NetlinkConstants.MPTCP_PM_VER;
import static net.hybridproxy.proxy.pm.NetlinkConstants.commandName;

/**
 * Client for the kernel's in-kernel MPTCP path manager ({@code mptcp_pm} generic netlink family): the same
 * operations as {@code ip mptcp endpoint} and {@code ip mptcp limits}.
 *
 * <p>Every call is a synchronous round trip to the kernel over a blocking socket private to this client; it
 * usually takes microseconds but may block for up to the reply timeout. Use it from the startup / reconcile
 * thread only, never on a Netty event loop. Calls are serialised, so sharing one client between threads is safe.
 *
 * <p>The socket, and therefore everything this client changes, belongs to the network namespace of the thread
 * that called {@link #open()}.
 */
public final class MptcpPathManagerClient implements AutoCloseable {
    static final String MISSING_FAMILY =
            "the kernel has no MPTCP path-manager netlink family: is CONFIG_MPTCP enabled?";
    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);

    private final GenlConnection connection;
    private final GenericNetlinkFamily family;
    private boolean closed;

    private MptcpPathManagerClient(GenlConnection connection, GenericNetlinkFamily family) {
        this.connection = connection;
        this.family = family;
    }

    /** Opens a netlink socket and resolves the {@code mptcp_pm} family; fails clearly when MPTCP is missing. */
    public static MptcpPathManagerClient open() throws IOException {
        return open(DEFAULT_TIMEOUT);
    }

    /** As {@link #open()}, with a bound on how long any one call waits for the kernel's reply. */
    public static MptcpPathManagerClient open(Duration replyTimeout) throws IOException {
        GenlConnection connection = GenlConnection.open(replyTimeout);
        try {
            GenericNetlinkFamily family = connection.resolveFamily(MPTCP_PM_NAME, MISSING_FAMILY);
            return new MptcpPathManagerClient(connection, family);
        } catch (IOException | RuntimeException e) {
            connection.close();
            throw e;
        }
    }

    /** The resolved family: its id, version and multicast groups (events are on "mptcp_pm_events"). */
    public GenericNetlinkFamily family() {
        return family;
    }

    /** All endpoints, as {@code ip mptcp endpoint show} lists them. */
    public synchronized List<MptcpEndpoint> endpoints() throws IOException {
        ensureOpen();
        List<MptcpEndpoint> out = new ArrayList<>();
        for (NetlinkMessage.Genl reply : connection.dump(request(MPTCP_PM_CMD_GET_ADDR),
                commandName(MPTCP_PM_CMD_GET_ADDR))) {
            var addr = reply.attributes().first(MPTCP_PM_ATTR_ADDR);
            if (addr.isPresent()) {
                out.add(decodeEndpoint(addr.get().nestedAttributes()));
            }
        }
        return List.copyOf(out);
    }

    /** One endpoint by id, or empty when there is none. */
    public synchronized Optional<MptcpEndpoint> endpoint(int id) throws IOException {
        ensureOpen();
        checkId(id);
        NetlinkMessageBuilder req = request(MPTCP_PM_CMD_GET_ADDR)
                .beginNested(MPTCP_PM_ATTR_ADDR).putU8(MPTCP_PM_ADDR_ATTR_ID, id).endNested();
        List<NetlinkMessage.Genl> replies;
        try {
            replies = connection.execute(req, commandName(MPTCP_PM_CMD_GET_ADDR), "id " + id);
        } catch (NetlinkException e) {
            if (e.errno() == Errno.EINVAL
                    || e.errno() == Errno.ENOENT) {
                return Optional.empty(); // the kernel reports an unknown id as "address not found"
            }
            throw e;
        }
        for (NetlinkMessage.Genl reply : replies) {
            var addr = reply.attributes().first(MPTCP_PM_ATTR_ADDR);
            if (addr.isPresent()) {
                return Optional.of(decodeEndpoint(addr.get().nestedAttributes()));
            }
        }
        return Optional.empty();
    }

    /** Adds an endpoint; id 0 lets the kernel pick one. An existing address fails with EEXIST. */
    public synchronized void addEndpoint(MptcpEndpoint endpoint) throws IOException {
        ensureOpen();
        NetlinkMessageBuilder req = request(MPTCP_PM_CMD_ADD_ADDR).beginNested(MPTCP_PM_ATTR_ADDR);
        putAddress(req, endpoint.address());
        if (endpoint.id() != 0) {
            req.putU8(MPTCP_PM_ADDR_ATTR_ID, endpoint.id());
        }
        if (endpoint.port() != 0) {
            req.putU16(MPTCP_PM_ADDR_ATTR_PORT, endpoint.port());
        }
        req.putU32(MPTCP_PM_ADDR_ATTR_FLAGS, EndpointFlag.toBits(endpoint.flags()));
        if (endpoint.interfaceIndex() != 0) {
            req.putU32(MPTCP_PM_ADDR_ATTR_IF_IDX, endpoint.interfaceIndex());
        }
        req.endNested();
        connection.execute(req, commandName(MPTCP_PM_CMD_ADD_ADDR), endpoint.address().getHostAddress());
    }

    /** Deletes the endpoint with this id; the kernel also closes the subflows using it. */
    public synchronized void deleteEndpoint(int id) throws IOException {
        ensureOpen();
        checkId(id);
        NetlinkMessageBuilder req = request(MPTCP_PM_CMD_DEL_ADDR)
                .beginNested(MPTCP_PM_ATTR_ADDR).putU8(MPTCP_PM_ADDR_ATTR_ID, id).endNested();
        connection.execute(req, commandName(MPTCP_PM_CMD_DEL_ADDR), "id " + id);
    }

    /** Deletes every endpoint. */
    synchronized void flushEndpoints() throws IOException {
        ensureOpen();
        connection.execute(request(MPTCP_PM_CMD_FLUSH_ADDRS), commandName(MPTCP_PM_CMD_FLUSH_ADDRS), "");
    }

    public synchronized MptcpLimits limits() throws IOException {
        ensureOpen();
        List<NetlinkMessage.Genl> replies = connection.execute(request(MPTCP_PM_CMD_GET_LIMITS),
                commandName(MPTCP_PM_CMD_GET_LIMITS), "");
        if (replies.isEmpty()) {
            throw new MalformedNetlinkMessageException("MPTCP_PM_CMD_GET_LIMITS: the kernel sent no limits");
        }
        NetlinkAttributes attrs = replies.get(0).attributes();
        int subflows = (int) attrs.require(MPTCP_PM_ATTR_SUBFLOWS, "MPTCP_PM_ATTR_SUBFLOWS").u32();
        int accepted = (int) attrs.require(MPTCP_PM_ATTR_RCV_ADD_ADDRS, "MPTCP_PM_ATTR_RCV_ADD_ADDRS").u32();
        return new MptcpLimits(subflows, accepted);
    }

    /** Sets both limits; the kernel rejects values above 8 with EINVAL. */
    public synchronized void setLimits(MptcpLimits limits) throws IOException {
        ensureOpen();
        NetlinkMessageBuilder req = request(MPTCP_PM_CMD_SET_LIMITS)
                .putU32(MPTCP_PM_ATTR_RCV_ADD_ADDRS, limits.addAddrAccepted())
                .putU32(MPTCP_PM_ATTR_SUBFLOWS, limits.subflows());
        connection.execute(req, commandName(MPTCP_PM_CMD_SET_LIMITS),
                "subflows " + limits.subflows() + " add_addr_accepted " + limits.addAddrAccepted());
    }

    /**
     * Sets or clears the backup flag of endpoint {@code id} in place; existing subflows from it are re-prioritised
     * (MP_PRIO) without being closed.
     */
    public synchronized void setEndpointBackup(int id, boolean backup) throws IOException {
        ensureOpen();
        checkId(id);
        MptcpEndpoint current = endpoint(id).orElseThrow(() -> new NetlinkException(
                commandName(MPTCP_PM_CMD_SET_FLAGS), "id " + id, Errno.ENOENT,
                "no endpoint with this id"));
        setBackup(current, backup);
    }

    /** As {@link #setEndpointBackup(int, boolean)}, for the endpoint with this address. */
    public synchronized void setEndpointBackup(InetAddress address, boolean backup) throws IOException {
        ensureOpen();
        MptcpEndpoint current = endpoints().stream().filter(e -> e.address().equals(address)).findFirst()
                .orElseThrow(() -> new NetlinkException(commandName(MPTCP_PM_CMD_SET_FLAGS),
                        address.getHostAddress(), Errno.ENOENT,
                        "no endpoint with this address"));
        setBackup(current, backup);
    }

    private void setBackup(MptcpEndpoint current, boolean backup) throws IOException {
        // SET_FLAGS rewrites both BACKUP and FULLMESH from the request, so carry the current FULLMESH bit along.
        int bits = current.flags().contains(EndpointFlag.FULLMESH) ? EndpointFlag.FULLMESH.bit() : 0;
        if (backup) {
            bits |= EndpointFlag.BACKUP.bit();
        }
        NetlinkMessageBuilder req = request(MPTCP_PM_CMD_SET_FLAGS).beginNested(MPTCP_PM_ATTR_ADDR)
                .putU8(MPTCP_PM_ADDR_ATTR_ID, current.id())
                .putU32(MPTCP_PM_ADDR_ATTR_FLAGS, bits)
                .endNested();
        connection.execute(req, commandName(MPTCP_PM_CMD_SET_FLAGS),
                current.address().getHostAddress() + " id " + current.id() + (backup ? " backup" : " nobackup"));
    }

    private NetlinkMessageBuilder request(int cmd) {
        return NetlinkMessageBuilder.genl(family.id(), cmd, MPTCP_PM_VER);
    }

    static void putAddress(NetlinkMessageBuilder req, InetAddress address) {
        if (address instanceof Inet4Address) {
            req.putU16(MPTCP_PM_ADDR_ATTR_FAMILY, AF_INET);
            req.putBytes(MPTCP_PM_ADDR_ATTR_ADDR4, address.getAddress());
        } else {
            req.putU16(MPTCP_PM_ADDR_ATTR_FAMILY, AF_INET6);
            req.putBytes(MPTCP_PM_ADDR_ATTR_ADDR6, address.getAddress());
        }
    }

    /** Decodes the nested MPTCP_PM_ATTR_ADDR of a GET_ADDR reply. */
    static MptcpEndpoint decodeEndpoint(NetlinkAttributes a) throws MalformedNetlinkMessageException {
        int family = a.require(MPTCP_PM_ADDR_ATTR_FAMILY, "MPTCP_PM_ADDR_ATTR_FAMILY").u16();
        InetAddress address = switch (family) {
            case AF_INET -> a.require(MPTCP_PM_ADDR_ATTR_ADDR4, "MPTCP_PM_ADDR_ATTR_ADDR4").address(4);
            case AF_INET6 -> a.require(MPTCP_PM_ADDR_ATTR_ADDR6, "MPTCP_PM_ADDR_ATTR_ADDR6").address(16);
            default -> throw new MalformedNetlinkMessageException("endpoint with unknown address family " + family);
        };
        int id = a.first(MPTCP_PM_ADDR_ATTR_ID).isPresent() ? a.require(MPTCP_PM_ADDR_ATTR_ID, "id").u8() : 0;
        int port = a.first(MPTCP_PM_ADDR_ATTR_PORT).isPresent()
                ? a.require(MPTCP_PM_ADDR_ATTR_PORT, "port").u16() : 0;
        int flags = a.first(MPTCP_PM_ADDR_ATTR_FLAGS).isPresent()
                ? a.require(MPTCP_PM_ADDR_ATTR_FLAGS, "flags").s32() : 0;
        int ifIndex = a.first(MPTCP_PM_ADDR_ATTR_IF_IDX).isPresent()
                ? a.require(MPTCP_PM_ADDR_ATTR_IF_IDX, "if_idx").s32() : 0;
        return new MptcpEndpoint(id, address, port, EndpointFlag.fromBits(flags), Math.max(ifIndex, 0));
    }

    private static void checkId(int id) {
        if (id < 1 || id > 255) {
            throw new IllegalArgumentException("endpoint id must be 1..255: " + id);
        }
    }

    private void ensureOpen() throws IOException {
        if (closed) {
            throw new IOException("MPTCP path-manager client is closed");
        }
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            connection.close();
        }
    }
}
