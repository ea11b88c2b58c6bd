package net.hybridproxy.loadtest.e2e;

import net.hybridproxy.loadtest.lab.Netns;
import net.hybridproxy.proxy.testing.NamespaceForwarder;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

/** The Prometheus scrape of an appliance in a lab namespace (its admin server on 127.0.0.1:9190), and its figures. */
final class LabMetrics {
    private LabMetrics() {
    }

    static String scrape(Netns ns) throws Exception {
        try (NamespaceForwarder admin = new NamespaceForwarder(ns.name(), new InetSocketAddress("127.0.0.1", 9190))) {
            return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(admin.baseUri() + "/metrics"))
                    .build(), HttpResponse.BodyHandlers.ofString()).body();
        }
    }

    /** The sum of a meter's samples whose line starts with {@code name} followed by a label set or a space. */
    static long sum(String scrape, String name) {
        double sum = 0;
        for (String line : scrape.split("\n")) {
            if (line.startsWith(name + "{") || line.startsWith(name + " ")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return (long) sum;
    }

    /** The samples of {@code name} whose labels contain {@code labels} (e.g. {@code event="streams_refused"}). */
    static long sum(String scrape, String name, String labels) {
        double sum = 0;
        for (String line : scrape.split("\n")) {
            if (line.startsWith(name + "{") && line.contains(labels)) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return (long) sum;
    }
}
