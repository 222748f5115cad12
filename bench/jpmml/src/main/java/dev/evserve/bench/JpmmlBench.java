package dev.evserve.bench;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.jpmml.evaluator.Evaluator;
import org.jpmml.evaluator.EvaluatorUtil;
import org.jpmml.evaluator.InputField;
import org.jpmml.evaluator.LoadingModelEvaluatorBuilder;
import org.jpmml.evaluator.ModelField;

/**
 * JPMML-Evaluator side of the PMML benchmark; the twin of bench/pmml_bench.cc
 * (same options, same method, same result line).
 *
 * Loads a PMML file and the rows of an input CSV, checks the first pass
 * against an expected CSV, warms the JIT up, then measures single-thread
 * per-record latency (p50/p99) and throughput over records cycling through
 * the rows. Two modes:
 *   raw       argument maps of plain Doubles/Strings built once per row;
 *             JPMML prepares (validates, converts) them inside evaluate(),
 *             as a deployment that gets decoded values does. The fair twin
 *             of our "slots" mode.
 *   prepared  argument maps of FieldValues made once per row with
 *             InputField.prepare(): JPMML's best case (preparation excluded).
 * Every record's target and output values are read (decoded) so that lazy
 * results are paid for.
 *
 * Result lines go to stdout, one per mode, tab-separated key=value:
 *   result tool=jpmml model=NAME mode=raw rows=R batch=B p50_ns=.. p99_ns=.. mean_ns=.. tput_rps=..
 *          cpu_rps=.. (records per second of the JVM's CPU time)
 */
public final class JpmmlBench {

  private static volatile long sink;
  private static int autoBatch;

  private static final class Options {
    String model;
    String input;
    String expected;
    String name;
    double warmupSeconds = 5.0;
    long latencyRecords = 200_000;
    double throughputSeconds = 3.0;
    int batch = 0; // 0 = auto
    List<String> modes = Arrays.asList("raw", "prepared");
    boolean check = true;
  }

  public static void main(String[] args) throws Exception {
    Options o;
    try {
      o = parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("jpmml-bench: " + e.getMessage() + " (see --help)");
      System.exit(2);
      return;
    }
    Evaluator evaluator = new LoadingModelEvaluatorBuilder().load(new File(o.model)).build();
    evaluator.verify();

    System.err.printf(Locale.ROOT, "jpmml-bench: %s: %s, %d inputs, outputs: %s%n", o.name,
        evaluator.getSummary(), evaluator.getInputFields().size(), outputNamesOf(evaluator));
    Csv in = Csv.read(o.input);
    List<InputField> inputs = evaluator.getInputFields();
    List<String> outputNames = new ArrayList<>();
    for (ModelField f : evaluator.getTargetFields()) outputNames.add(f.getName());
    for (ModelField f : evaluator.getOutputFields()) outputNames.add(f.getName());

    List<Map<String, Object>> rawRows = new ArrayList<>();
    for (String[] cells : in.rows) {
      Map<String, Object> m = new LinkedHashMap<>();
      for (InputField f : inputs) {
        int col = in.column(f.getName());
        m.put(f.getName(), col < 0 ? null : rawValue(cells[col]));
      }
      rawRows.add(m);
    }
    if (rawRows.isEmpty()) throw new IllegalStateException(o.input + ": no rows");

    if (o.check && o.expected != null) {
      int cols = check(evaluator, rawRows, outputNames, Csv.read(o.expected), o.expected);
      System.err.printf(Locale.ROOT, "jpmml-bench: %s: %d rows match %s (%d columns)%n", o.name,
          rawRows.size(), o.expected, cols);
    }

    for (String mode : o.modes) {
      List<Map<String, Object>> rows;
      if (mode.equals("raw")) {
        rows = rawRows;
      } else if (mode.equals("prepared")) {
        rows = new ArrayList<>();
        for (Map<String, Object> raw : rawRows) {
          Map<String, Object> m = new LinkedHashMap<>();
          for (InputField f : inputs) m.put(f.getName(), f.prepare(raw.get(f.getName())));
          rows.add(m);
        }
      } else {
        throw new IllegalArgumentException("unknown mode " + mode);
      }
      measure(o, mode, evaluator, rows, outputNames);
    }
  }

  private static String outputNamesOf(Evaluator ev) {
    List<String> names = new ArrayList<>();
    for (ModelField f : ev.getTargetFields()) names.add(f.getName());
    for (ModelField f : ev.getOutputFields()) names.add(f.getName());
    return String.join(", ", names);
  }

  // One record: evaluate and read every output.
  private static long evalOne(Evaluator ev, Map<String, Object> args, List<String> outputs) {
    Map<String, ?> res = ev.evaluate(args);
    long h = 0;
    for (int i = 0; i < outputs.size(); i++) {
      Object v = EvaluatorUtil.decode(res.get(outputs.get(i)));
      if (v != null) h += v.hashCode();
    }
    return h;
  }

  private static void measure(Options o, String mode, Evaluator ev, List<Map<String, Object>> rows,
                              List<String> outputs) {
    int n = rows.size();
    long h = 0;
    int k = 0;
    // Warm-up: the JIT compiles the evaluation path (C2 needs ~10k calls).
    long warmEnd = System.nanoTime() + (long) (o.warmupSeconds * 1e9);
    long warmed = 0;
    while (System.nanoTime() < warmEnd || warmed < 20_000) {
      for (int j = 0; j < 256; j++) {
        h += evalOne(ev, rows.get(k), outputs);
        if (++k == n) k = 0;
      }
      warmed += 256;
    }
    // Auto batch: time records one by one unless one record is so fast that
    // the clock reads (~20-30 ns) would distort it (under 250 ns); then time batches of 64
    // and divide (the percentiles are then of 64-record means).
    int batch = o.batch > 0 ? o.batch : autoBatch;
    if (batch <= 0) {
      long t0 = System.nanoTime();
      for (int j = 0; j < 10_000; j++) {
        h += evalOne(ev, rows.get(k), outputs);
        if (++k == n) k = 0;
      }
      double mean = (System.nanoTime() - t0) / 10_000.0;
      batch = mean < 250 ? 64 : 1;
      autoBatch = batch; // kept for the other modes, so their percentiles compare
    }
    int samples = (int) Math.max(1, o.latencyRecords / batch);
    double[] lat = new double[samples];
    for (int s = 0; s < samples; s++) {
      long t0 = System.nanoTime();
      for (int j = 0; j < batch; j++) {
        h += evalOne(ev, rows.get(k), outputs);
        if (++k == n) k = 0;
      }
      lat[s] = (System.nanoTime() - t0) / (double) batch;
    }
    // Throughput: no per-record clock reads; the clock is checked every 1024.
    // Records per wall second, and per second of the whole JVM's CPU time
    // (this thread plus GC and JIT threads: JPMML's garbage is its cost).
    long count = 0;
    long cpu0 = processCpuNanos();
    long t0 = System.nanoTime();
    long tEnd = t0 + (long) (o.throughputSeconds * 1e9);
    long t1;
    do {
      for (int j = 0; j < 1024; j++) {
        h += evalOne(ev, rows.get(k), outputs);
        if (++k == n) k = 0;
      }
      count += 1024;
      t1 = System.nanoTime();
    } while (t1 < tEnd);
    long cpu = processCpuNanos() - cpu0;
    sink += h;

    double[] sorted = lat.clone();
    Arrays.sort(sorted);
    double sum = 0;
    for (double v : lat) sum += v;
    double tput = count / ((t1 - t0) / 1e9);
    System.out.printf(Locale.ROOT,
        "result\ttool=jpmml\tmodel=%s\tmode=%s\trows=%d\tbatch=%d\tsamples=%d\tp50_ns=%.1f\tp99_ns=%.1f"
            + "\tmean_ns=%.1f\ttput_rps=%.0f\tcpu_rps=%.0f%n",
        o.name, mode, n, batch, samples, pct(sorted, 0.50), pct(sorted, 0.99), sum / samples, tput,
        count / (cpu / 1e9));
    System.out.flush();
  }

  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  private static double pct(double[] sorted, double q) {
    int i = (int) Math.ceil(q * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
  }

  // Empty cell = missing; a number = Double; anything else = String.
  private static Object rawValue(String cell) {
    if (cell.isEmpty()) return null;
    try {
      return Double.valueOf(cell);
    } catch (NumberFormatException e) {
      return cell;
    }
  }

  // Compares the first pass with the expected CSV: numbers within 1e-6
  // relative, anything else as text (numerically when both sides are numbers,
  // so "1" equals "1.0"). Columns that name no output are ignored; if none
  // matches, the check fails.
  private static int check(Evaluator ev, List<Map<String, Object>> rows, List<String> outputs,
                           Csv expected, String path) {
    if (expected.rows.size() != rows.size()) {
      fail(path + ": " + expected.rows.size() + " rows, input has " + rows.size());
    }
    List<String> cols = new ArrayList<>();
    for (String c : expected.header) if (outputs.contains(c)) cols.add(c);
    if (cols.isEmpty()) fail(path + ": no column names an output of the model " + outputs);
    for (int r = 0; r < rows.size(); r++) {
      Map<String, ?> res = ev.evaluate(rows.get(r));
      for (String c : cols) {
        String want = expected.rows.get(r)[expected.column(c)];
        Object got = EvaluatorUtil.decode(res.get(c));
        if (!same(want, got)) {
          fail(path + ": row " + (r + 1) + " column " + c + ": expected '" + want + "', JPMML gives '"
              + got + "'");
        }
      }
    }
    return cols.size();
  }

  static boolean same(String want, Object got) {
    if (want.isEmpty() || want.equals("N/A")) return got == null; // the fixtures' missing
    if (got == null) return false;
    String g = got.toString();
    Double a = num(want);
    Double b = got instanceof Number ? Double.valueOf(((Number) got).doubleValue()) : num(g);
    if (a != null && b != null) {
      double x = a, y = b;
      if (x == y) return true;
      double d = Math.abs(x - y);
      return d <= 1e-6 * Math.max(Math.abs(x), Math.abs(y)) || d <= 1e-12;
    }
    return want.equals(g);
  }

  private static Double num(String s) {
    try {
      return Double.valueOf(s);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  private static void fail(String msg) {
    System.err.println("jpmml-bench: CHECK FAILED: " + msg);
    System.exit(1);
  }

  private static Options parse(String[] args) {
    Options o = new Options();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("-h") || a.equals("--help")) {
        System.out.println(String.join("\n",
            "Usage: java -jar jpmml-bench.jar --model M.pmml --input M.input.csv [options]",
            "  --expected CSV           check the first pass against it (rel. 1e-6); fail if it differs",
            "  --no-check               skip that check",
            "  --name NAME              model name in the result line (default: file name)",
            "  --warmup-seconds S       warm-up per mode (default 5; at least 20000 records)",
            "  --latency-records N      records timed for the percentiles (default 200000)",
            "  --throughput-seconds S   duration of the throughput loop (default 3)",
            "  --batch B                records per latency sample (default: auto, 1 or 64)",
            "  --modes raw,prepared     which argument maps to use (default both)"));
        System.exit(0);
      }
      if (i + 1 >= args.length) throw new IllegalArgumentException(a + " needs a value");
      String v = args[++i];
      switch (a) {
        case "--model": o.model = v; break;
        case "--input": o.input = v; break;
        case "--expected": o.expected = v; break;
        case "--name": o.name = v; break;
        case "--warmup-seconds": o.warmupSeconds = Double.parseDouble(v); break;
        case "--latency-records": o.latencyRecords = Long.parseLong(v); break;
        case "--throughput-seconds": o.throughputSeconds = Double.parseDouble(v); break;
        case "--batch": o.batch = v.equals("auto") ? 0 : Integer.parseInt(v); break;
        case "--modes": o.modes = Arrays.asList(v.split(",")); break;
        case "--no-check": o.check = false; i--; break;
        default: throw new IllegalArgumentException("unknown option " + a);
      }
    }
    if (o.model == null || o.input == null) throw new IllegalArgumentException("--model and --input are required");
    if (o.name == null) {
      String f = new File(o.model).getName();
      o.name = f.endsWith(".pmml") ? f.substring(0, f.length() - 5) : f;
    }
    return o;
  }

  /** Minimal RFC 4180 reader: header row, quoted cells with "" escapes. */
  static final class Csv {
    String[] header;
    final List<String[]> rows = new ArrayList<>();
    private final Map<String, Integer> index = new HashMap<>();

    int column(String name) {
      Integer i = index.get(name);
      return i == null ? -1 : i;
    }

    static Csv read(String path) throws IOException {
      Csv c = new Csv();
      String text = new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.UTF_8);
      List<List<String>> recs = new ArrayList<>();
      List<String> cur = new ArrayList<>();
      StringBuilder cell = new StringBuilder();
      boolean quoted = false;
      boolean any = false;
      for (int i = 0; i < text.length(); i++) {
        char ch = text.charAt(i);
        if (quoted) {
          if (ch == '"') {
            if (i + 1 < text.length() && text.charAt(i + 1) == '"') {
              cell.append('"');
              i++;
            } else {
              quoted = false;
            }
          } else {
            cell.append(ch);
          }
        } else if (ch == '"') {
          quoted = true;
          any = true;
        } else if (ch == ',') {
          cur.add(cell.toString());
          cell.setLength(0);
          any = true;
        } else if (ch == '\n' || ch == '\r') {
          if (ch == '\r' && i + 1 < text.length() && text.charAt(i + 1) == '\n') i++;
          if (any || cell.length() > 0) {
            cur.add(cell.toString());
            recs.add(cur);
          }
          cur = new ArrayList<>();
          cell.setLength(0);
          any = false;
        } else {
          cell.append(ch);
          any = true;
        }
      }
      if (any || cell.length() > 0) {
        cur.add(cell.toString());
        recs.add(cur);
      }
      if (recs.isEmpty()) throw new IOException(path + ": empty CSV");
      c.header = recs.get(0).toArray(new String[0]);
      for (int i = 0; i < c.header.length; i++) c.index.put(c.header[i], i);
      for (int r = 1; r < recs.size(); r++) {
        List<String> rec = recs.get(r);
        if (rec.size() != c.header.length) {
          throw new IOException(path + ": line " + (r + 1) + " has " + rec.size() + " cells, header has "
              + c.header.length);
        }
        c.rows.add(rec.toArray(new String[0]));
      }
      return c;
    }
  }
}
