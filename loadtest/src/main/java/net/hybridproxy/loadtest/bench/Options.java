package net.hybridproxy.loadtest.bench;

import java.util.LinkedHashMap;
import java.util.Map;

/** {@code --key value} and bare {@code --flag} arguments, for the benchmark programs. */
final class Options {
    private Options() {
    }

    static Map<String, String> parse(String[] args) {
        Map<String, String> out = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --option, got " + args[i]);
            }
            String key = args[i].substring(2);
            if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
                out.put(key, args[++i]);
            } else {
                out.put(key, "true");
            }
        }
        return out;
    }
}
