package net.hybridproxy.loadtest.bench;

import java.util.List;

/**
 * A benchmark run as {@code results.json} holds it.
 *
 * @param downloadMs       the measured download's duration per system
 * @param loadAverageAtEnd the machine's 1-minute load average when the run ended
 */
record BenchmarkReport(String suite, String date, MachineInfo machine, long downloadMs, List<BenchmarkRow> results,
                       double loadAverageAtEnd) {

    BenchmarkReport withResults(List<BenchmarkRow> rows) {
        return new BenchmarkReport(suite, date, machine, downloadMs, rows, loadAverageAtEnd);
    }

    /** The machine the run was on. */
    record MachineInfo(int cores, String cpu, double memoryGiB, String kernel, String java, double loadAverage1m,
                       long openFileHardLimit) {
    }
}
