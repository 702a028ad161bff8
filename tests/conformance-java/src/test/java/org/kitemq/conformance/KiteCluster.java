// Test harness of the Java conformance suite: starts one kite-namesrv and one kite-broker
// (optionally a slave of it too, brokerId 1 of the same group, and later a second broker
// group, startSecondGroup) from $KITE_BIN on a random
// 127.0.0.x with free ports, data and logs in a temp dir (a Prepare hook may add keys of both
// daemons that depend on the address, e.g. TLS certificates naming it), waits for their ports, and stops
// them by PID (SIGTERM, then SIGKILL) on close, at JVM exit, and through run.sh, which
// kills every PID listed in $KITE_CJ_PIDFILE that is still alive. A test can SIGKILL the
// master on purpose (killMaster); close() then stops the others.
package org.kitemq.conformance;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

public final class KiteCluster implements AutoCloseable {
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            for (Process p : LIVE) {
                p.destroyForcibly();
            }
        }));
    }

    public final String host;
    public final int brokerPort;
    public final int namesrvPort;
    /** The slave's port (0 without a slave); its VIP port is 2 below, as the master's. */
    public final int slavePort;
    public final Path dir;
    public final String brokerName = "broker-cj";
    public final String clusterName = "CjCluster";
    private final Map<String, String> brokerConf;
    private final Map<String, String> namesrvConf;
    private final List<Process> children = new ArrayList<>();
    /** What each child is, for messages. */
    private final List<String> names = new ArrayList<>();
    /** The second group's master port (0 until startSecondGroup); its VIP port is 2 below. */
    public int group2Port;
    /** Processes a test killed on purpose: close() does not count them as problems. */
    private final Set<Process> killed = ConcurrentHashMap.newKeySet();
    private boolean failed;

    private KiteCluster(String name, Map<String, String> extra, boolean slave) throws IOException {
        Path root = Paths.get(System.getProperty("java.io.tmpdir"));
        String tmp = System.getenv("KITE_CJ_TMP");
        if (tmp != null && !tmp.isEmpty()) {
            root = Paths.get(tmp);
            Files.createDirectories(root);
        }
        dir = Files.createTempDirectory(root, "kite-cj-" + name + "-");
        int[] addr = pickAddress();
        host = "127.0.0." + addr[0];
        brokerPort = addr[1];
        namesrvPort = addr[1] + 10;
        slavePort = slave ? addr[1] + 5 : 0;
        brokerConf = new LinkedHashMap<>();
        brokerConf.put("brokerClusterName", clusterName);
        brokerConf.put("brokerName", brokerName);
        brokerConf.put("brokerIP1", host);
        brokerConf.put("bindAddress", host);
        brokerConf.put("listenPort", Integer.toString(brokerPort));
        brokerConf.put("namesrvAddr", nameSrv());
        brokerConf.put("storePathRootDir", dir.resolve("store").toString());
        brokerConf.put("mappedFileSizeCommitLog", Integer.toString(64 * 1024 * 1024));
        // a small index: the default one is ~400 MiB per store
        brokerConf.put("maxHashSlotNum", "20000");
        brokerConf.put("maxIndexNum", "80000");
        brokerConf.put("flushDiskType", "ASYNC_FLUSH");
        brokerConf.putAll(extra);
        namesrvConf = new LinkedHashMap<>();
        namesrvConf.put("listenPort", Integer.toString(namesrvPort));
        namesrvConf.put("bindAddress", host);
        namesrvConf.put("kvConfigPath", dir.resolve("namesrv").resolve("kvConfig.json").toString());
    }

    /**
     * Adds or changes keys of the broker(s) and the name server once the cluster's address and
     * directory are chosen, before anything starts (e.g. certificates naming {@code c.host}).
     */
    public interface Prepare {
        void prepare(KiteCluster c, Map<String, String> brokerKeys, Map<String, String> namesrvKeys) throws Exception;
    }

    /** Starts a cluster; {@code extra} holds broker config keys (e.g. messageDelayLevel). */
    public static KiteCluster start(String name, Map<String, String> extra) throws Exception {
        return start(name, extra, false);
    }

    /**
     * With {@code slave}, a second kite-broker of the same group (brokerId 1, brokerRole
     * SLAVE, the same keys) follows the master (brokerId 0, ASYNC_MASTER).
     */
    public static KiteCluster start(String name, Map<String, String> extra, boolean slave) throws Exception {
        return start(name, extra, slave, null);
    }

    /** As above; {@code prepare} (may be null) adjusts both daemons' keys before they start. */
    public static KiteCluster start(String name, Map<String, String> extra, boolean slave, Prepare prepare)
            throws Exception {
        KiteCluster c = new KiteCluster(name, extra, slave);
        try {
            if (prepare != null) {
                prepare.prepare(c, c.brokerConf, c.namesrvConf);
            }
            c.launch();
        } catch (Exception | Error e) {
            c.failed = true;
            c.close();
            throw new IllegalStateException(e.getMessage() + "\n" + c.logTail(40), e);
        }
        return c;
    }

    public String nameSrv() {
        return host + ":" + namesrvPort;
    }

    public String brokerAddr() {
        return host + ":" + brokerPort;
    }

    public String slaveAddr() {
        return host + ":" + slavePort;
    }

    private static Path bin(String name) {
        String kb = System.getenv("KITE_BIN");
        Path dir = kb != null && !kb.isEmpty() ? Paths.get(kb) : Paths.get("..", "..", "build", "bin");
        Path exe = dir.resolve(name).toAbsolutePath();
        if (!Files.isExecutable(exe)) {
            throw new IllegalStateException(exe + " not found: set KITE_BIN to the directory holding " + name);
        }
        return exe;
    }

    private static boolean portFree(String host, int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(false);
            s.bind(new InetSocketAddress(InetAddress.getByName(host), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    // a random 127.0.0.x and a port p with p-2 (the broker's VIP port), p-1, p, p+1 (its HA
    // port), p+3 and p+5 (a slave's VIP and main ports), p+10 (the name server) and p+18,
    // p+20, p+21 (a second group's VIP, main and HA ports) free on it
    private static int[] pickAddress() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        for (int attempt = 0; attempt < 200; attempt++) {
            int x = 2 + r.nextInt(249);
            int base = 20000 + r.nextInt(40000);
            String h = "127.0.0." + x;
            boolean ok = true;
            for (int p : new int[] {base - 2, base - 1, base, base + 1, base + 3, base + 5, base + 10, base + 18, base + 20,
                base + 21}) {
                if (!portFree(h, p)) {
                    ok = false;
                    break;
                }
            }
            if (ok) {
                return new int[] {x, base};
            }
        }
        throw new IllegalStateException("no free loopback address/port found");
    }

    private static void writeConf(Path file, Map<String, String> kv) throws IOException {
        StringBuilder sb = new StringBuilder("# written by the Java conformance suite\n");
        kv.forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
        Files.write(file, sb.toString().getBytes(StandardCharsets.UTF_8));
    }

    private Process spawn(String exe, String what, Path conf, Path log) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(bin(exe).toString(), "-c", conf.toString());
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Process p = pb.start();
        LIVE.add(p);
        children.add(p);
        names.add(what);
        String pidFile = System.getenv("KITE_CJ_PIDFILE");
        if (pidFile != null && !pidFile.isEmpty()) {
            Files.write(Paths.get(pidFile), (p.pid() + "\n").getBytes(StandardCharsets.UTF_8),
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }
        return p;
    }

    private void waitPort(Process p, String what, int port, long timeoutMs) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (true) {
            if (!p.isAlive()) {
                throw new IllegalStateException(what + " exited (" + p.exitValue() + ") before listening on "
                        + host + ":" + port);
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(host, port), 500);
                return;
            } catch (IOException e) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException(what + " not listening on " + host + ":" + port + " after "
                            + timeoutMs + " ms");
                }
                Thread.sleep(50);
            }
        }
    }

    private void launch() throws Exception {
        writeConf(dir.resolve("namesrv.conf"), namesrvConf);
        writeConf(dir.resolve("broker.conf"), brokerConf);
        Process n = spawn("kite-namesrv", "kite-namesrv", dir.resolve("namesrv.conf"), dir.resolve("namesrv.log"));
        waitPort(n, "kite-namesrv", namesrvPort, 10000);
        Process b = spawn("kite-broker", "kite-broker", dir.resolve("broker.conf"), dir.resolve("broker.log"));
        waitPort(b, "kite-broker", brokerPort, 15000);
        if (slavePort != 0) {
            Map<String, String> sc = new LinkedHashMap<>(brokerConf);
            sc.put("listenPort", Integer.toString(slavePort));
            sc.put("storePathRootDir", dir.resolve("store-slave").toString());
            sc.put("brokerId", "1");
            sc.put("brokerRole", "SLAVE");
            writeConf(dir.resolve("slave.conf"), sc);
            Process s = spawn("kite-broker", "kite-broker (slave)", dir.resolve("slave.conf"), dir.resolve("slave.log"));
            waitPort(s, "kite-broker (slave)", slavePort, 15000);
        }
    }

    /**
     * Starts a second broker group in the cluster: its master (brokerName broker-cj2, the
     * first master's keys and then {@code extra}, its own store, log broker2.log) on
     * group2Port, registered with the same name server. Returns its address.
     */
    public String startSecondGroup(Map<String, String> extra) throws Exception {
        group2Port = brokerPort + 20;
        Map<String, String> c = new LinkedHashMap<>(brokerConf);
        c.put("brokerName", brokerName + "2");
        c.put("listenPort", Integer.toString(group2Port));
        c.put("storePathRootDir", dir.resolve("store-2").toString());
        c.putAll(extra);
        writeConf(dir.resolve("broker2.conf"), c);
        Process p = spawn("kite-broker", "kite-broker (group 2)", dir.resolve("broker2.conf"), dir.resolve("broker2.log"));
        waitPort(p, "kite-broker (group 2)", group2Port, 15000);
        return host + ":" + group2Port;
    }

    /**
     * SIGKILLs the master (kite-broker, brokerId 0) by its PID and waits until it is gone: no
     * shutdown, no final flush, no unregistration; the name server drops it when its connection
     * closes. Returns the PID.
     */
    public long killMaster() throws Exception {
        Process b = children.get(1);
        killed.add(b);
        ProcessHandle.of(b.pid()).ifPresent(ProcessHandle::destroyForcibly);
        if (!b.waitFor(10, TimeUnit.SECONDS)) {
            throw new IllegalStateException("kite-broker (pid " + b.pid() + ") still alive 10 s after SIGKILL");
        }
        LIVE.remove(b);
        return b.pid();
    }

    /** The last lines of the broker and name-server logs, for failure messages. */
    public String logTail(int lines) {
        String slave = slavePort == 0 ? ""
                : "--- tail of " + dir.resolve("slave.log") + " ---\n" + tail(dir.resolve("slave.log"), lines / 2);
        String group2 = group2Port == 0 ? ""
                : "--- tail of " + dir.resolve("broker2.log") + " ---\n" + tail(dir.resolve("broker2.log"), lines / 2);
        return "--- tail of " + dir.resolve("broker.log") + " ---\n" + tail(dir.resolve("broker.log"), lines) + slave + group2
                + "--- tail of " + dir.resolve("namesrv.log") + " ---\n" + tail(dir.resolve("namesrv.log"), lines / 4);
    }

    private static String tail(Path f, int lines) {
        try {
            List<String> all = Files.readAllLines(f, StandardCharsets.UTF_8);
            StringBuilder sb = new StringBuilder();
            for (String l : all.subList(Math.max(0, all.size() - lines), all.size())) {
                sb.append(l).append('\n');
            }
            return sb.toString();
        } catch (IOException e) {
            return "(cannot read " + f + ": " + e + ")\n";
        }
    }

    /**
     * How many lines of the daemon log {@code log} (broker.log, namesrv.log, ...) contain
     * {@code needle}; -1 when it cannot be read.
     */
    public long countLogLines(String log, String needle) {
        try (Stream<String> s = Files.lines(dir.resolve(log), StandardCharsets.ISO_8859_1)) {
            return s.filter(l -> l.contains(needle)).count();
        } catch (IOException | java.io.UncheckedIOException e) {
            return -1;
        }
    }

    /** Marks the cluster as having seen a failure: close() then keeps its directory. */
    public void markFailed() {
        failed = true;
    }

    /**
     * Stops the daemons by PID, slave and broker first: SIGTERM, SIGKILL after 5 s. Throws when a daemon
     * had died before or did not exit cleanly (the directory is kept then, as with KITE_CJ_KEEP).
     */
    @Override
    public void close() throws Exception {
        List<String> problems = new ArrayList<>();
        for (int i = children.size() - 1; i >= 0; i--) {
            Process p = children.get(i);
            String what = names.get(i);
            if (killed.contains(p)) {
                continue;
            }
            if (!p.isAlive()) {
                problems.add(what + " (pid " + p.pid() + ") had exited before stop: " + p.exitValue());
            } else {
                p.destroy();
                if (!p.waitFor(5, TimeUnit.SECONDS)) {
                    p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                    problems.add(what + " (pid " + p.pid() + ") did not stop within 5 s of SIGTERM; killed");
                } else if (p.exitValue() != 0) {
                    problems.add(what + " (pid " + p.pid() + ") exited with " + p.exitValue() + " on SIGTERM");
                }
            }
            LIVE.remove(p);
        }
        if (!problems.isEmpty() || failed || System.getenv("KITE_CJ_KEEP") != null) {
            if (!problems.isEmpty()) {
                throw new IllegalStateException(String.join("; ", problems) + "; logs kept in " + dir + "\n"
                        + logTail(60));
            }
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
