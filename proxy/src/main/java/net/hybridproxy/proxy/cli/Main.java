package net.hybridproxy.proxy.cli;

import net.hybridproxy.admin.AdminException;
import net.hybridproxy.admin.ConfigReload;
import net.hybridproxy.proxy.Appliance;
import net.hybridproxy.proxy.capture.CaptureRules;
import net.hybridproxy.proxy.config.AppConfig;
import net.hybridproxy.proxy.config.ConfigLoader;
import net.hybridproxy.proxy.config.InvalidConfigException;
import net.hybridproxy.proxy.logging.LogSettings;
import net.hybridproxy.proxy.logging.Logging;
import net.hybridproxy.proxy.pm.KernelPathManager;
import net.hybridproxy.proxy.pm.PolicyRouting;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The command line: {@code run}, {@code check}, {@code demo}, {@code cleanup}, each with {@code --help}, and
 * {@code --version}.
 * Conventions operators know from HAProxy and Envoy: {@code --config FILE} and {@code --config=FILE} both work, an
 * unknown option or argument is refused (never ignored) with one line on stderr and exit code 2, usage goes to
 * stderr when it answers a mistake and to stdout when asked for. Operator mistakes never print a stack trace.
 */
@Command(name = "hybridproxy", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Transparent MPTCP-to-TCP proxy for hybrid access (RFC 8803 0-RTT TCP Convert).",
        subcommands = {Main.Run.class, Main.CheckCommand.class, Main.DemoCommand.class, Main.Cleanup.class},
        exitCodeListHeading = "%nExit codes:%n", exitCodeList = {
                "0:success (check: the host is ready)",
                "1:failure while running (check: NOT READY, with the FAIL lines saying why)",
                "2:usage error, invalid configuration or invalid HYBRIDPROXY_LOG* variable"})
public final class Main implements Callable<Integer> {
    static final int OK = 0;
    static final int FAILED = 1;
    static final int USAGE = 2;

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    /** Where check's report and the demo's figures go (stdout, or a test's buffer). */
    private final PrintStream out;

    private Main(PrintStream out) {
        this.out = out;
    }

    public static void main(String[] args) {
        try {
            // The environment alone until a config file is read, so every line is in the chosen format.
            Logging.configure(LogSettings.DEFAULTS.withEnvironment(System.getenv()));
        } catch (IllegalArgumentException e) {
            System.err.println("hybridproxy: " + e.getMessage());
            System.exit(USAGE);
        }
        System.exit(run(args, System.out, System.err));
    }

    /** Runs one command line; what {@link #main} does short of exiting. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        CommandLine cli = new CommandLine(new Main(out));
        PrintWriter errWriter = new PrintWriter(err, true, StandardCharsets.UTF_8);
        cli.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        cli.setErr(errWriter);
        cli.setParameterExceptionHandler((e, arguments) -> {
            CommandLine command = e.getCommandLine();
            String name = command.getCommandSpec().qualifiedName();
            command.getErr().println(name + ": " + lowerFirst(e.getMessage()) + " (see '" + name + " --help')");
            return USAGE;
        });
        cli.setExecutionExceptionHandler((e, command, parseResult) -> {
            String name = command.getCommandSpec().qualifiedName();
            if (e instanceof InvalidConfigException) {
                command.getErr().println(name + ": invalid configuration: " + e.getMessage());
                return USAGE;
            }
            command.getErr().println(name + ": " + rootMessage(e));
            return FAILED;
        });
        return cli.execute(args);
    }

    /** {@code hybridproxy} alone: the usage, on stderr, as the answer to a mistake. */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return USAGE;
    }

    @Command(name = "run", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
            description = {"Run the role the configuration file describes (cpe, concentrator or sidecar).",
                    "SIGTERM or SIGINT drain it gracefully (not ready, listeners closed, open connections given"
                            + " shutdown-grace-period) before it exits; SIGHUP reloads the configuration file."})
    static final class Run implements Callable<Integer> {
        @Option(names = "--config", paramLabel = "FILE", required = true,
                description = "HOCON configuration; reference.conf lists every key")
        Path config;

        @Override
        public Integer call() throws Exception {
            AppConfig loaded = ConfigLoader.load(config);
            Logging.configure(loaded.log().withEnvironment(System.getenv()));
            ConfigHygiene.refuseSampleKeys(loaded);
            ConfigHygiene.permissionWarning(config, loaded).ifPresent(warning ->
                    System.getLogger("hybridproxy").log(System.Logger.Level.WARNING, warning));
            Appliance appliance = new Appliance(loaded, Optional.of(config));
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
            // The handler is in place before the appliance starts: SIGHUP's default action ends the process, and
            // a reload sent as soon as the appliance logs that it is up (systemd's ExecReload, a test) could
            // otherwise arrive first. A SIGHUP during start is held and applied once start has finished.
            AtomicBoolean reloadPending = new AtomicBoolean();
            Runnable reloadIfPending = () -> {
                if (started.get() && reloadPending.getAndSet(false)) {
                    Thread.ofPlatform().name("hybridproxy-reload").start(() -> reload(appliance));
                }
            };
            onSighup(() -> {
                reloadPending.set(true);
                reloadIfPending.run();
            });
            try {
                appliance.start();
                started.set(true);
            } catch (Exception e) {
                appliance.close();
                throw e;
            }
            reloadIfPending.run();
            stopped.await();
            return OK;
        }

        private static void reload(Appliance appliance) {
            try {
                ConfigReload.ReloadResult result = appliance.reload();
                System.getLogger("hybridproxy").log(System.Logger.Level.INFO, "configuration reloaded (SIGHUP):"
                        + " applied " + result.applied() + ", needs restart " + result.needsRestart());
            } catch (AdminException e) {
                System.getLogger("hybridproxy").log(System.Logger.Level.WARNING, "reload (SIGHUP) failed,"
                        + " nothing changed: " + e.getMessage());
            }
        }

        /**
         * SIGHUP, the daemon convention for "re-read your configuration" (systemd's ExecReload=kill -HUP $MAINPID).
         * The JDK has no public API for it; sun.misc.Signal (module jdk.unsupported) is the supported way to catch
         * it.
         *
         * <p>A process started with SIGHUP ignored (under {@code nohup}, or by a parent that ignores it) inherits
         * that, and HotSpot leaves an ignored shutdown signal alone: the handler is accepted but never runs, and
         * the call returns the ignoring disposition instead of failing. Said once at start, or reloads by signal
         * would do nothing without a word.
         */
        private static void onSighup(Runnable action) {
            try {
                sun.misc.SignalHandler previous = sun.misc.Signal.handle(new sun.misc.Signal("HUP"),
                        signal -> action.run());
                if (previous == sun.misc.SignalHandler.SIG_IGN) {
                    System.getLogger("hybridproxy").log(System.Logger.Level.WARNING, "SIGHUP is ignored in this"
                            + " process (inherited from its parent, e.g. nohup): reloading by signal does nothing;"
                            + " reload with POST /api/v1/reload, or start it without SIGHUP ignored");
                }
            } catch (IllegalArgumentException e) {
                System.getLogger("hybridproxy").log(System.Logger.Level.WARNING, "SIGHUP unavailable ("
                        + e.getMessage() + "); reload with POST /api/v1/reload");
            }
        }
    }

    @Command(name = "cleanup", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
            description = {"Remove what a cpe installed and could not remove (it was killed): its nftables table, the"
                    + " TPROXY and bypass fwmark rules and the TPROXY route; with --config, its per-uplink policy"
                    + " routing too.",
                    "Safe to run twice; a table the operator created (without the cpe's marker), or one whose cpe"
                            + " still runs, is left alone."})
    static final class Cleanup implements Callable<Integer> {
        @Option(names = "--config", paramLabel = "FILE", description = "the cpe's configuration")
        Path config;

        @CommandLine.ParentCommand
        private Main main;

        @Override
        public Integer call() throws Exception {
            List<String> removed = new ArrayList<>(CaptureRules.removeLeftovers());
            if (config != null) {
                AppConfig loaded = ConfigLoader.load(config);
                if (loaded.role() == AppConfig.ApplianceRole.CPE && loaded.pathManager().installRoutes()) {
                    PolicyRouting routing = KernelPathManager.policyRouting(loaded);
                    routing.remove();
                    removed.addAll(routing.describeRemoval());
                }
            }
            main.out.println(removed.isEmpty() ? "hybridproxy cleanup: nothing left to remove"
                    : "hybridproxy cleanup: removed\n  " + String.join("\n  ", removed));
            return OK;
        }
    }

    @Command(name = "check", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
            description = {"Report what this host offers (kernel MPTCP, io_uring, epoll, capabilities, sysctls)"
                    + " and what to fix.",
                    "With --config, also validate the file and print the host changes `run` would make, as"
                            + " commands that can be pasted into a shell."})
    static final class CheckCommand implements Callable<Integer> {
        @Option(names = "--config", paramLabel = "FILE", description = "configuration to validate")
        Path config;

        @CommandLine.ParentCommand
        private Main main;

        @Override
        public Integer call() throws Exception {
            return Check.run(Optional.ofNullable(config), main.out);
        }
    }

    @Command(name = "demo", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
            description = "Self-contained showcase on this machine: a concentrator, a cpe and a local target, MPTCP"
                    + " over two loopback uplinks, SHA-256-verified bytes both ways, and what went over which"
                    + " subflow.")
    static final class DemoCommand implements Callable<Integer> {
        @Option(names = "--bytes", paramLabel = "N", description = "bytes to move each way (default: ${DEFAULT-VALUE})")
        long bytes = Demo.DEFAULT_BYTES;

        @CommandLine.Spec
        private CommandLine.Model.CommandSpec spec;

        @CommandLine.ParentCommand
        private Main main;

        @Override
        public Integer call() throws Exception {
            if (bytes <= 0) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--bytes must be positive");
            }
            return Demo.run(bytes, main.out);
        }
    }

    /** {@code --version}: this build's version and the runtime it found, which a bug report needs. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() throws IOException {
            Properties properties = new Properties();
            try (InputStream in = Main.class.getResourceAsStream("version.properties")) {
                if (in != null) {
                    properties.load(in);
                }
            }
            io.netty.util.Version netty = io.netty.util.Version.identify().get("netty-common");
            return new String[] {"hybridproxy " + properties.getProperty("version", "unknown"),
                    "Java " + Runtime.version() + ", Netty " + (netty == null ? "unknown" : netty.artifactVersion())};
        }
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

    private static String lowerFirst(String message) {
        return message.isEmpty() ? message : Character.toLowerCase(message.charAt(0)) + message.substring(1);
    }
}
