package net.hybridproxy.proxy.cli;

import net.hybridproxy.admin.AdminException;
import net.hybridproxy.admin.ConfigReload;
import net.hybridproxy.proxy.Appliance;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import net.hybridproxy.proxy.config.InvalidConfigException;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The launcher: {@code run --config FILE}, {@code check [--config FILE]}, {@code demo}. Operator mistakes end with
 * one line on stderr and exit code 2; nothing here prints a stack trace for a bad config or a missing kernel
 * feature.
 */
public final class Main {
    static final String USAGE = """
            usage: hybridproxy <command> [options]
              run --config FILE      run the role described in FILE (cpe, concentrator or sidecar)
              check [--config FILE]  report what this host offers (kernel MPTCP, io_uring, epoll, capabilities,
                                     sysctls) and what to fix; with a config, validate it and print the host
                                     changes it implies (endpoints, routes, capture rules)
              demo [--bytes N]       self-contained showcase on this machine: concentrator + cpe + a local
                                     target, MPTCP over two loopback uplinks, and what went over which subflow
              cleanup [--config FILE]
                                     remove what a cpe installed and could not remove (killed): its nftables
                                     table and TPROXY routing; with the cpe's config, its per-uplink routing too
            """;

    private Main() {
    }

    public static void main(String[] args) {
        Logging.configure();
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("-h") || args[0].equals("--help")) {
            out.print(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        List<String> rest = Arrays.asList(args).subList(1, args.length);
        try {
            return switch (args[0]) {
                case "run" -> runRole(option(rest, "--config").map(Path::of).orElseThrow(
                        () -> new UsageException("run needs --config FILE")), err);
                case "check" -> Check.run(option(rest, "--config").map(Path::of), out);
                case "demo" -> Demo.run(option(rest, "--bytes").map(Long::parseLong).orElse(Demo.DEFAULT_BYTES), out);
                case "cleanup" -> cleanup(option(rest, "--config").map(Path::of), out);
                default -> throw new UsageException("unknown command '" + args[0] + "'");
            };
        } catch (UsageException e) {
            err.println("hybridproxy: " + e.getMessage());
            err.print(USAGE);
            return 2;
        } catch (InvalidConfigException e) {
            err.println("hybridproxy: invalid configuration: " + e.getMessage());
            return 2;
        } catch (NumberFormatException e) {
            err.println("hybridproxy: not a number: " + e.getMessage());
            return 2;
        } catch (Exception e) {
            err.println("hybridproxy: " + rootMessage(e));
            return 1;
        }
    }

    /**
     * Runs the role until SIGTERM or SIGINT, which drain it gracefully (not ready, listeners closed, open
     * connections given {@code shutdown-grace-period}) before closing. SIGHUP reloads the configuration file.
     */
    private static int runRole(Path configFile, PrintStream err) throws Exception {
        AppConfig config = ConfigLoader.load(configFile);
        ConfigHygiene.refuseSampleKeys(config);
        ConfigHygiene.permissionWarning(configFile, config).ifPresent(warning ->
                System.getLogger("hybridproxy").log(System.Logger.Level.WARNING, warning));
        Appliance appliance = new Appliance(config, java.util.Optional.of(configFile));
        CountDownLatch stopped = new CountDownLatch(1);
        AtomicBoolean started = new AtomicBoolean();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                if (started.get()) {
                    appliance.drain();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                appliance.close();
                stopped.countDown();
            }
        }, "hybridproxy-shutdown"));
        try {
            appliance.start();
            started.set(true);
        } catch (Exception e) {
            appliance.close();
            throw e;
        }
        onSighup(() -> Thread.ofPlatform().name("hybridproxy-reload").start(() -> {
            try {
                ConfigReload.Result result = appliance.reload();
                System.getLogger("hybridproxy").log(System.Logger.Level.INFO, "configuration reloaded (SIGHUP): "
                        + "applied " + result.applied() + ", needs restart " + result.needsRestart());
            } catch (AdminException e) {
                System.getLogger("hybridproxy").log(System.Logger.Level.WARNING, "reload (SIGHUP) failed, nothing "
                        + "changed: " + e.getMessage());
            }
        }));
        stopped.await();
        return 0;
    }

    /**
     * SIGHUP, the daemon convention for "re-read your configuration" (systemd's ExecReload=kill -HUP $MAINPID).
     * The JDK has no public API for it; sun.misc.Signal (module jdk.unsupported) is the supported way to catch it.
     */
    private static void onSighup(Runnable action) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("HUP"), signal -> action.run());
        } catch (IllegalArgumentException e) {
            System.getLogger("hybridproxy").log(System.Logger.Level.WARNING, "SIGHUP unavailable (" + e.getMessage()
                    + "); reload with POST /api/v1/reload");
        }
    }

    /**
     * Removes what a cpe installs on the host (the marked nftables table, the TPROXY fwmark rules and their local
     * route; with {@code --config}, the per-uplink policy routing), for a cpe that was killed and will not start
     * again soon. Safe to run twice; a table the operator created (no marker) is left alone.
     */
    private static int cleanup(java.util.Optional<Path> configFile, PrintStream out) throws Exception {
        List<String> removed = new java.util.ArrayList<>(net.hybridproxy.proxy.capture.CaptureRules.removeLeftovers());
        if (configFile.isPresent()) {
            AppConfig config = ConfigLoader.load(configFile.get());
            if (config.role() == AppConfig.Role.CPE && config.pathManager().installRoutes()) {
                net.hybridproxy.proxy.pm.PolicyRouting routing =
                        net.hybridproxy.proxy.pm.KernelPathManager.policyRouting(config);
                routing.remove();
                removed.addAll(routing.describeRemoval());
            }
        }
        out.println(removed.isEmpty() ? "hybridproxy cleanup: nothing left to remove"
                : "hybridproxy cleanup: removed\n  " + String.join("\n  ", removed));
        return 0;
    }

    static java.util.Optional<String> option(List<String> args, String name) throws UsageException {
        int i = args.indexOf(name);
        if (i < 0) {
            return java.util.Optional.empty();
        }
        if (i + 1 >= args.size()) {
            throw new UsageException(name + " needs a value");
        }
        return java.util.Optional.of(args.get(i + 1));
    }

    /** The innermost message, which is the one that says what went wrong (Netty wraps bind/connect failures). */
    static String rootMessage(Throwable e) {
        Throwable t = e;
        String message = e.getMessage();
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
            if (t.getMessage() != null) {
                message = t.getMessage();
            }
        }
        return message == null ? e.toString() : message;
    }

    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }
}
