#!/usr/bin/python3
"""Replays README.md's grpcurl block ("### With grpcurl") through buf curl,
call by call, against a running metad, and checks that reflection describes
every service it lists, through grpc.reflection.v1 and v1alpha alike.

  replay.py --buf PATH/TO/buf --address HOST:PORT --readme README.md

Each grpcurl line is translated, not copied: `list` becomes --list-services,
`describe pkg.Service.Method` becomes --list-methods (buf curl has no
describe; listing methods describes every service), a call becomes a POST
to http://ADDRESS/pkg.Service/Method. A flag the translation does not know
fails the test, so the README cannot drift from what is checked. A run_id
in a request (the README supposes one) is replaced by the id that StartRun
answered on this fresh daemon, and file_ids by the files registered here.
Prints every call and answer, goes on after a failing call (later ones may
fail because of it) and exits 1 if any failed.
"""
import argparse
import json
import re
import shlex
import subprocess
import sys

# What `list` must show: ours, health, and both reflection protocols.
EXPECTED_SERVICES = {
    "metad.v1.FileService", "metad.v1.TaskService", "metad.v1.TaskLogService",
    "metad.v1.DependencyService", "metad.v1.WatchService",
    "metad.v1.AdminService", "metad.v1.DeadlineService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
}
REFLECT_PROTOCOLS = ("grpc-v1", "grpc-v1alpha")


class Failure(Exception):
    pass


def readme_calls(path):
    """The grpcurl command lines of the README's grpcurl block, as argv."""
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^### With grpcurl\n.*?^```sh\n(.*?)^```", text,
                  re.S | re.M)
    if not m:
        raise Failure(f"{path}: no ```sh block under '### With grpcurl'")
    calls = []
    for line in m.group(1).replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        if argv:
            calls.append(argv)
    return calls


def parse_grpcurl(argv):
    """(data, headers, positional) of a grpcurl command line."""
    if argv[0] != "grpcurl":
        raise Failure(f"not a grpcurl call: {shlex.join(argv)}")
    data, headers, positional, plaintext = None, [], [], False
    args = iter(argv[1:])
    for arg in args:
        if arg == "-plaintext":
            plaintext = True
        elif arg == "-d":
            data = next(args)
        elif arg == "-H":
            headers.append(next(args))
        elif arg.startswith("-"):
            raise Failure(f"grpcurl flag {arg} has no translation here")
        else:
            positional.append(arg)
    if not plaintext:
        raise Failure(f"only -plaintext calls can be replayed: {shlex.join(argv)}")
    if len(positional) < 2:
        raise Failure(f"expected ADDRESS and a verb: {shlex.join(argv)}")
    return data, headers, positional[1:]


class Buf:
    def __init__(self, path, address):
        self.path = path
        self.base = f"http://{address}"

    def run(self, args, echo=True):
        """buf curl's stdout; Failure naming the command if it fails."""
        cmd = [self.path, "curl", "--protocol", "grpc",
               "--http2-prior-knowledge"] + args
        print("$", shlex.join(cmd), flush=True)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=60, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise Failure("buf curl did not answer in 60 s")
        out = done.stdout.strip()
        if out and echo:
            print(out)
        if done.returncode != 0:
            raise Failure(f"exit {done.returncode}: {done.stderr.strip()}")
        return out

    def services(self, protocol=None):
        args = ["--reflect-protocol", protocol] if protocol else []
        services = self.run(args + ["--list-services", self.base]).split()
        return sorted(services)

    def methods(self, protocol=None):
        args = ["--reflect-protocol", protocol] if protocol else []
        methods = self.run(args + ["--list-methods", self.base], echo=False)
        print(f"({len(methods.split())} methods)")
        return sorted(methods.split())


def undescribed(buf, services):
    """What keeps each reflection protocol from listing the same services
    and describing each (buf curl --list-methods fails on any service it
    cannot resolve)."""
    problems = []
    for protocol in REFLECT_PROTOCOLS:
        try:
            listed = buf.services(protocol)
            if listed != services:
                problems.append(f"{protocol} lists {listed}")
            methods = buf.methods(protocol)
            problems += [f"{protocol}: no methods for {service}"
                         for service in services
                         if not any(m.startswith(service + "/")
                                    for m in methods)]
        except Failure as e:
            problems.append(f"{protocol}: {e}")
    return problems


def check_answer(method, request, answer, state):
    """What each tour step must answer; remembers the run StartRun made."""
    if method == "metad.v1.TaskService/RegisterTask":
        assert answer["task"]["name"] == request["name"], answer
    elif method == "metad.v1.FileService/RegisterFile":
        assert answer["file"]["fileName"] == request["file"]["file_name"], answer
        state["files"].add(answer["file"]["id"])
    elif method == "metad.v1.TaskLogService/StartRun":
        assert answer["run"]["status"] == "RUN_STATUS_PROCESSING", answer
        state["run_id"] = int(answer["run"]["id"])
    elif method == "metad.v1.FileService/ClaimFiles":
        claimed = {f["id"] for f in answer.get("files", [])}
        assert claimed == state["files"], (claimed, state["files"])
    elif method == "metad.v1.TaskLogService/FinishRun":
        assert answer["run"]["status"] == request["status"], answer
        assert answer["filesFinished"] == len(state["files"]), answer
    elif method == "grpc.health.v1.Health/Check":
        assert answer["status"] == "SERVING", answer


def replay_one(buf, argv, state):
    data, headers, verb = parse_grpcurl(argv)
    extra = [a for h in headers for a in ("-H", h)]
    if verb[0] == "list":
        services = buf.services()
        problems = [f"list lacks {name}"
                    for name in sorted(EXPECTED_SERVICES - set(services))]
        problems += undescribed(buf, services)
        if problems:
            raise Failure("; ".join(problems))
        return
    if verb[0] == "describe":
        symbol = verb[1]
        methods = buf.methods()
        if symbol not in {m.split("/")[0] for m in methods}:
            symbol = "/".join(symbol.rsplit(".", 1))  # Service.Method
            if symbol not in methods:
                raise Failure(f"{verb[1]} is not among the methods")
        return
    if len(verb) != 1 or "/" not in verb[0]:
        raise Failure(f"grpcurl verb {verb} has no translation here")
    method = verb[0]
    request = json.loads(data) if data else {}
    if "run_id" in request:
        if state["run_id"] is None:
            raise Failure("run_id used before any StartRun succeeded")
        if request["run_id"] != state["run_id"]:
            print(f"(run_id {request['run_id']} -> {state['run_id']}, "
                  "the id StartRun answered)")
            request["run_id"] = state["run_id"]
    if "file_ids" in request:
        # As for run_id: the files registered on this daemon.
        request["file_ids"] = sorted(state["files"], key=int)
    args = extra + [f"{buf.base}/{method}"]
    if data is not None:
        args += ["-d", json.dumps(request, separators=(",", ":"))]
    out = buf.run(args)
    try:
        answer = json.loads(out or "{}")
    except ValueError:
        raise Failure(f"{method} answered no JSON")
    try:
        check_answer(method, request, answer, state)
    except (AssertionError, KeyError) as e:
        raise Failure(f"{method} answered unexpectedly: {e!r}")


def replay(buf, calls):
    """The number of failures."""
    state = {"files": set(), "run_id": None}
    verbs, failed = set(), 0
    for argv in calls:
        print(f"\n# README: {shlex.join(argv)}", flush=True)
        try:
            verbs.add(parse_grpcurl(argv)[2][0])
            replay_one(buf, argv, state)
        except Failure as e:
            print(f"FAIL: {e}", flush=True)
            failed += 1
    # The block must still hold what issue 13 was about.
    for need in ("list", "describe", "grpc.health.v1.Health/Check"):
        if need not in verbs:
            print(f"FAIL: the README block no longer does {need}")
            failed += 1
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--buf", required=True)
    ap.add_argument("--address", required=True)
    ap.add_argument("--readme", required=True)
    args = ap.parse_args()
    try:
        calls = readme_calls(args.readme)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    failed = replay(Buf(args.buf, args.address), calls)
    if failed:
        print(f"\nREADME grpcurl block through buf curl: {failed} "
              "failure(s), listed above", file=sys.stderr)
        return 1
    print(f"\nREADME grpcurl block: {len(calls)} calls replayed through "
          "buf curl: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
