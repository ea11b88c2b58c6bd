package net.hybridproxy.proxy.cli;

import java.util.logging.ConsoleHandler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * One line per event on stderr: time, level, logger, message. Level from HYBRIDPROXY_LOG (INFO by default;
 * FINE shows every relay's close line).
 */
final class Logging {
    private Logging() {
    }

    static void configure() {
        System.setProperty("java.util.logging.SimpleFormatter.format", "%1$tFT%1$tT.%1$tLZ %4$-7s %3$s: %5$s%6$s%n");
        LogManager.getLogManager().reset();
        Level level = Level.INFO;
        String configured = System.getenv("HYBRIDPROXY_LOG");
        if (configured != null) {
            try {
                level = Level.parse(configured.toUpperCase(java.util.Locale.ROOT));
            } catch (IllegalArgumentException ignored) {
                // keep INFO; a typo in a log level must not stop the appliance
            }
        }
        ConsoleHandler handler = new ConsoleHandler();
        handler.setFormatter(new SimpleFormatter());
        handler.setLevel(level);
        Logger root = Logger.getLogger("");
        root.setLevel(level);
        root.addHandler(handler);
        Logger.getLogger("io.netty").setLevel(Level.WARNING);
    }
}
