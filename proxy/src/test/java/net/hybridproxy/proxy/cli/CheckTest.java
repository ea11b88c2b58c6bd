package net.hybridproxy.proxy.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckTest {
    @Test
    void strictReversePathFilteringIsAWarningWithTheFix() {
        Check.Item strict = Check.reversePathFilter("1");
        assertEquals(Check.Status.WARN, strict.status());
        assertTrue(strict.detail().contains("rp_filter=2"), strict.detail());
        assertEquals(Check.Status.OK, Check.reversePathFilter("2").status());
        assertEquals(Check.Status.OK, Check.reversePathFilter("0").status());
    }

    @Test
    void kernelsWithTheMptcpFastOpenCollapseAreNamedAndFastOpenIsNotUsedThere() {
        Check.Item affected = Check.mptcpFastOpen("6.18.44-fc-v595");
        assertEquals(Check.Status.WARN, affected.status());
        assertTrue(affected.detail().contains("never sets TCP Fast Open on MPTCP sockets"), affected.detail());
        assertEquals(Check.Status.WARN, Check.mptcpFastOpen("6.2.0").status());
        assertEquals(Check.Status.OK, Check.mptcpFastOpen("5.15.0-91-generic").status());
        assertTrue(net.hybridproxy.proxy.transport.MptcpFastOpen.brokenOn("6.12.1"));
        assertTrue(!net.hybridproxy.proxy.transport.MptcpFastOpen.brokenOn("6.1.0"));
        assertTrue(!net.hybridproxy.proxy.transport.MptcpFastOpen.brokenOn("garbage"));
    }

    @Test
    void theReportHasOneLinePerItemAndAVerdictMatchingItsFailures() throws Exception {
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        int exit = Check.run(Optional.empty(), new PrintStream(buffer, true, StandardCharsets.UTF_8));
        String report = buffer.toString(StandardCharsets.UTF_8);
        for (String item : new String[] {"kernel", "net.mptcp.enabled", "MPTCP sockets", "io_uring", "epoll",
                "transport (auto)", "rp_filter", "tcp_fastopen", "mptcp fast open", "CAP_NET_ADMIN"}) {
            assertTrue(report.lines().anyMatch(l -> l.matches("\\s+(OK|WARN|FAIL)\\s+" + java.util.regex.Pattern
                    .quote(item) + "\\s.*")), () -> "no line for " + item + " in\n" + report);
        }
        boolean anyFail = report.lines().anyMatch(l -> l.trim().startsWith("FAIL"));
        assertEquals(anyFail ? 1 : 0, exit, report);
        assertTrue(report.contains(anyFail ? "NOT READY" : "Result: ready."), report);
    }

    @Test
    void aConfigIsValidatedAndTheHostChangesItImpliesAreListed() throws Exception {
        Path config = Path.of("..", "configs", "cpe.conf");
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        Check.run(Optional.of(config), new PrintStream(buffer, true, StandardCharsets.UTF_8));
        String report = buffer.toString(StandardCharsets.UTF_8);
        assertTrue(Files.exists(config));
        assertTrue(report.contains("is valid (role cpe)"), report);
        assertTrue(report.contains("Host changes `run` will make:"), report);
        // Every host change is a line an operator can paste into a shell, not a Java list.
        String changes = report.substring(report.indexOf("Host changes `run` will make:"));
        assertTrue(changes.lines().anyMatch(l -> l.strip().matches("ip -4 rule add from \\S+ lookup \\d+ priority \\d+")),
                report);
        assertTrue(changes.lines().noneMatch(l -> l.strip().startsWith("[") || l.contains(", ip ")), report);
    }
}
