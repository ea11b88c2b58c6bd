package net.hybridproxy.proxy.testing;

import java.util.List;
import java.util.ResourceBundle;

/** A {@link System.Logger} that keeps every message it is given, at any level, in {@code lines} (tests of log throttles). */
public record CapturingLogger(List<String> lines) implements System.Logger {
    @Override
    public String getName() {
        return "capture";
    }

    @Override
    public boolean isLoggable(Level level) {
        return true;
    }

    @Override
    public void log(Level level, ResourceBundle bundle, String msg, Throwable thrown) {
        lines.add(msg);
    }

    @Override
    public void log(Level level, ResourceBundle bundle, String format, Object... params) {
        lines.add(format);
    }
}
