package net.hybridproxy.loadtest.lab;

import net.hybridproxy.loadtest.lab.emu.EmulatorStats;
import net.hybridproxy.loadtest.lab.emu.Impairment;
import net.hybridproxy.loadtest.lab.emu.LinkEmulator;
import net.hybridproxy.loadtest.tool.ToolJson;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * One uplink emulated in user space by a {@link LinkEmulator} process: the process runs in the lab's emulator
 * namespace, creates the two TUN devices there, and this class moves {@code <name>-a} into the cpe namespace and
 * {@code <name>-b} into the concentrator namespace, renaming both to the link's interface name. The devices live
 * exactly as long as the process: killing it (or the lab's JVM, whose end closes the process's stdin) removes them.
 */
final class EmulatedLink {
    private static final Duration CONTROL_TIMEOUT = Duration.ofSeconds(10);
    /** Small heap: the packet ring is off-heap; the hot path allocates next to nothing. */
    private static final List<String> JVM_ARGS = List.of("-Xmx96m", "-XX:+UseSerialGC", "-Xshare:auto",
            "--enable-native-access=ALL-UNNAMED");

    /** The emulator's nice value: ahead of the nice-0 processes of a run (why: {@link #launch}). */
    static final int NICENESS = HybridAccessLab.OTHER_MACHINES_NICENESS;

    private final String ifname;
    private final LabProcess process;
    private Impairment up;
    private Impairment down;

    private EmulatedLink(String ifname, LabProcess process, Impairment up, Impairment down) {
        this.ifname = ifname;
        this.process = process;
        this.up = up;
        this.down = down;
    }

    /** Starts the emulator process in {@code emulatorNs}; see {@link #awaitAndPlace}. */
    static EmulatedLink launch(Netns emulatorNs, String ifname, int mtu, Impairment up, Impairment down, long seed) {
        // Ahead of the systems under test for the CPU: a link is never late because the hosts on either end are
        // busy, but an emulator thread that waits for a CPU holds packets back (its lateness) and then admits the
        // backlog at once, so its queue overflows on a burst the modelled line would have spread out (measured at a
        // load average of 30: 125-255 ms of lateness with DSL queue drops in the same 100 ms).
        List<String> cmd = new ArrayList<>(List.of("nice", "-n", String.valueOf(NICENESS)));
        cmd.addAll(JavaLauncher.command(JVM_ARGS, LinkEmulator.class.getName(),
                "--name", ifname, "--mtu", String.valueOf(mtu), "--seed", String.valueOf(seed),
                "--up", up.toWire(), "--down", down.toWire()));
        LabProcess p = emulatorNs.startControlled("emulator-" + ifname, cmd.toArray(String[]::new));
        return new EmulatedLink(ifname, p, up, down);
    }

    /**
     * Waits until the emulator {@link #launch}ed in {@code emulatorNs} has created its devices, then places them,
     * with addresses, MTU and state up, in {@code sideA} (the cpe: direction up leaves from here) and {@code sideB}.
     * Launching every link before placing any lets the emulators' JVMs start side by side.
     */
    void awaitAndPlace(Netns emulatorNs, Netns sideA, String addrA, Netns sideB, String addrB, int mtu) {
        process.awaitStdoutLine(l -> l.startsWith("READY "), Duration.ofSeconds(30));
        place(emulatorNs, ifname + "-a", sideA, ifname, addrA, mtu);
        place(emulatorNs, ifname + "-b", sideB, ifname, addrB, mtu);
    }

    private static void place(Netns from, String device, Netns to, String ifname, String addr, int mtu) {
        from.ip("link", "set", device, "netns", to.name());
        to.ip("link", "set", device, "name", ifname);
        to.ip("link", "set", ifname, "mtu", String.valueOf(mtu));
        to.ip("addr", "add", addr + "/24", "dev", ifname);
        // A TUN device's default transmit queue is 500 packets; the emulator's own queue is the one that matters.
        to.ip("link", "set", ifname, "txqueuelen", "1000", "up");
    }

    synchronized Impairment impairment(HybridAccessLab.Direction direction) {
        return direction == HybridAccessLab.Direction.UP ? up : down;
    }

    synchronized void configure(HybridAccessLab.Direction direction, Impairment impairment) {
        String dir = direction == HybridAccessLab.Direction.UP ? "up" : "down";
        process.request("set " + dir + " " + impairment.toWire(), CONTROL_TIMEOUT);
        if (direction == HybridAccessLab.Direction.UP) {
            up = impairment;
        } else {
            down = impairment;
        }
    }

    void blackhole(boolean on) {
        process.request("blackhole " + (on ? "on" : "off"), CONTROL_TIMEOUT);
    }

    /**
     * Per-direction counters and the emulator's own added lateness since the previous call.
     */
    EmulatorStats stats() {
        String reply = process.request("stats", CONTROL_TIMEOUT);
        return ToolJson.read(EmulatorStats.class, reply.substring(reply.indexOf('{')));
    }

    LabProcess process() {
        return process;
    }

    String ifname() {
        return ifname;
    }
}
