package net.hybridproxy.proxy.config;

/** A configuration that cannot run, with the offending key and the reason, ready for one log line. */
public final class InvalidConfigException extends Exception {
    public InvalidConfigException(String message) {
        super(message);
    }

    public static InvalidConfigException at(String key, String why) {
        return new InvalidConfigException(key + ": " + why);
    }
}
