package net.hybridproxy.dist;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import net.hybridproxy.loadtest.lab.ApplianceLauncher;
import net.hybridproxy.loadtest.lab.JavaLauncher;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Helm chart, linted and rendered by Helm's own library (helm-java) with the default values and with each
 * option toggled; the rendered YAML is parsed and the Kubernetes objects are checked field by field.
 */
@SuppressWarnings("unchecked")
class HelmChartTest {
    private static final Path CHART = Podman.TOP.resolve("deploy/helm/hybridproxy");

    @Test
    void chartLintsCleanWithItsSchema() {
        LintResult lint = new Helm(CHART).lint().strict().call();
        assertFalse(lint.isFailed(), () -> String.join("\n", lint.getMessages()));
        assertTrue(Files.exists(CHART.resolve("values.schema.json")));
    }

    @Test
    void defaultsRenderAConcentratorOnHostNetworkWithProbesTokenAndKeysFromSecrets() {
        Rendered r = render(t -> t);
        Map<String, Object> sts = r.one("StatefulSet");
        Map<String, Object> pod = at(sts, "spec.template.spec");
        assertEquals(2, (Integer) at(sts, "spec.replicas"));
        assertEquals(true, pod.get("hostNetwork"), "hostNetwork mode: each replica owns its node's address");
        assertNotNull(at(pod, "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution"));
        Map<String, Object> container = first(pod, "containers");
        assertEquals(List.of("NET_ADMIN"), at(container, "securityContext.capabilities.add"));
        assertEquals(List.of("ALL"), at(container, "securityContext.capabilities.drop"));
        assertEquals(false, at(container, "securityContext.allowPrivilegeEscalation"));
        assertEquals(true, at(container, "securityContext.readOnlyRootFilesystem"));
        assertProbesOnAdminPort(container);
        assertEquals(Map.of("name", "hybridproxy-admin", "key", "token"),
                at(env(container, "HYBRIDPROXY_ADMIN_TOKEN"), "valueFrom.secretKeyRef"));
        assertEquals("status.hostIP", at(env(container, "NODE_IP"), "valueFrom.fieldRef.fieldPath"));
        Map<String, Object> keys = ((List<Map<String, Object>>) pod.get("volumes")).stream()
                .filter(v -> v.get("name").equals("keys")).findFirst().orElseThrow();
        assertEquals("hybridproxy-keys", at(keys, "secret.secretName"));

        String conf = (String) at(r.named("ConfigMap", "rel-hybridproxy"), "data.hybridproxy.conf");
        assertTrue(conf.contains("role = concentrator"), conf);
        assertTrue(conf.contains("include required(file(\"/etc/hybridproxy/keys/keys.conf\"))"), conf);
        assertTrue(conf.contains("token = ${HYBRIDPROXY_ADMIN_TOKEN}"), conf);
        assertTrue(conf.contains("bind = \"0.0.0.0:9190\""), conf);
        assertTrue(conf.contains("announce += ${?HYBRIDPROXY_REPLICA_ADDRESS}"), conf);
        assertTrue(conf.contains("allow-join-initial-address = false"), conf);
        assertTrue(conf.contains("announce-port = 5200"), conf);
        assertFalse(conf.contains("hex:"), "a key in the ConfigMap: " + conf);

        Map<String, Object> publicService = r.named("Service", "rel-hybridproxy");
        assertEquals("LoadBalancer", at(publicService, "spec.type"));
        assertEquals("Local", at(publicService, "spec.externalTrafficPolicy"));
        assertEquals(List.of(5100, 5101), ports(publicService));
        assertEquals("None", at(r.named("Service", "rel-hybridproxy-admin"), "spec.clusterIP"));
        assertEquals(1, (Integer) at(r.one("PodDisruptionBudget"), "spec.maxUnavailable"));
        for (String optional : List.of("ServiceMonitor", "NetworkPolicy", "Deployment")) {
            assertTrue(r.all(optional).isEmpty(), optional + " rendered by default");
        }
        assertEquals(1, r.all("ConfigMap").size(), "no dashboard ConfigMap by default");
    }

    @Test
    void loadBalancerModeGivesEachReplicaItsOwnServiceAddressAndTheCFlag() throws Exception {
        Rendered r = render(t -> t.set("concentrator.perReplica.mode", "loadBalancer")
                .set("concentrator.perReplica.replicaAddresses[0]", "203.0.113.11")
                .set("concentrator.perReplica.replicaAddresses[1]", "203.0.113.12")
                .set("concentrator.service.loadBalancerIP", "203.0.113.10"));
        Map<String, Object> pod = at(r.one("StatefulSet"), "spec.template.spec");
        assertEquals(null, pod.get("hostNetwork"));
        List<Map<String, Object>> sysctls = at(pod, "securityContext.sysctls");
        assertTrue(sysctls.contains(Map.of("name", "net.mptcp.allow_join_initial_addr_port", "value", "0")),
                sysctls.toString());
        assertTrue(sysctls.contains(Map.of("name", "net.ipv4.tcp_fastopen", "value", "515")), sysctls.toString());
        for (int i = 0; i < 2; i++) {
            Map<String, Object> svc = r.named("Service", "rel-hybridproxy-" + i);
            assertEquals("203.0.113.1" + (i + 1), at(svc, "spec.loadBalancerIP"));
            assertEquals("Local", at(svc, "spec.externalTrafficPolicy"));
            assertEquals("rel-hybridproxy-" + i, at(svc, "spec.selector.statefulset.kubernetes.io/pod-name"));
            assertEquals(List.of(5100, 5200, 5101), ports(svc), "the join port goes to the replica too");
        }
        assertEquals("203.0.113.10", at(r.named("Service", "rel-hybridproxy"), "spec.loadBalancerIP"));

        // The start command really picks the replica's own address from its ordinal.
        Map<String, Object> container = first(pod, "containers");
        String script = ((List<String>) container.get("args")).getFirst();
        assertEquals("203.0.113.12", replicaAddressChosenBy(script, "rel-hybridproxy-1",
                (String) env(container, "REPLICA_ADDRESSES").get("value")));
        assertEquals("203.0.113.11", replicaAddressChosenBy(script, "rel-hybridproxy-0",
                (String) env(container, "REPLICA_ADDRESSES").get("value")));
    }

    /** The rendered hybridproxy.conf is one the appliance accepts, with the keys and token the pod gets. */
    @Test
    void renderedConfigIsAcceptedByTheAppliance() throws Exception {
        for (String role : List.of("concentrator", "sidecar")) {
            Rendered r = render(t -> t.set("role", role).set("concentrator.authorizedCidrs[0]", "198.51.100.0/24"));
            Path dir = Files.createTempDirectory("chart-conf");
            Path keys = Files.writeString(dir.resolve("keys.conf"),
                    "keys = [{ id = \"cpe-1\", key = \"hex:00112233445566778899aabbccddeeff\" }]\n");
            String conf = ((String) at(r.one("ConfigMap"), "data.hybridproxy.conf"))
                    .replace("/etc/hybridproxy/keys/keys.conf", keys.toString());
            Path file = Files.writeString(dir.resolve("hybridproxy.conf"), conf);
            ProcessBuilder pb = new ProcessBuilder(JavaLauncher.command(List.of("--enable-native-access=ALL-UNNAMED"),
                    ApplianceLauncher.MAIN_CLASS, "check", "--config", file.toString())).redirectErrorStream(true);
            pb.environment().put("HYBRIDPROXY_ADMIN_TOKEN", "a-token-of-at-least-16-chars");
            pb.environment().put("HYBRIDPROXY_REPLICA_ADDRESS", "203.0.113.11");
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes());
            p.waitFor();
            assertFalse(out.contains("invalid configuration"), role + ":\n" + out + "\n" + conf);
            assertTrue(out.contains("role") || out.contains(role), role + ":\n" + out);
            if (role.equals("concentrator")) {
                assertTrue(out.contains("203.0.113.11"), "the replica address is not announced:\n" + out);
                assertTrue(out.contains("allow_join_initial_addr_port=0"), "no C flag:\n" + out);
                assertTrue(out.contains("203.0.113.11 port 5200 signal"), "no join port:\n" + out);
            }
        }
    }

    @Test
    void loadBalancerModeWithoutAnAddressPerReplicaIsRefused() {
        Exception e = assertThrows(Exception.class, () -> render(t -> t
                .set("concentrator.perReplica.mode", "loadBalancer")
                .set("concentrator.perReplica.replicaAddresses[0]", "203.0.113.11")));
        assertTrue(e.getMessage().contains("one address per replica"), e.getMessage());
    }

    @Test
    void valuesOutsideTheSchemaAreRefused() {
        assertThrows(Exception.class, () -> render(t -> t.set("role", "router")));
        assertThrows(Exception.class, () -> render(t -> t.set("concentrator.authorizedCidrs[0]", "not-a-cidr")));
        assertThrows(Exception.class, () -> render(t -> t.set("concentrator.keys", "hex:00")));
    }

    @Test
    void serviceMonitorScrapesWithTheTokenFromTheSecret() {
        Rendered r = render(t -> t.set("serviceMonitor.enabled", "true"));
        Map<String, Object> endpoint = first(at(r.one("ServiceMonitor"), "spec"), "endpoints");
        assertEquals("admin", endpoint.get("port"));
        assertEquals("/metrics", endpoint.get("path"));
        assertEquals("Bearer", at(endpoint, "authorization.type"));
        assertEquals(Map.of("name", "hybridproxy-admin", "key", "token"), at(endpoint, "authorization.credentials"));
        assertEquals("true", at(r.one("ServiceMonitor"), "spec.selector.matchLabels.hybridproxy.net/admin"));
        assertEquals("true", at(r.named("Service", "rel-hybridproxy-admin"), "metadata.labels.hybridproxy.net/admin"));
    }

    @Test
    void networkPolicyOpensDataPortsToCpesAndTheAdminPortToMonitoringOnly() {
        Rendered r = render(t -> t.set("networkPolicy.enabled", "true")
                .set("concentrator.authorizedCidrs[0]", "198.51.100.0/24"));
        List<Map<String, Object>> ingress = at(r.one("NetworkPolicy"), "spec.ingress");
        assertEquals(List.of(Map.of("port", 5100, "protocol", "TCP"), Map.of("port", 5200, "protocol", "TCP"),
                        Map.of("port", 5101, "protocol", "TCP")),
                ingress.get(0).get("ports"));
        assertEquals(List.of(Map.of("ipBlock", Map.of("cidr", "198.51.100.0/24"))), ingress.get(0).get("from"));
        assertEquals(List.of(Map.of("port", 9190, "protocol", "TCP")), ingress.get(1).get("ports"));
        assertEquals("monitoring", at((Map<String, Object>) ((List<?>) ingress.get(1).get("from")).getFirst(),
                "namespaceSelector.matchLabels.kubernetes.io/metadata.name"));
    }

    @Test
    void grafanaDashboardIsAConfigMapForTheSidecarWithTheProjectsDashboard() throws IOException {
        Path dashboard = Podman.TOP.resolve("deploy/grafana/hybridproxy.json");
        assertEquals(Files.readString(dashboard), Files.readString(CHART.resolve("dashboards/hybridproxy.json")),
                "the chart's dashboard copy drifted from deploy/grafana/hybridproxy.json");
        Rendered r = render(t -> t.set("grafanaDashboard.enabled", "true"));
        Map<String, Object> cm = r.named("ConfigMap", "rel-hybridproxy-dashboard");
        assertEquals("1", at(cm, "metadata.labels.grafana_dashboard"));
        assertEquals(Files.readString(dashboard).strip(), ((String) at(cm, "data.hybridproxy.json")).strip());
    }

    @Test
    void withoutNetAdminTheReplicasRunAsNonRootWithoutCapabilities() {
        Rendered r = render(t -> t.set("concentrator.netAdmin", "false")
                .set("concentrator.podDisruptionBudget.enabled", "false"));
        Map<String, Object> container = first(at(r.one("StatefulSet"), "spec.template.spec"), "containers");
        assertEquals(true, at(container, "securityContext.runAsNonRoot"));
        assertEquals(10001, (Integer) at(container, "securityContext.runAsUser"));
        assertEquals(null, (Object) at(container, "securityContext.capabilities.add"));
        assertTrue(((String) at(r.named("ConfigMap", "rel-hybridproxy"), "data.hybridproxy.conf"))
                .contains("manage-endpoints = false"));
        assertTrue(r.all("PodDisruptionBudget").isEmpty());
    }

    @Test
    void sidecarRoleRendersAnAppWithHybridproxyAsANativeSidecar() {
        Rendered r = render(t -> t.set("role", "sidecar"));
        Map<String, Object> pod = at(r.one("Deployment"), "spec.template.spec");
        Map<String, Object> sidecar = first(pod, "initContainers");
        assertEquals("hybridproxy", sidecar.get("name"));
        assertEquals("Always", sidecar.get("restartPolicy"), "a native sidecar is an init container that keeps running");
        assertEquals(true, at(sidecar, "securityContext.runAsNonRoot"));
        assertProbesOnAdminPort(sidecar);
        assertEquals(8080, (Integer) ((List<Map<String, Object>>) first(pod, "containers").get("ports"))
                .getFirst().get("containerPort"));
        String conf = (String) at(r.one("ConfigMap"), "data.hybridproxy.conf");
        assertTrue(conf.contains("mode = mptcp-to-tcp") && conf.contains("upstream = \"127.0.0.1:8080\""), conf);
        assertEquals(List.of(8443), ports(r.named("Service", "rel-hybridproxy")));
        assertTrue(r.all("StatefulSet").isEmpty());
    }

    // ------------------------------------------------------------------ helpers

    private static void assertProbesOnAdminPort(Map<String, Object> container) {
        assertEquals("/health/live", at(container, "livenessProbe.httpGet.path"));
        assertEquals("/health/ready", at(container, "readinessProbe.httpGet.path"));
        assertEquals("admin", at(container, "livenessProbe.httpGet.port"));
        assertEquals("admin", at(container, "readinessProbe.httpGet.port"));
    }

    private static String replicaAddressChosenBy(String script, String podName, String addresses) throws Exception {
        Path bin = Files.createTempDirectory("fake-launcher");
        Path fake = bin.resolve("hybridproxy");
        Files.writeString(fake, "#!/bin/sh\necho \"$HYBRIDPROXY_REPLICA_ADDRESS\"\n");
        fake.toFile().setExecutable(true);
        ProcessBuilder pb = new ProcessBuilder("sh", "-c", script).redirectErrorStream(true);
        pb.environment().put("PATH", bin + ":/usr/bin:/bin");
        pb.environment().put("POD_NAME", podName);
        pb.environment().put("REPLICA_ADDRESSES", addresses);
        Process run = pb.start();
        assertTrue(run.waitFor(Duration.ofSeconds(10).toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS));
        return new String(run.getInputStream().readAllBytes()).strip();
    }

    private static Map<String, Object> env(Map<String, Object> container, String name) {
        return ((List<Map<String, Object>>) container.get("env")).stream()
                .filter(e -> e.get("name").equals(name)).findFirst().orElseThrow(() -> new AssertionError("no " + name));
    }

    private static List<Integer> ports(Map<String, Object> service) {
        return ((List<Map<String, Object>>) at(service, "spec.ports")).stream()
                .map(p -> (Integer) p.get("port")).toList();
    }

    private static Map<String, Object> first(Map<String, Object> parent, String listKey) {
        return ((List<Map<String, Object>>) parent.get(listKey)).getFirst();
    }

    /**
     * The value at a dotted path; a segment may itself contain dots when it names a map key that does
     * (labels like {@code statefulset.kubernetes.io/pod-name}): the longest key that matches wins.
     */
    @SuppressWarnings("unchecked")
    static <T> T at(Map<String, Object> root, String path) {
        Object node = root;
        String rest = path;
        while (!rest.isEmpty()) {
            if (!(node instanceof Map<?, ?> map)) {
                return null;
            }
            String key = null;
            for (Object k : map.keySet()) {
                String candidate = k.toString();
                if ((rest.equals(candidate) || rest.startsWith(candidate + "."))
                        && (key == null || candidate.length() > key.length())) {
                    key = candidate;
                }
            }
            if (key == null) {
                return null;
            }
            node = map.get(key);
            rest = rest.length() == key.length() ? "" : rest.substring(key.length() + 1);
        }
        return (T) node;
    }

    private static Rendered render(UnaryOperator<TemplateCommand> options) {
        String yaml = options.apply(new Helm(CHART).template().withName("rel").withNamespace("hpx")).call();
        List<Map<String, Object>> objects = new ArrayList<>();
        for (Object doc : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(yaml)) {
            if (doc != null) {
                objects.add((Map<String, Object>) doc);
            }
        }
        return new Rendered(objects, yaml);
    }

    record Rendered(List<Map<String, Object>> objects, String yaml) {
        List<Map<String, Object>> all(String kind) {
            return objects.stream().filter(o -> kind.equals(o.get("kind"))).toList();
        }

        Map<String, Object> one(String kind) {
            List<Map<String, Object>> all = all(kind);
            assertEquals(1, all.size(), () -> "expected one " + kind + " in:\n" + yaml);
            return all.getFirst();
        }

        Map<String, Object> named(String kind, String name) {
            return all(kind).stream().filter(o -> Objects.equals(name, at(o, "metadata.name"))).findFirst()
                    .orElseThrow(() -> new AssertionError("no " + kind + " " + name + " in:\n" + yaml));
        }
    }
}
