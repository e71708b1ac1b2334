#!/usr/bin/python3
"""Static checks of deploy/ that no packaged tool does; run by validate.sh.

  validate.py yaml FILE...              every document parses (PyYAML, safe)
  validate.py json FILE...              parses as JSON
  validate.py alerts RULES TESTS        every alert has a firing and a silent
                                        unit test, and the tests notice when
                                        an alert is broken (mutation, promtool)
  validate.py metric-names FILE...      every metad_* name used is one metad
                                        exports (METAD_METRICS below)
  validate.py dashboard-rules DASH OUT  writes the dashboard's PromQL as a
                                        rules file for `promtool check rules`
  validate.py dashboard DASH            panel ids, grid, data sources, targets
  validate.py kubernetes DIR            manifests hang together (selectors,
                                        ports, secrets, probes, hardening)
  validate.py compose FILE              services, dependencies, secrets
  validate.py dockerfile FILE ROOT      instructions, stages, COPY sources,
                                        exec-form JSON; prints apt packages
  validate.py env-vars [--without-metrics] HELP FILE...
                                        every METAD_* variable set in FILEs is
                                        one `metad ... --help` documents
  validate.py metrics URL               a live /metrics exposes every metric
                                        in METAD_METRICS (waits up to 20 s)
  validate.py prometheus URL RULES DASH_RULES
                                        a live Prometheus scrapes metad (up is
                                        1), evaluates every alert of RULES
                                        without error, and answers every
                                        dashboard query (waits up to 30 s)
Exits non-zero with one line per problem.
"""
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import yaml

# The metrics metad exports (daemon/http/metrics.cc); alerts and dashboards may
# use only these. Histograms add _bucket, _sum and _count.
METAD_METRICS = {
    "metad_rpc_calls_total": "counter",
    "metad_rpc_latency_seconds": "histogram",
    "metad_db_pool_open": "gauge",
    "metad_db_pool_in_use": "gauge",
    "metad_db_pool_waiting": "gauge",
    "metad_tx_retries_total": "counter",
    "metad_leases_expired_total": "counter",
    "metad_alerts_total": "counter",
    "metad_files": "gauge",
    "metad_runs": "gauge",
    "metad_oldest_processing_run_age_seconds": "gauge",
    "metad_db_up": "gauge",
    "metad_build_info": "gauge",
    "metad_rpc_queued_calls": "gauge",
    "metad_rpc_busy_workers": "gauge",
    "metad_watch_streams": "gauge",
}

problems = []


def problem(msg):
    problems.append(msg)


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# ---- yaml / json ------------------------------------------------------------
def cmd_yaml(paths):
    for path in paths:
        try:
            if not load_yaml_docs(path):
                problem(f"{path}: no YAML document")
        except yaml.YAMLError as e:
            problem(f"{path}: {e}")


def cmd_json(paths):
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                json.load(f)
        except ValueError as e:
            problem(f"{path}: {e}")


# ---- alerts -----------------------------------------------------------------
def alert_rules(rules_doc):
    for group in rules_doc.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" in rule:
                yield rule


def promtool_test(tests_path):
    r = subprocess.run(["promtool", "test", "rules", tests_path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    return r.returncode == 0


def cmd_alerts(rules_path, tests_path):
    rules_doc = load_yaml_docs(rules_path)[0]
    tests_doc = load_yaml_docs(tests_path)[0]
    names = [r["alert"] for r in alert_rules(rules_doc)]
    if len(names) != len(set(names)):
        problem(f"{rules_path}: duplicate alert names")
    for rule in alert_rules(rules_doc):
        for key in ("summary", "description"):
            if not rule.get("annotations", {}).get(key):
                problem(f"{rules_path}: {rule['alert']} has no {key}")
        if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            problem(f"{rules_path}: {rule['alert']} needs severity critical|warning|info")

    firing, silent = set(), set()
    for test in tests_doc.get("tests", []):
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    for name in names:
        if name not in firing:
            problem(f"{tests_path}: no test where {name} fires")
        if name not in silent:
            problem(f"{tests_path}: no test where {name} stays silent")
    for name in (firing | silent) - set(names):
        problem(f"{tests_path}: tests an alert that does not exist: {name}")
    if problems:
        return

    # Mutations: an alert that never fires, or always fires, must make its
    # unit tests fail; otherwise they do not test it. Each mutant runs only
    # the tests that name its alert, in parallel.
    def survives(name, mutant):
        with tempfile.TemporaryDirectory() as tmp:
            rules_copy = os.path.join(tmp, "rules.yml")
            tests_copy = os.path.join(tmp, "tests.yml")
            doc = yaml.safe_load(yaml.safe_dump(rules_doc))
            for rule in alert_rules(doc):
                if rule["alert"] == name:
                    rule["expr"] = mutant
                    rule.pop("for", None)
            tests = dict(tests_doc, rule_files=["rules.yml"])
            tests["tests"] = [t for t in tests_doc["tests"]
                              if any(c["alertname"] == name
                                     for c in t.get("alert_rule_test", []))]
            with open(rules_copy, "w") as f:
                yaml.safe_dump(doc, f)
            with open(tests_copy, "w") as f:
                yaml.safe_dump(tests, f)
            return promtool_test(tests_copy)

    mutants = [(name, mutant, meaning) for name in names
               for mutant, meaning in (("vector(1) == 2", "never fires"),
                                       ("vector(1)", "always fires"))]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda m: survives(m[0], m[1]), mutants)
        for (name, _, meaning), survived in zip(mutants, results):
            if survived:
                problem(f"{tests_path}: the tests still pass when {name} {meaning}")
    print(f"alerts: {len(names)} alerts, each fires and stays silent in a test, "
          f"and {2 * len(names)} broken variants were caught")


# ---- metric names -------------------------------------------------------------
def known_metric(name):
    if name in METAD_METRICS:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and METAD_METRICS.get(base) == "histogram":
            return True
    return False


def cmd_metric_names(paths):
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for name in sorted(set(re.findall(r"\bmetad_[a-z0-9_]+", text))):
            # Prose like "metad_rpc_calls_total by method" counts too.
            if not known_metric(name):
                problem(f"{path}: {name} is not a metric metad exports")


# ---- dashboard ----------------------------------------------------------------
GRAFANA_VARS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$job": ".*",
    "$instance": ".*",
}


def dashboard_exprs(dash):
    exprs = []

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                exprs.append((f"panel {p['id']} '{p['title']}' {t['refId']}", t["expr"]))
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            exprs.append((f"annotation '{a['name']}'", a["expr"]))
    return exprs


def substitute(expr):
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    if "$" in expr:
        raise ValueError(f"unknown Grafana variable in {expr}")
    return expr


def cmd_dashboard_rules(dash_path, out_path):
    with open(dash_path, encoding="utf-8") as f:
        dash = json.load(f)
    rules = []
    for i, (where, expr) in enumerate(dashboard_exprs(dash)):
        try:
            rules.append({"record": f"dashboard:expr_{i}", "expr": substitute(expr),
                          "labels": {"where": where}})
        except ValueError as e:
            problem(f"{dash_path}: {where}: {e}")
    with open(out_path, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)


def cmd_dashboard(dash_path):
    with open(dash_path, encoding="utf-8") as f:
        dash = json.load(f)
    for key in ("uid", "title", "panels", "schemaVersion", "templating"):
        if key not in dash:
            problem(f"{dash_path}: no {key}")
    variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    for needed in ("datasource", "job", "instance"):
        if needed not in variables:
            problem(f"{dash_path}: no ${needed} variable")
    ids = set()
    cells = {}
    for p in dash.get("panels", []):
        if p["id"] in ids:
            problem(f"{dash_path}: duplicate panel id {p['id']}")
        ids.add(p["id"])
        g = p.get("gridPos", {})
        if not all(k in g for k in ("x", "y", "w", "h")) or g["x"] + g["w"] > 24:
            problem(f"{dash_path}: panel {p['id']} has a bad gridPos {g}")
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    problem(f"{dash_path}: panels {cells[(x, y)]} and {p['id']} overlap")
                    break
                cells[(x, y)] = p["id"]
        if p["type"] == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problem(f"{dash_path}: panel {p['id']} does not use the $datasource variable")
        if not p.get("targets"):
            problem(f"{dash_path}: panel {p['id']} '{p['title']}' has no query")
        for t in p.get("targets", []):
            if 'job=~"$job"' not in t.get("expr", "") and "metad_" in t.get("expr", ""):
                problem(f"{dash_path}: panel {p['id']} {t['refId']} ignores $job")
    exprs = " ".join(e for _, e in dashboard_exprs(dash))
    # The panels the issue asks for.
    for what, pattern in (
        ("calls/s by method", r"sum by \(method\) \(rate\(metad_rpc_calls_total"),
        ("error ratio", r"code!~"),
        ("latency p50", r"histogram_quantile\(0\.5,"),
        ("latency p99", r"histogram_quantile\(0\.99,"),
        ("pool in use", r"metad_db_pool_in_use"),
        ("pool waiting", r"metad_db_pool_waiting"),
        ("files per status", r"by \(status\) \(metad_files"),
        ("runs per status", r"by \(status\) \(metad_runs"),
        ("oldest processing run age", r"metad_oldest_processing_run_age_seconds"),
        ("leases expired", r"metad_leases_expired_total"),
    ):
        if not re.search(pattern, exprs):
            problem(f"{dash_path}: no panel shows {what}")


# ---- kubernetes -------------------------------------------------------------------
def subset(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_pod_spec(path, name, spec, secrets, configmaps):
    psc = spec.get("securityContext", {})
    if not psc.get("runAsNonRoot"):
        problem(f"{path}: {name}: pod securityContext.runAsNonRoot is not true")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problem(f"{path}: {name}: no RuntimeDefault seccompProfile")
    if spec.get("automountServiceAccountToken") is not False:
        problem(f"{path}: {name}: automountServiceAccountToken is not false")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for v in volumes.values():
        if "secret" in v:
            secrets.add(v["secret"]["secretName"])
    for c in spec.get("containers", []):
        where = f"{path}: {name}/{c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problem(f"{where}: allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problem(f"{where}: readOnlyRootFilesystem is not true")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problem(f"{where}: capabilities are not all dropped")
        res = c.get("resources", {})
        if not res.get("requests") or "memory" not in res.get("limits", {}):
            problem(f"{where}: needs resource requests and a memory limit")
        ports = {p["containerPort"] for p in c.get("ports", [])}
        names = {p["name"] for p in c.get("ports", []) if "name" in p}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe not in c:
                continue
            handler = {k: v for k, v in c[probe].items()
                       if k in ("grpc", "tcpSocket", "httpGet", "exec")}
            if len(handler) != 1:
                problem(f"{where}: {probe} needs exactly one handler")
                continue
            kind, h = next(iter(handler.items()))
            if kind == "grpc" and not isinstance(h.get("port"), int):
                problem(f"{where}: {probe}: a grpc probe's port must be a number")
            port = h.get("port")
            if kind != "exec" and port not in ports and port not in names:
                problem(f"{where}: {probe} probes port {port}, which the container does not expose")
        for e in c.get("env", []):
            ref = e.get("valueFrom", {})
            if "secretKeyRef" in ref:
                secrets.add(ref["secretKeyRef"]["name"])
            if "configMapKeyRef" in ref:
                configmaps.add(ref["configMapKeyRef"]["name"])
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                configmaps.add(src["configMapRef"]["name"])
            if "secretRef" in src:
                secrets.add(src["secretRef"]["name"])
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                problem(f"{where}: mounts volume {m['name']}, which the pod does not define")


def cmd_kubernetes(directory):
    objects = []
    for fname in sorted(os.listdir(directory)):
        if not fname.endswith((".yaml", ".yml")):
            continue
        path = os.path.join(directory, fname)
        for doc in load_yaml_docs(path):
            for key in ("apiVersion", "kind", "metadata"):
                if key not in doc and not (key == "metadata" and
                                           doc.get("kind") == "Kustomization"):
                    problem(f"{path}: a document has no {key}")
            objects.append((path, doc))

    by_kind = {}
    for path, doc in objects:
        by_kind.setdefault(doc.get("kind"), []).append((path, doc))

    # kustomization.yaml lists every manifest but the secret template.
    kust = [d for _, d in by_kind.get("Kustomization", [])]
    if len(kust) != 1:
        problem(f"{directory}: needs one kustomization.yaml")
    else:
        listed = set(kust[0].get("resources", []))
        for fname in sorted(os.listdir(directory)):
            if fname.endswith(".yaml") and fname not in ("kustomization.yaml",) \
                    and "template" not in fname and fname not in listed:
                problem(f"{directory}/kustomization.yaml: does not list {fname}")
        for fname in listed:
            if not os.path.exists(os.path.join(directory, fname)):
                problem(f"{directory}/kustomization.yaml: lists missing {fname}")

    secrets_used, configmaps_used = set(), set()
    pod_labels = []
    deployments = by_kind.get("Deployment", [])
    if len(deployments) != 1:
        problem(f"{directory}: expected one Deployment")
    for path, d in deployments:
        spec = d["spec"]
        name = d["metadata"]["name"]
        if spec.get("replicas") != 3:
            problem(f"{path}: {name}: replicas must be 3")
        labels = spec["template"]["metadata"].get("labels", {})
        if not spec.get("selector", {}).get("matchLabels") or \
                not subset(spec["selector"]["matchLabels"], labels):
            problem(f"{path}: {name}: selector does not match the pod labels")
        pod = spec["template"]["spec"]
        check_pod_spec(path, name, pod, secrets_used, configmaps_used)
        c = pod["containers"][0]
        for probe in ("readinessProbe", "startupProbe"):
            if "grpc" not in c.get(probe, {}):
                problem(f"{path}: {name}: {probe} must use gRPC health")
        if pod.get("terminationGracePeriodSeconds", 30) < 15:
            problem(f"{path}: {name}: terminationGracePeriodSeconds shorter than the drain")
        pod_labels.append((labels, c))
    for path, job in by_kind.get("Job", []):
        check_pod_spec(path, job["metadata"]["name"], job["spec"]["template"]["spec"],
                       secrets_used, configmaps_used)
        cmd = job["spec"]["template"]["spec"]["containers"][0].get("command", [])
        if cmd[-2:] != ["migrate", "up"]:
            problem(f"{path}: the Job must run `metad migrate up`")

    for path, svc in by_kind.get("Service", []):
        sel = svc["spec"].get("selector", {})
        matched = [c for labels, c in pod_labels if subset(sel, labels)]
        if not matched:
            problem(f"{path}: Service {svc['metadata']['name']} selects no pod")
        for p in svc["spec"].get("ports", []):
            target = p.get("targetPort", p["port"])
            for c in matched:
                names = {cp.get("name") for cp in c.get("ports", [])}
                nums = {cp["containerPort"] for cp in c.get("ports", [])}
                if target not in names and target not in nums:
                    problem(f"{path}: Service port {p.get('name')} targets {target}, "
                            f"which the pod does not expose")
    pdbs = by_kind.get("PodDisruptionBudget", [])
    if not pdbs:
        problem(f"{directory}: no PodDisruptionBudget")
    for path, pdb in pdbs:
        sel = pdb["spec"].get("selector", {}).get("matchLabels", {})
        if not any(subset(sel, labels) for labels, _ in pod_labels):
            problem(f"{path}: the PodDisruptionBudget selects no pod")

    defined_secrets = {d["metadata"]["name"] for _, d in by_kind.get("Secret", [])}
    defined_cms = {d["metadata"]["name"] for _, d in by_kind.get("ConfigMap", [])}
    for s in sorted(secrets_used - defined_secrets):
        problem(f"{directory}: Secret {s} is used but not in the template")
    for s in sorted(configmaps_used - defined_cms):
        problem(f"{directory}: ConfigMap {s} is used but not defined")
    for path, sa_user in [(p, d["spec"]["template"]["spec"].get("serviceAccountName"))
                          for p, d in deployments + by_kind.get("Job", [])]:
        if sa_user and sa_user not in {d["metadata"]["name"]
                                       for _, d in by_kind.get("ServiceAccount", [])}:
            problem(f"{path}: ServiceAccount {sa_user} is not defined")


# ---- compose --------------------------------------------------------------------
def cmd_compose(path):
    doc = load_yaml_docs(path)[0]
    services = doc.get("services", {})
    secrets = set(doc.get("secrets", {}))
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            if dep not in services:
                problem(f"{path}: {name} depends on unknown service {dep}")
        for s in svc.get("secrets", []):
            s = s if isinstance(s, str) else s["source"]
            if s not in secrets:
                problem(f"{path}: {name} uses undefined secret {s}")
        env = svc.get("environment", {})
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        for k in env:
            if "PASSWORD" in k and not k.endswith("_FILE"):
                problem(f"{path}: {name} puts a password in the environment ({k})")
    replicas = [n for n, s in services.items()
                if s.get("entrypoint") is None and s.get("image", "").startswith("metad")]
    if len(replicas) != 2:
        problem(f"{path}: expected two metad replicas, found {replicas}")
    migrate = [n for n, s in services.items()
               if (s.get("entrypoint") or [])[-2:] == ["migrate", "up"]]
    if len(migrate) != 1:
        problem(f"{path}: expected one migration service")
    for r in replicas:
        cond = services[r].get("depends_on", {}).get(migrate[0] if migrate else "", {})
        if cond.get("condition") != "service_completed_successfully":
            problem(f"{path}: {r} must wait for the migration to complete")
    if not any("postgres:15" in s.get("image", "") for s in services.values()):
        problem(f"{path}: no PostgreSQL 15 service")
    if not any("prometheus" in s.get("image", "") for s in services.values()):
        problem(f"{path}: no Prometheus service")


# ---- Dockerfile -------------------------------------------------------------------
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY",
                "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD",
                "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def dockerfile_instructions(path):
    """(line number, instruction, arguments) with continuations joined."""
    out, buf, start = [], "", 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            stripped = line.strip()
            if not buf and (not stripped or stripped.startswith("#")):
                continue
            if buf and stripped.startswith("#"):
                continue  # comment lines inside a continuation are dropped
            if not buf:
                start = n
            if stripped.endswith("\\"):
                buf += stripped[:-1] + " "
                continue
            buf += stripped
            word, _, rest = buf.partition(" ")
            out.append((start, word.upper(), rest.strip()))
            buf = ""
    if buf:
        problem(f"{path}: ends inside a continuation")
    return out


def cmd_dockerfile(path, root):
    ins = dockerfile_instructions(path)
    stages, packages = [], []
    final = {}
    for n, word, args in ins:
        where = f"{path}:{n}"
        if word not in INSTRUCTIONS:
            problem(f"{where}: unknown instruction {word}")
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", args, re.I)
            if not m:
                problem(f"{where}: bad FROM")
                continue
            if not m.group(1).startswith("debian:bookworm"):
                problem(f"{where}: stages must be Debian bookworm")
            stages.append(m.group(2))
            final = {}
        if word in ("ENTRYPOINT", "CMD", "HEALTHCHECK", "SHELL") and "[" in args:
            js = args[args.index("["):]
            try:
                if not all(isinstance(a, str) for a in json.loads(js)):
                    raise ValueError
            except ValueError:
                problem(f"{where}: {word} is not a JSON array of strings: {js}")
        if word == "COPY":
            parts = [p for p in args.split() if not p.startswith("--")]
            from_stage = re.search(r"--from=(\S+)", args)
            if from_stage:
                if from_stage.group(1) not in stages:
                    problem(f"{where}: COPY --from={from_stage.group(1)}: no such earlier stage")
            else:
                for src in parts[:-1]:
                    if src != "." and not os.path.exists(os.path.join(root, src)):
                        problem(f"{where}: COPY source {src} does not exist in {root}")
        if word == "RUN":
            for m in re.finditer(r"apt-get install ((?:[^&;|]|\\)*)", args):
                for w in m.group(1).split():
                    if not w.startswith("-") and re.match(r"^[a-z0-9][a-z0-9+.-]+$", w):
                        packages.append(w)
            for script in re.findall(r"(deploy/\S+\.sh)", args):
                if not os.path.exists(os.path.join(root, script)):
                    problem(f"{where}: {script} does not exist")
        final[word] = args
    if len(stages) < 2:
        problem(f"{path}: expected a multi-stage build")
    user = final.get("USER", "")
    if not user or user.split(":")[0] in ("0", "root"):
        problem(f"{path}: the final stage must run as a non-root USER")
    elif not user.split(":")[0].isdigit():
        problem(f"{path}: USER should be numeric for Kubernetes' runAsNonRoot")
    for needed in ("HEALTHCHECK", "ENTRYPOINT"):
        if needed not in final:
            problem(f"{path}: the final stage has no {needed}")
    if "ENTRYPOINT" in final and \
            json.loads(final["ENTRYPOINT"]) != ["/usr/local/bin/metad", "serve"]:
        problem(f"{path}: ENTRYPOINT must be metad serve")
    ignore = path + ".dockerignore"
    if not os.path.exists(ignore):
        problem(f"{path}: no {os.path.basename(ignore)}")
    print("\n".join(sorted(set(packages))))


# ---- environment variables --------------------------------------------------------
OWN_VARIABLES = {"METAD_HEALTHCHECK_TIMEOUT"}  # deploy/healthcheck.sh's own


def cmd_env_vars(args):
    without_metrics = args[0] == "--without-metrics"
    if without_metrics:
        args = args[1:]
    help_path, paths = args[0], args[1:]
    with open(help_path, encoding="utf-8") as f:
        documented = set(re.findall(r"\[env (METAD_[A-Z0-9_]+)\]", f.read()))
    if without_metrics:
        # A build older than the metrics port: its variables are not
        # checked (validate.sh says it skipped the metrics checks).
        documented |= {"METAD_METRICS_LISTEN", "METAD_STATE_METRICS_INTERVAL"}
    if not documented:
        problem(f"{help_path}: no [env METAD_...] in metad's help")
        return
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        # Variables set: NAME= / NAME: / name: NAME (Kubernetes env lists).
        used = set(re.findall(r"\b(METAD_[A-Z0-9_]+)\s*[=:]", text))
        used |= set(re.findall(r"name:\s*(METAD_[A-Z0-9_]+)", text))
        for var in sorted(used - documented - OWN_VARIABLES):
            problem(f"{path}: sets {var}, which metad does not read")


# ---- live checks ------------------------------------------------------------------
def http_get(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode("utf-8")


def wait_for(what, check, seconds):
    """Calls check() until it returns a true value or `seconds` pass."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError, KeyError) as e:
            last = e
        time.sleep(0.5)
    problem(f"timed out waiting for {what}" + (f" (last error: {last})" if last else ""))
    return None


def exposed_names(text):
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def cmd_metrics(url):
    def missing():
        names = exposed_names(http_get(url))
        return [n for n, kind in METAD_METRICS.items()
                if (n + "_bucket" if kind == "histogram" else n) not in names]

    result = {}

    def complete():
        result["missing"] = missing()
        return not result["missing"]

    if wait_for(f"{url} to expose every metad metric", complete, 20) is None:
        problem(f"{url} lacks {', '.join(result.get('missing', ['?']))}")
    else:
        print(f"metrics: {url} exposes all {len(METAD_METRICS)} metad metrics")


def prom_query(base, expr):
    q = urllib.parse.urlencode({"query": expr})
    body = json.loads(http_get(f"{base}/api/v1/query?{q}"))
    if body.get("status") != "success":
        raise ValueError(f"{expr}: {body.get('error')}")
    return body["data"]["result"]


def cmd_prometheus(base, rules_path, dash_rules_path):
    def scraped():
        up = prom_query(base, 'up{job="metad"}')
        info = prom_query(base, "metad_build_info")
        return up and all(r["value"][1] == "1" for r in up) and info

    if not wait_for("Prometheus to scrape metad (up == 1)", scraped, 30):
        return
    alerts = [r["alert"] for r in alert_rules(load_yaml_docs(rules_path)[0])]

    def evaluated():
        groups = json.loads(http_get(f"{base}/api/v1/rules"))["data"]["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        if any(rules.get(a, {}).get("health") != "ok" for a in alerts):
            raise ValueError({a: (rules.get(a, {}).get("health"),
                                  rules.get(a, {}).get("lastError")) for a in alerts})
        return rules

    rules = wait_for("Prometheus to evaluate every alert rule", evaluated, 15)
    if not rules:
        return
    firing = [a for a in alerts if rules[a].get("state") == "firing"]
    if firing:
        problem(f"alerts firing against a healthy metad: {firing}")

    # The dashboard's queries, as Grafana would send them. The server-error
    # ratio has no series while nothing failed, and there may be no ALERTS.
    dash_rules = load_yaml_docs(dash_rules_path)[0]["groups"][0]["rules"]

    def answered():
        empty = []
        for r in dash_rules:
            expr = r["expr"]
            if not prom_query(base, expr) and "code!~" not in expr \
                    and "ALERTS" not in expr:
                empty.append(r["labels"]["where"])
        if empty:
            raise ValueError(f"no data for {empty}")
        return True

    if wait_for("data for every dashboard query", answered, 20):
        print(f"prometheus: scraped metad, evaluated {len(alerts)} alerts "
              f"(none firing), answered {len(dash_rules)} dashboard queries")


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    {
        "yaml": lambda: cmd_yaml(args),
        "json": lambda: cmd_json(args),
        "alerts": lambda: cmd_alerts(*args),
        "metric-names": lambda: cmd_metric_names(args),
        "dashboard-rules": lambda: cmd_dashboard_rules(*args),
        "dashboard": lambda: cmd_dashboard(*args),
        "kubernetes": lambda: cmd_kubernetes(*args),
        "compose": lambda: cmd_compose(*args),
        "dockerfile": lambda: cmd_dockerfile(*args),
        "env-vars": lambda: cmd_env_vars(args),
        "metrics": lambda: cmd_metrics(*args),
        "prometheus": lambda: cmd_prometheus(*args),
    }[cmd]()
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
