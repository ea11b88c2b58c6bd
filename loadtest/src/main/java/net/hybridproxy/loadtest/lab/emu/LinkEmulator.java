package net.hybridproxy.loadtest.lab.emu;

import net.hybridproxy.loadtest.tool.ToolCommandLine;
import net.hybridproxy.loadtest.tool.ToolJson;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * A user-space link emulator for kernels without netem: two TUN devices, {@code <name>-a} (the cpe end) and
 * {@code <name>-b} (the concentrator end), joined by one {@link DelayLine} per direction. The lab creates it in a
 * namespace of its own and then moves each device into the namespace it belongs to; the descriptors keep working
 * across the move.
 *
 * <pre>
 * LinkEmulator --name dsl [--mtu 1500] [--seed 1] --up 'rate_kbit=.. ..' --down 'rate_kbit=.. ..'
 * </pre>
 *
 * <p>Prints {@code READY a=<dev> b=<dev>} once both devices exist, then reads one command per line on stdin and
 * answers each with one line, {@code OK ...} or {@code ERR <reason>}:
 * <ul>
 *   <li>{@code set up|down <impairment>} — see {@link Impairment#toWire()}</li>
 *   <li>{@code blackhole on|off} — drop everything in both directions while the devices stay up</li>
 *   <li>{@code stats} — {@code OK {json}} with per-direction counters and the emulator's own added lateness
 *       percentiles (µs) since the previous {@code stats}</li>
 * </ul>
 * End of input means the controlling process is gone: the emulator exits, and its devices vanish with it, so an
 * interrupted benchmark cannot leave a link behind.
 */
@Command(name = "LinkEmulator", mixinStandardHelpOptions = true,
        description = "User-space link emulator: two TUN devices joined by a delay line per direction.",
        exitCodeListHeading = "%nExit codes:%n", exitCodeList = {"0:stdin closed", "1:could not open the devices",
                "2:usage error"})
public final class LinkEmulator implements Callable<Integer> {
    /** Packets buffered per direction; with 1500-byte packets, 16384 slots hold 24 MB (e.g. 1 Gbit/s × 190 ms). */
    private static final int DEFAULT_SLOTS = 16384;

    @Option(names = "--name", required = true, paramLabel = "NAME", description = "link name, at most 13 characters (devices NAME-a, NAME-b)")
    String name;

    @Option(names = "--mtu", defaultValue = "1500", description = "default: ${DEFAULT-VALUE}")
    int mtu;

    @Option(names = "--seed", defaultValue = "1", description = "seed of the loss draws (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--slots", defaultValue = "" + DEFAULT_SLOTS, description = "packets buffered per direction")
    int slots;

    @Option(names = "--up", paramLabel = "IMPAIRMENT", description = "a to b, e.g. 'rate_kbit=50000 delay_us=10000'")
    String up;

    @Option(names = "--down", paramLabel = "IMPAIRMENT", description = "b to a")
    String down;

    public static void main(String[] args) {
        ToolCommandLine.exit(new LinkEmulator(), args);
    }

    @Override
    public Integer call() throws Exception {
        if (name.length() > 13) {
            throw new IllegalArgumentException("--name is at most 13 characters (interface names are at most 15)");
        }
        Impairment upImpairment = up == null ? Impairment.NONE : Impairment.fromWire(up);
        Impairment downImpairment = down == null ? Impairment.NONE : Impairment.fromWire(down);
        Tun a = Tun.open(name + "-a");
        Tun b = Tun.open(name + "-b");
        SplittableRandom random = new SplittableRandom(seed);
        Arena arena = Arena.ofShared();
        // Room for the largest packet the device can hand us; reads of a bigger one would be truncated.
        int slotSize = mtu + 64;
        DelayLine upLine = new DelayLine(name + "-up", a, b, new LinkSchedule(upImpairment, random.split()), slotSize,
                slots, arena);
        DelayLine downLine = new DelayLine(name + "-down", b, a, new LinkSchedule(downImpairment, random.split()),
                slotSize, slots, arena);
        upLine.start();
        downLine.start();
        System.out.println("READY a=" + a.name() + " b=" + b.name());
        System.out.flush();

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        String line;
        while ((line = in.readLine()) != null) {
            System.out.println(handle(line.strip(), upLine, downLine));
            System.out.flush();
        }
        // The delay lines' threads would keep the JVM alive; the devices go with the process.
        System.exit(0);
        return 0;
    }

    static String handle(String command, DelayLine upLine, DelayLine downLine) {
        try {
            String[] words = command.split("\\s+", 3);
            switch (words[0]) {
                case "set" -> {
                    if (words.length < 3) {
                        return "ERR usage: set up|down <impairment>";
                    }
                    Impairment imp = Impairment.fromWire(words[2]);
                    switch (words[1]) {
                        case "up" -> upLine.configure(imp);
                        case "down" -> downLine.configure(imp);
                        default -> {
                            return "ERR direction must be up or down";
                        }
                    }
                    return "OK";
                }
                case "blackhole" -> {
                    boolean on = words.length > 1 && words[1].equals("on");
                    upLine.blackhole(on);
                    downLine.blackhole(on);
                    return "OK";
                }
                case "stats" -> {
                    return "OK " + ToolJson.line(new EmulatorStats(upLine.stats(), downLine.stats()));
                }
                default -> {
                    return "ERR unknown command " + words[0];
                }
            }
        } catch (RuntimeException e) {
            return "ERR " + e.getMessage();
        }
    }

}
