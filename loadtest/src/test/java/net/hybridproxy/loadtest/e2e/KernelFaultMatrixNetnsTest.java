package net.hybridproxy.loadtest.e2e;

/** The fault matrix with the kernel MPTCP engine. */
class KernelFaultMatrixNetnsTest extends FaultMatrixNetnsSuite {
    @Override
    String engine() {
        return "kernel";
    }
}
