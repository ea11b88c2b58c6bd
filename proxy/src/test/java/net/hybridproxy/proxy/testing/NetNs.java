package net.hybridproxy.proxy.testing;

import net.hybridproxy.proxy.exec.Command;
import net.hybridproxy.proxy.nativeio.Libc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A network namespace a test creates and always deletes, named {@code hpxpm-<pid>-<n>-<tag>} so that parallel
 * runs and leftovers are recognisable. Code can run inside it on a fresh thread that has entered it with
 * setns(2): sockets, netlink sockets included, belong to the namespace of the thread that creates them.
 *
 * <p>This is the in-process helper for the path-manager kernel tests. The process-oriented namespace lab
 * (topology, link emulation, child processes) lives in the loadtest module, which depends on this one, so it
 * cannot be shared from here without a dependency cycle; both run their commands through {@link Command}.
 */
public final class NetNs implements AutoCloseable {
    private static final AtomicInteger COUNTER = new AtomicInteger();

    private final String name;
    private final boolean owned;
    private volatile boolean closed;

    private NetNs(String name) {
        this(name, true);
    }

    private NetNs(String name, boolean owned) {
        this.name = name;
        this.owned = owned;
    }

    /**
     * A namespace someone else created and deletes (the loadtest lab's), for running code inside it with
     * {@link #call}; {@link #close()} leaves it alone.
     */
    public static NetNs existing(String name) {
        return new NetNs(name, false);
    }

    /** Null when namespace tests can run here, else a one-line reason to skip them. */
    public static String skipReason() {
        if (!isRoot()) {
            return "needs root to create network namespaces";
        }
        if (!Files.isExecutable(Path.of("/usr/sbin/ip")) && !Files.isExecutable(Path.of("/sbin/ip"))
                && !Files.isExecutable(Path.of("/usr/bin/ip"))) {
            return "needs iproute2 (ip)";
        }
        if (!Files.exists(Path.of("/proc/sys/net/mptcp/enabled"))) {
            return "kernel without MPTCP";
        }
        return null;
    }

    public static boolean isRoot() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return line.split("\\s+")[2].equals("0"); // effective uid
                }
            }
        } catch (IOException ignored) {
            // Not Linux: not root for our purposes.
        }
        return false;
    }

    public static NetNs create(String tag) throws IOException {
        String name = "hpxpm-" + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet() + "-" + tag;
        run(List.of("ip", "netns", "add", name));
        NetNs ns = new NetNs(name);
        try {
            ns.ip("link", "set", "lo", "up");
        } catch (IOException | RuntimeException e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    public String name() {
        return name;
    }

    /** {@code ip -n NAME args...}; returns stdout, throws with stderr when ip fails. */
    public String ip(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip", "-n", name));
        cmd.addAll(Arrays.asList(args));
        return run(cmd);
    }

    /**
     * Creates an interface {@code name} that is up, with nothing behind it (a veth whose peer {@code name}p stays
     * in this namespace too): kernels without the dummy driver still have veth.
     */
    public void addLink(String name) throws IOException {
        ip("link", "add", name, "type", "veth", "peer", "name", name + "p");
        ip("link", "set", name + "p", "up");
        ip("link", "set", name, "up");
    }

    /** {@code ip netns exec NAME command...}. */
    public String exec(String... command) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", name));
        cmd.addAll(Arrays.asList(command));
        return run(cmd);
    }

    /** Runs {@code body} on a new platform thread that first enters this namespace; the thread then exits. */
    public <T> T call(Callable<T> body) throws Exception {
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = Thread.ofPlatform().name("netns-" + name).unstarted(() -> {
            try {
                int fd = TestNative.open("/run/netns/" + name);
                try {
                    TestNative.setns(fd, TestNative.CLONE_NEWNET);
                } finally {
                    Libc.close(fd);
                }
                result.set(body.call());
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.start();
        t.join();
        Throwable e = failure.get();
        if (e instanceof Exception ex) {
            throw ex;
        }
        if (e instanceof Error err) {
            throw err;
        }
        return result.get();
    }

    public void run(ThrowingRunnable body) throws Exception {
        call(() -> {
            body.run();
            return null;
        });
    }

    @FunctionalInterface
    public interface ThrowingRunnable {
        void run() throws Exception;
    }

    private static String run(List<String> cmd) throws IOException {
        return Command.run(cmd, null).output();
    }

    @Override
    public void close() throws IOException {
        if (!closed) {
            closed = true;
            if (!owned) {
                return;
            }
            run(List.of("ip", "netns", "del", name));
        }
    }
}
