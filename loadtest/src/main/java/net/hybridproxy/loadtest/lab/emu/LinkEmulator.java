package net.hybridproxy.loadtest.lab.emu;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

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
public final class LinkEmulator {
    /** Packets buffered per direction; with 1500-byte packets, 16384 slots hold 24 MB (e.g. 1 Gbit/s × 190 ms). */
    private static final int DEFAULT_SLOTS = 16384;

    private LinkEmulator() {
    }

    public static void main(String[] args) throws Exception {
        String name = null;
        int mtu = 1500;
        long seed = 1;
        int slots = DEFAULT_SLOTS;
        Impairment up = Impairment.NONE;
        Impairment down = Impairment.NONE;
        for (int i = 0; i < args.length; i++) {
            String value = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--name" -> name = value;
                case "--mtu" -> mtu = Integer.parseInt(value);
                case "--seed" -> seed = Long.parseLong(value);
                case "--slots" -> slots = Integer.parseInt(value);
                case "--up" -> up = Impairment.fromWire(value);
                case "--down" -> down = Impairment.fromWire(value);
                default -> usage("unknown argument " + args[i]);
            }
            i++;
        }
        if (name == null || name.length() > 13) {
            usage("--name is required and at most 13 characters (interface names are at most 15)");
        }
        Tun a = Tun.open(name + "-a");
        Tun b = Tun.open(name + "-b");
        SplittableRandom random = new SplittableRandom(seed);
        Arena arena = Arena.ofShared();
        // Room for the largest packet the device can hand us; reads of a bigger one would be truncated.
        int slotSize = mtu + 64;
        DelayLine upLine = new DelayLine(name + "-up", a, b, new LinkSchedule(up, random.split()), slotSize, slots, arena);
        DelayLine downLine = new DelayLine(name + "-down", b, a, new LinkSchedule(down, random.split()), slotSize, slots,
                arena);
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
        System.exit(0);
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
                    return "OK {" + upLine.stats() + "," + downLine.stats() + "}";
                }
                default -> {
                    return "ERR unknown command " + words[0];
                }
            }
        } catch (RuntimeException e) {
            return "ERR " + e.getMessage();
        }
    }

    private static void usage(String problem) throws IOException {
        System.err.println("LinkEmulator: " + problem);
        System.err.println("usage: LinkEmulator --name NAME [--mtu N] [--seed S] [--slots N] --up IMPAIRMENT --down IMPAIRMENT");
        System.exit(2);
    }
}
