package net.hybridproxy.loadtest.lab;

/**
 * Tears down what a lab test set up. A test's setup can fail half-way, so some of its resources may never have been
 * created; and one failing close must not leave the namespaces and processes after it running, or the next suite on
 * the machine inherits them.
 */
public final class Teardown {
    private Teardown() {
    }

    /**
     * Closes each resource in the order given, skipping nulls. Every resource is tried; the first failure is thrown
     * at the end with the later ones attached as suppressed.
     */
    public static void closeAll(AutoCloseable... resources) throws Exception {
        Exception first = null;
        for (AutoCloseable resource : resources) {
            if (resource == null) {
                continue;
            }
            try {
                resource.close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
