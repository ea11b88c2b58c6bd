package net.hybridproxy.proxy.logging;

import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;

/**
 * Where the appliance's log lines go: stderr (journald and container runtimes collect it), one line per event, in
 * the operator's format and level. {@link System.Logger} calls throughout the code land here.
 */
public final class Logging {
    private Logging() {
    }

    /**
     * Replaces every handler with one stderr handler for {@code settings}. Called once at start from the
     * environment alone (so a bad config file is reported in the chosen format), then again with the config's
     * settings, and on every reload.
     */
    public static synchronized void configure(LogSettings settings) {
        LogManager.getLogManager().reset();
        Level level = settings.level().julLevel();
        ConsoleHandler handler = new ConsoleHandler();
        handler.setFormatter(formatterFor(settings.format()));
        handler.setLevel(level);
        Logger root = Logger.getLogger("");
        root.setLevel(level);
        root.addHandler(handler);
        // Netty's own DEBUG chatter (allocator, native loading) is not the appliance's; its warnings are.
        Logger.getLogger("io.netty").setLevel(settings.level() == LogLevel.DEBUG ? Level.INFO : Level.WARNING);
        ConnectionLog.setLinesPerSecond(settings.connectionLinesPerSecond());
    }

    static Formatter formatterFor(LogFormat format) {
        return switch (format) {
            case TEXT -> new TextLogFormatter();
            case JSON -> new JsonLogFormatter();
        };
    }
}
