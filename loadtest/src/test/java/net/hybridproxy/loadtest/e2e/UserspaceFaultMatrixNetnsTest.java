package net.hybridproxy.loadtest.e2e;

/** The fault matrix with the userspace multipath engine. */
class UserspaceFaultMatrixNetnsTest extends FaultMatrixNetnsSuite {
    @Override
    String engine() {
        return "userspace";
    }
}
