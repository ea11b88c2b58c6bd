package net.hybridproxy.proxy.pm;

import net.hybridproxy.proxy.metrics.SubflowLifecycle;
import net.hybridproxy.proxy.nativeio.Libc;
import net.hybridproxy.proxy.nativeio.SocketConstants;
import net.hybridproxy.proxy.testing.NetNs;
import net.hybridproxy.proxy.testing.TestNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A real MPTCP connection between two namespaces joined by two veth links ("dsl" and "lte"). The server announces
 * its lte address, the client's path manager opens a second subflow to it, and the client-side monitor must see
 * the connection's whole life and the table must show both subflows.
 */
class MptcpEventMonitorKernelTest {
    private static final int PORT = 40_000;

    private NetNs cli;
    private NetNs srv;

    @BeforeEach
    void setUp() throws Exception {
        String skip = NetNs.skipReason();
        assumeTrue(skip == null, skip);
        cli = NetNs.create("cli");
        srv = NetNs.create("srv");
        for (String[] link : new String[][] {{"dsl0", "40"}, {"lte0", "41"}}) {
            cli.ip("link", "add", link[0], "type", "veth", "peer", "name", link[0], "netns", srv.name());
            cli.ip("addr", "add", "198.18." + link[1] + ".1/24", "dev", link[0]);
            srv.ip("addr", "add", "198.18." + link[1] + ".2/24", "dev", link[0]);
            cli.ip("link", "set", link[0], "up");
            srv.ip("link", "set", link[0], "up");
        }
        srv.ip("mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "0");
        srv.ip("mptcp", "endpoint", "add", "198.18.41.2", "signal");
    }

    @AfterEach
    void tearDown() throws Exception {
        // Both always go, even if the first deletion fails.
        try {
            if (cli != null) {
                cli.close();
            }
        } finally {
            if (srv != null) {
                srv.close();
            }
        }
    }

    @Test
    void connectionLifecycleReachesMonitorAndTable() throws Exception {
        List<MptcpEvent> events = new CopyOnWriteArrayList<>();
        ConnectionTable table = new ConnectionTable(16);
        InetAddress server = InetAddress.getByName("198.18.40.2");

        MptcpEventMonitor monitor = openMonitor(e -> {
            events.add(e);
            table.apply(e, System.nanoTime());
        }, EnumSet.allOf(MptcpEvent.EventType.class));
        int listener = -1;
        int client = -1;
        int accepted = -1;
        try {
            assertTrue(monitor.isRunning());
            listener = listen();
            client = connect(server);
            accepted = TestNative.accept(listener);
            // Data in both directions makes both ends fully established, which lets the server send ADD_ADDR.
            exchange(client, accepted);

            awaitOneConnectionWithTwoSubflows(table, events);
            exchange(client, accepted);

            ConnectionTable.Snapshot snap = table.snapshot();
            ConnectionTable.TrackedConnection conn = snap.connections().get(0);
            assertEquals(InetAddress.getByName("198.18.40.1"), conn.localAddress());
            assertEquals(server, conn.remoteAddress());
            assertEquals(PORT, conn.remotePort());
            assertFalse(conn.serverSide());
            assertTrue(conn.established());
            ConnectionTable.TrackedSubflow joined = conn.subflows().get(1);
            assertEquals(InetAddress.getByName("198.18.41.1"), joined.localAddress());
            assertEquals(InetAddress.getByName("198.18.41.2"), joined.remoteAddress());

            MptcpEvent.Created created = first(events, MptcpEvent.Created.class);
            assertEquals(conn.token(), created.token());
            assertEquals(SocketConstants.AF_INET, created.family());
            assertEquals(conn.localPort(), created.localPort());
            MptcpEvent.Announced announced = first(events, MptcpEvent.Announced.class);
            assertEquals(InetAddress.getByName("198.18.41.2"), announced.remoteAddress());
            MptcpEvent.SubflowEstablished sub = first(events, MptcpEvent.SubflowEstablished.class);
            assertEquals(conn.token(), sub.token());
            assertEquals(PORT, sub.remotePort());
            assertEquals(0, sub.error());
            assertTrue(sub.remoteId() > 0, "the announced address carries a non-zero id");
            assertEquals(1L, snap.eventCounts().get(MptcpEvent.EventType.CREATED));
            assertEquals(1L, snap.eventCounts().get(MptcpEvent.EventType.ESTABLISHED));
            assertEquals(1L, snap.eventCounts().get(MptcpEvent.EventType.SUBFLOW_ESTABLISHED));

            Libc.close(client);
            client = -1;
            Libc.close(accepted);
            accepted = -1;
            waitFor(() -> events.stream().anyMatch(e -> e instanceof MptcpEvent.Closed c && c.token() == conn.token()),
                    "Closed event in " + events);
            assertEquals(0, table.snapshot().connections().size());
        } finally {
            closeAll(client, accepted, listener);
            long start = System.nanoTime();
            monitor.close();
            long tookMs = (System.nanoTime() - start) / 1_000_000;
            assertFalse(monitor.isRunning());
            assertTrue(tookMs < 1_000, "close took " + tookMs + " ms");
        }
        assertTrue(Thread.getAllStackTraces().keySet().stream()
                .noneMatch(t -> t.getName().equals(MptcpEventMonitor.THREAD_NAME) && t.isAlive()),
                "reader thread gone after close");
        assertTrue(monitor.failure().isEmpty(), () -> monitor.failure().toString());
    }

    /**
     * The appliance's monitor asks the kernel for the lifecycle's event types only: it must still see every
     * connection at ESTABLISHED with its subflows and leave it at CLOSED, while a monitor in the same namespace
     * that asks for everything still gets CREATED and ANNOUNCED (the filter is the socket's own).
     */
    @Test
    void aFilteredMonitorGetsOnlyTheTypesItAskedForAndItsTableStillTracksTheConnection() throws Exception {
        List<MptcpEvent> everything = new CopyOnWriteArrayList<>();
        List<MptcpEvent> filtered = new CopyOnWriteArrayList<>();
        ConnectionTable table = new ConnectionTable(16);
        InetAddress server = InetAddress.getByName("198.18.40.2");
        MptcpEventMonitor all = openMonitor(everything::add, EnumSet.allOf(MptcpEvent.EventType.class));
        MptcpEventMonitor lifecycle = openMonitor(e -> {
            filtered.add(e);
            table.apply(e, System.nanoTime());
        }, SubflowLifecycle.EVENTS_USED);
        int listener = -1;
        int client = -1;
        int accepted = -1;
        try {
            listener = listen();
            client = connect(server);
            accepted = TestNative.accept(listener);
            exchange(client, accepted);
            awaitOneConnectionWithTwoSubflows(table, filtered);
            ConnectionTable.TrackedConnection conn = table.snapshot().connections().get(0);
            assertTrue(conn.established());
            assertFalse(conn.serverSide());
            assertEquals(InetAddress.getByName("198.18.41.1"), conn.subflows().get(1).localAddress());
            waitFor(() -> everything.stream().anyMatch(e -> e instanceof MptcpEvent.Announced),
                    "ANNOUNCED at the unfiltered monitor in " + everything);

            Libc.close(client);
            client = -1;
            Libc.close(accepted);
            accepted = -1;
            waitFor(() -> everything.stream().anyMatch(e -> e instanceof MptcpEvent.Closed), "CLOSED in " + everything);
            waitFor(() -> table.size() == 0, "the connection gone from the filtered table, events " + filtered);
            assertTrue(everything.stream().anyMatch(e -> e instanceof MptcpEvent.Created), everything::toString);
            assertTrue(filtered.stream().allMatch(e -> SubflowLifecycle.EVENTS_USED.contains(e.kind())),
                    filtered::toString);
            assertEquals(1, filtered.stream().filter(e -> e instanceof MptcpEvent.Established).count(),
                    filtered::toString);
            assertEquals(1, filtered.stream().filter(e -> e instanceof MptcpEvent.SubflowEstablished).count(),
                    filtered::toString);
        } finally {
            closeAll(client, accepted, listener);
            all.close();
            lifecycle.close();
        }
        assertTrue(lifecycle.failure().isEmpty(), () -> lifecycle.failure().toString());
        assertEquals(0, lifecycle.overruns());
    }

    /** A monitor in the client's namespace, whose path manager may open the second subflow. */
    private MptcpEventMonitor openMonitor(Consumer<MptcpEvent> consumer, Set<MptcpEvent.EventType> types)
            throws Exception {
        return cli.call(() -> {
            try (MptcpPathManagerClient pm = MptcpPathManagerClient.open()) {
                pm.setLimits(new MptcpLimits(2, 2));
            }
            return MptcpEventMonitor.open(consumer, types);
        });
    }

    private static void awaitOneConnectionWithTwoSubflows(ConnectionTable table, List<MptcpEvent> seen)
            throws InterruptedException {
        waitFor(() -> {
            ConnectionTable.Snapshot s = table.snapshot();
            return s.connections().size() == 1 && s.connections().get(0).subflows().size() == 2;
        }, "one connection with two subflows from " + seen);
    }

    private static void closeAll(int... fds) throws Exception {
        for (int fd : fds) {
            if (fd >= 0) {
                Libc.close(fd);
            }
        }
    }

    private int listen() throws Exception {
        return srv.call(() -> {
            int fd = Libc.socket(SocketConstants.AF_INET, SocketConstants.SOCK_STREAM | SocketConstants.SOCK_CLOEXEC,
                    SocketConstants.IPPROTO_MPTCP);
            try (Arena arena = Arena.ofConfined()) {
                // The wildcard address: joins arrive at the announced lte address, not the dsl one.
                Libc.bind(fd, TestNative.sockaddrIn(arena, InetAddress.getByName("0.0.0.0"), PORT));
            }
            TestNative.listen(fd, 4);
            return fd;
        });
    }

    private int connect(InetAddress server) throws Exception {
        return cli.call(() -> {
            int fd = Libc.socket(SocketConstants.AF_INET, SocketConstants.SOCK_STREAM | SocketConstants.SOCK_CLOEXEC,
                    SocketConstants.IPPROTO_MPTCP);
            TestNative.connect(fd, server, PORT);
            return fd;
        });
    }

    private static void exchange(int client, int server) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(64);
            buf.fill((byte) 'x');
            Libc.sendto(client, buf.asSlice(0, 16), 0, MemorySegment.NULL);
            Libc.recv(server, buf, 0);
            Libc.sendto(server, buf.asSlice(0, 16), 0, MemorySegment.NULL);
            Libc.recv(client, buf, 0);
        }
    }

    private static <T> T first(List<MptcpEvent> events, Class<T> type) {
        return events.stream().filter(type::isInstance).map(type::cast).findFirst()
                .orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " in " + events));
    }

    private static void waitFor(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return;
            }
            Thread.sleep(20);
        }
        fail("timed out waiting for " + what);
    }
}
