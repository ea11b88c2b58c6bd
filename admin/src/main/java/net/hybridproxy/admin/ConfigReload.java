package net.hybridproxy.admin;

import java.util.List;

/**
 * Re-reads the configuration and applies what can change without dropping established connections. Runs on the
 * admin work thread, one at a time.
 */
@FunctionalInterface
public interface ConfigReload {
    /**
     * @throws AdminException 400 when the new configuration is invalid (nothing is applied then), 409 when this
     *                        process was not started from a file
     */
    ReloadResult reload() throws AdminException;

    /**
     * @param applied       what changed and took effect, one line each
     * @param needsRestart  keys that changed but only take effect on restart (left as they were)
     */
    record ReloadResult(List<String> applied, List<String> needsRestart) {
        public ReloadResult {
            applied = List.copyOf(applied);
            needsRestart = List.copyOf(needsRestart);
        }
    }
}
