#!/usr/bin/env node
// Drives headless Chromium against a running metad's status page through the
// DevTools protocol over a pipe (--remote-debugging-pipe: no port, no npm
// packages). Creates a batch with metactl, opens the page, checks the tasks
// and states it shows (hostile names shown as text, never run), finishes a
// run while the page is open, waits for the page to show it, and fails on
// any console error, uncaught exception or CSP violation. Writes a
// screenshot. Run by tests/status_page_e2e.sh.
//   node browser_check.js --metactl PATH --address HOST:PORT --http PORT
//        --screenshot OUT.png [--chromium /usr/bin/chromium]
"use strict";
const { spawn, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { parseArgs } = require("node:util");

const { values: args } = parseArgs({
  options: {
    metactl: { type: "string" },
    address: { type: "string" },
    http: { type: "string" },
    screenshot: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    timeout: { type: "string", default: "30" },
  },
});
for (const k of ["metactl", "address", "http", "screenshot"]) {
  if (!args[k]) throw new Error(`--${k} is required`);
}
// Waits are for conditions, bounded only to keep a broken page from hanging CI.
const WAIT_MS = Number(args.timeout) * 1000;

function metactl(...a) {
  const out = execFileSync(args.metactl,
                           ["--address", args.address, "--output", "json", ...a],
                           { encoding: "utf8" });
  return out.trim() ? JSON.parse(out) : {};
}

// ---- the DevTools protocol over fds 3 (to Chromium) and 4 (from it) ----
class Browser {
  constructor(executable) {
    this.profile = fs.mkdtempSync(path.join(os.tmpdir(), "metad-chromium-"));
    const flags = [
      "--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
      "--no-first-run", "--no-default-browser-check", "--disable-extensions",
      "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--mute-audio", "--hide-scrollbars",
      "--remote-debugging-pipe", `--user-data-dir=${this.profile}`,
      // The sandbox refuses to run as root (CI does) and needs user
      // namespaces that containers often lack; the page is our own.
      "--no-sandbox",
    ];
    this.stderr = "";
    this.proc = spawn(executable, [...flags, "about:blank"],
                      { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
    this.proc.stderr.on("data", (d) => { this.stderr += d; });
    this.exited = new Promise((resolve) => this.proc.on("exit", resolve));
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
    let buffer = Buffer.alloc(0);
    this.proc.stdio[4].on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      let end;
      while ((end = buffer.indexOf(0)) >= 0) {
        const message = JSON.parse(buffer.subarray(0, end).toString("utf8"));
        buffer = buffer.subarray(end + 1);
        this.dispatch(message);
      }
    });
    this.proc.on("exit", (code) => {
      for (const { reject } of this.pending.values()) {
        reject(new Error(`chromium exited (${code}): ${this.stderr.slice(-2000)}`));
      }
      this.pending.clear();
    });
  }

  dispatch(message) {
    if (message.id !== undefined) {
      const p = this.pending.get(message.id);
      if (!p) return;
      this.pending.delete(message.id);
      if (message.error) {
        p.reject(new Error(`${p.method}: ${JSON.stringify(message.error)}`));
      } else {
        p.resolve(message.result);
      }
    } else {
      for (const l of this.listeners) l(message);
    }
  }

  send(method, params = {}, sessionId = undefined) {
    const id = this.nextId++;
    const message = { id, method, params };
    if (sessionId) message.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.proc.stdio[3].write(JSON.stringify(message) + "\0");
    });
  }

  onEvent(listener) { this.listeners.push(listener); }

  async close() {
    try {
      await Promise.race([this.send("Browser.close"), this.exited]);
    } catch (e) { /* already gone */ }
    const killer = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(killer);
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function screenshot(page, file) {
  const shot = await page("Page.captureScreenshot", { format: "png" });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.from(shot.data, "base64"));
}

async function main() {
  // ---- data: a graph and a batch whose name and messages are hostile ----
  const batch = `2024-03 <img src=x onerror="window.__xss=1">"'&`;
  const hostileMessage = `disk full </script><script>window.__xss=2</script> & "more"`;
  const tasks = ["extract", "load_sales", "calculate_profit", "report", "audit"];
  for (const t of tasks) {
    const extra = t === "audit" ? ["--max-attempts", "2"] : [];
    if (t === "load_sales") extra.push("--description", `<b onmouseover="window.__xss=3">bold</b>`);
    metactl("tasks", "register", t, ...extra);
  }
  for (const [a, b] of [["extract", "load_sales"], ["load_sales", "calculate_profit"],
                        ["calculate_profit", "report"], ["extract", "audit"]]) {
    metactl("deps", "add", a, b);
  }
  const start = (task) => metactl("runs", "start", task, "--batch", batch, "--lease", "600");
  // extract produces made.csv; load_sales claims it and fails it: the
  // failed file links to both runs.
  const extractRun = String(start("extract").run.id);
  const made = metactl("runs", "outputs", extractRun, "made.csv", "--source", "made");
  const madeId = String(made.outputs[0].file.id);
  metactl("runs", "finish", extractRun, "--status", "success");
  const loadRun = String(start("load_sales").run.id);
  metactl("files", "claim", loadRun, "--limit", "10", "--source", "made");
  metactl("files", "complete", madeId, "--run", loadRun, "--status", "error",
          "--message", "bad rows");
  metactl("runs", "finish", loadRun, "--status", "success");
  metactl("runs", "finish", String(start("audit").run.id), "--status", "error",
          "--message", hostileMessage);
  const running = start("calculate_profit");

  // ---- the page ----
  const browser = new Browser(args.chromium);
  const problems = [];
  browser.onEvent((m) => {
    if (m.method === "Runtime.exceptionThrown") {
      problems.push(`exception: ${JSON.stringify(m.params.exceptionDetails)}`);
    } else if (m.method === "Runtime.consoleAPICalled" &&
               (m.params.type === "error" || m.params.type === "assert")) {
      problems.push(`console.${m.params.type}: ${JSON.stringify(m.params.args)}`);
    } else if (m.method === "Log.entryAdded" && m.params.entry.level === "error") {
      problems.push(`log (${m.params.entry.source}): ${m.params.entry.text} ${m.params.entry.url || ""}`);
    }
  });
  try {
    const { targetId } = await browser.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await browser.send("Target.attachToTarget", { targetId, flatten: true });
    const page = (method, params) => browser.send(method, params, sessionId);
    await page("Runtime.enable");
    await page("Log.enable");
    await page("Page.enable");
    await page("Emulation.setDeviceMetricsOverride",
               { width: 1440, height: 1400, deviceScaleFactor: 1, mobile: false });
    const url = `http://127.0.0.1:${args.http}/status#batch=${encodeURIComponent(batch)}`;
    const nav = await page("Page.navigate", { url });
    if (nav.errorText) throw new Error(`navigate: ${nav.errorText}`);

    const evaluate = async (expression) => {
      const r = await page("Runtime.evaluate", { expression, returnByValue: true });
      if (r.exceptionDetails) throw new Error(`evaluate: ${JSON.stringify(r.exceptionDetails)}`);
      return r.result.value;
    };
    // What the page shows for the batch: per task, the table's state and the
    // graph node's state.
    const snapshot = () => evaluate(`(() => {
      if (!document.getElementById("batch-title")) return null;  // still loading
      const rows = {};
      document.querySelectorAll("#tasks tbody tr[data-task]").forEach((tr) => {
        rows[tr.dataset.task] = tr.querySelector("td.state").textContent;
      });
      const nodes = {};
      document.querySelectorAll("#graph g.node").forEach((g) => { nodes[g.dataset.task] = g.dataset.state; });
      return { title: document.getElementById("batch-title").textContent, rows, nodes,
               failed: [...document.querySelectorAll("#failed-runs .msg")].map((e) => e.textContent),
               fileLinks: [...document.querySelectorAll("#failed-files a.runlink")].map(
                 (a) => [a.classList.contains("producer") ? "producer" : "consumer",
                         a.dataset.run, a.textContent, a.getAttribute("href")]),
               listed: [...document.querySelectorAll("#batches li[data-batch]")].map((e) => e.dataset.batch),
               files: document.getElementById("files").textContent,
               edges: document.querySelectorAll("#graph path.edge").length,
               legend: document.getElementById("legend").textContent,
               refreshes: window.metadStatusRefreshes || 0 };
    })()`);
    const waitFor = async (what, predicate) => {
      const deadline = Date.now() + WAIT_MS;
      let last;
      for (;;) {
        last = await snapshot();
        if (last !== null && predicate(last)) return last;
        if (Date.now() > deadline) {
          throw new Error(`page never showed ${what}; last seen: ${JSON.stringify(last, null, 1)}`);
        }
        await sleep(100);
      }
    };

    const before = await waitFor("calculate_profit PROCESSING",
                                 (s) => s.rows.calculate_profit === "PROCESSING");
    const expectBefore = {
      extract: ["SUCCESS", "SUCCESS"], load_sales: ["SUCCESS", "SUCCESS"],
      calculate_profit: ["PROCESSING", "PROCESSING"], report: ["waiting", "WAITING"],
      audit: ["ERROR, retry ready", "ERROR"],
    };
    const check = (cond, message) => { if (!cond) throw new Error(message); };
    for (const [t, [row, node]] of Object.entries(expectBefore)) {
      check(before.rows[t] === row, `${t}: table says ${before.rows[t]}, want ${row}`);
      check(before.nodes[t] === node, `${t}: graph says ${before.nodes[t]}, want ${node}`);
    }
    check(before.edges === 4, `graph has ${before.edges} edges, want 4`);
    check(before.title === `Batch ${batch}`, `title is ${JSON.stringify(before.title)}`);
    check(before.listed.includes(batch), `batch list lacks the batch: ${JSON.stringify(before.listed)}`);
    check(before.failed.includes(hostileMessage), `failed runs lack the message: ${JSON.stringify(before.failed)}`);
    check(/success/.test(before.legend) && /waiting/.test(before.legend), "legend missing");
    const batchHref = `#batch=${encodeURIComponent(batch)}`;
    check(JSON.stringify(before.fileLinks) === JSON.stringify([
            ["producer", extractRun, `#${extractRun} extract`, batchHref],
            ["consumer", loadRun, `#${loadRun} load_sales`, batchHref]]),
          `failed file's producer and consumer links: ${JSON.stringify(before.fileLinks)}`);

    await screenshot(page, args.screenshot.replace(/\.png$/, "_before.png"));

    // Finish the run while the page is open: the next refresh shows it.
    metactl("runs", "finish", String(running.run.id), "--status", "success");
    const after = await waitFor("calculate_profit SUCCESS and report ready",
                                (s) => s.rows.calculate_profit === "SUCCESS" && s.rows.report === "ready");
    check(after.nodes.calculate_profit === "SUCCESS" && after.nodes.report === "READY",
          `graph after finish: ${JSON.stringify(after.nodes)}`);
    check(after.refreshes > before.refreshes, "no refresh happened");

    // Hostile text stayed text.
    const injected = await evaluate(`({ xss: window.__xss === undefined ? null : window.__xss,
      imgs: document.querySelectorAll("img").length,
      scripts: document.scripts.length,
      bold: document.querySelectorAll("#tasks b, #batches b").length })`);
    check(injected.xss === null && injected.imgs === 0 && injected.scripts === 1 && injected.bold === 0,
          `markup from data reached the page: ${JSON.stringify(injected)}`);

    await screenshot(page, args.screenshot);

    if (problems.length) throw new Error(`console errors:\n  ${problems.join("\n  ")}`);
    console.log(`status page OK: ${Object.keys(after.rows).length} tasks, ` +
                `${after.refreshes} refreshes, screenshot ${args.screenshot}`);
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
