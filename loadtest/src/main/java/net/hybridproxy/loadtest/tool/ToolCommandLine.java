package net.hybridproxy.loadtest.tool;

import picocli.CommandLine;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;

/**
 * Runs a loadtest tool's picocli command with the appliance command line's conventions: {@code --help} on stdout,
 * an unknown option, a bad value or a missing required option refused with one line on stderr and exit code
 * {@value #USAGE}, a failure while running reported in one line with exit code {@value #FAILED}.
 */
public final class ToolCommandLine {
    public static final int OK = 0;
    public static final int FAILED = 1;
    public static final int USAGE = 2;

    private ToolCommandLine() {
    }

    /** Parses and runs; what a tool's {@code main} does short of exiting. */
    public static int run(Object command, String[] args, PrintStream out, PrintStream err) {
        CommandLine cli = new CommandLine(command);
        cli.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        cli.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        cli.setParameterExceptionHandler((e, arguments) -> {
            CommandLine failed = e.getCommandLine();
            String name = failed.getCommandSpec().qualifiedName();
            failed.getErr().println(name + ": " + lowerFirst(e.getMessage()) + " (see '" + name + " --help')");
            return USAGE;
        });
        cli.setExecutionExceptionHandler((e, failed, parseResult) -> {
            String name = failed.getCommandSpec().qualifiedName();
            if (e instanceof IllegalArgumentException) {
                failed.getErr().println(name + ": " + e.getMessage() + " (see '" + name + " --help')");
                return USAGE;
            }
            e.printStackTrace(failed.getErr());
            failed.getErr().println(name + ": " + e);
            return FAILED;
        });
        return cli.execute(args);
    }

    /** {@link #run} on the process's streams, then exits with its code. */
    public static void exit(Object command, String[] args) {
        int rc = run(command, args, System.out, System.err);
        System.out.flush();
        System.exit(rc);
    }

    private static String lowerFirst(String s) {
        return s.isEmpty() ? s : Character.toLowerCase(s.charAt(0)) + s.substring(1);
    }
}
