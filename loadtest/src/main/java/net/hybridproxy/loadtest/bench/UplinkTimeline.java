package net.hybridproxy.loadtest.bench;

import java.util.List;

/** Download rate per uplink (received at the cpe) in Mbit/s, sampled against seconds from the download's start. */
record UplinkTimeline(List<Double> seconds, List<Double> dslMbps, List<Double> lteMbps) {
}
