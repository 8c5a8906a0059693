#!/usr/bin/env bash
# tools/validate-docker.sh - checks docker/ as far as a machine without a
# Docker engine and without a Kubernetes cluster can.
#
#   tools/validate-docker.sh [--build DIR]      (default DIR: build)
#
# (a) every YAML file under docker/ parses (python3-yaml); compose.yaml has
#     Kafka (KRaft), the topic creator, Redis with the ACL file, the five
#     consumers and the "sim" profile; every Kubernetes Deployment has both
#     probes on the metrics port, runs as non-root with a read-only root
#     filesystem and no capabilities, and has a ScaledObject on its own topic
#     and group whose maxReplicaCount is the partition count written once in
#     docker/k8s/kustomization.yaml (checked on the files, and on the output of
#     `kubectl kustomize` when kubectl is installed);
# (b) docker/Dockerfile builds as the README does: it sources tools/deps.sh,
#     runs cf_install_packages, and the same cf_build line as tools/test.sh,
#     then `cmake --install` into the staging prefix it copies from; and the
#     runtime stage sets what compose and Kubernetes rely on;
# (c) the runtime stage's content, without Docker: `cmake --install` of DIR
#     into a temporary prefix, then every program the image copies runs from
#     that prefix as an unprivileged user (uid/gid 65534, no capabilities, no
#     new privileges; the caller itself when not root) with --check-config and
#     CACHEFLEET_SCHEMAS_DIR=<prefix>/share/cachefleet/schemas; the Redis
#     password is read from a group-readable file as Kubernetes mounts it;
#     each consumer also starts on loopback (Kafka and Redis unreachable) and
#     the Dockerfile's own HEALTHCHECK command, /readyz and /metrics are asked,
#     then SIGTERM must end it with status 0 within the pods' grace period;
#     with strace installed, no file may be opened for writing;
# (e) compose's Redis start script and healthcheck run as written (Debian's
#     redis-server instead of the image's entrypoint, on a loopback port) with
#     docker/redis-acl.conf: the example secret is refused, the ACL file gets
#     only the password's hash, the default user is locked out, and a real
#     consumer logs in as cachefleet with the secret file (a wrong one fails);
# (d) `ldd` of every installed program: each library resolves, and its Debian
#     package (dpkg -S) is one the runtime stage installs, a dependency of
#     those, or part of the base image; each package the runtime stage lists
#     provides a library a program links directly.
#
# Exit status 0 when every check passed; 1 otherwise, each failure on a line
# starting with "validate-docker: FAIL". Runs from ctest as
# integration/docker_files (tools/validate/CMakeLists.txt). Starts nothing but
# the consumers under test, on 127.0.0.1, and removes its temporary prefix.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
BUILD=build

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
    --build) BUILD=${2:?--build needs a directory}; shift 2 ;;
    --build=*) BUILD=${1#--build=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "validate-docker: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
CMAKE=${CMAKE:-cmake}

FAILS=0
ok() { printf 'validate-docker: ok    %s\n' "$*"; }
fail() { printf 'validate-docker: FAIL  %s\n' "$*"; FAILS=$((FAILS + 1)); }
note() { printf 'validate-docker: note  %s\n' "$*"; }

if ! command -v python3 >/dev/null || ! python3 -c 'import yaml' 2>/dev/null; then
    fail "python3 with PyYAML is needed (Debian package python3-yaml, in tools/deps.sh)"
    exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/validate-docker.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        for c in $(pgrep -P "$p"); do kill -KILL "$c" 2>/dev/null; done # the program under strace
        kill -KILL "$p" 2>/dev/null
    done
    if [ -n "${VALIDATE_DOCKER_KEEP:-}" ]; then echo "validate-docker: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CONSUMERS=(products carts orders access stock)

############################################################################
# (a) and (b): the files themselves
############################################################################
KUBECTL=
if command -v kubectl >/dev/null; then
    if kubectl kustomize "$ROOT/docker/k8s" >"$WORK/rendered.yaml" 2>"$WORK/kustomize.err"; then
        KUBECTL=$WORK/rendered.yaml
    else
        fail "kubectl kustomize docker/k8s: $(head -c 600 "$WORK/kustomize.err")"
    fi
fi

python3 - "$ROOT" "$WORK/facts.sh" "$KUBECTL" <<'PY'
import glob, json, os, re, shlex, subprocess, sys
import yaml

root, facts_path, rendered = sys.argv[1], sys.argv[2], sys.argv[3]
CONSUMERS = ["products", "carts", "orders", "access", "stock"]
fails = 0

def ok(msg):
    print("validate-docker: ok    " + msg)

def fail(msg):
    global fails
    fails += 1
    print("validate-docker: FAIL  " + msg)

def note(msg):
    print("validate-docker: note  " + msg)

def check(cond, msg, why=""):
    if cond:
        ok(msg)
    else:
        fail(msg + (": " + why if why else ""))
    return bool(cond)

def rel(p):
    return os.path.relpath(p, root)

# -- every YAML file under docker/ parses ---------------------------------
docs_by_file = {}
yaml_files = sorted(glob.glob(os.path.join(root, "docker", "**", "*.yaml"), recursive=True) +
                    glob.glob(os.path.join(root, "docker", "**", "*.yml"), recursive=True))
for path in yaml_files:
    try:
        with open(path, encoding="utf-8") as f:
            docs_by_file[path] = [d for d in yaml.safe_load_all(f) if d is not None]
        ok("%s parses (%d document%s)" % (rel(path), len(docs_by_file[path]),
                                          "" if len(docs_by_file[path]) == 1 else "s"))
    except Exception as e:  # the message names the line
        fail("%s does not parse: %s" % (rel(path), str(e).replace("\n", " ")))

# -- the Dockerfile ---------------------------------------------------------
def dockerfile_instructions(path):
    """(instruction, arguments, stage index) with continuations joined and
    comment lines dropped, as Docker reads them."""
    out, buf, stage = [], "", -1
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for line in lines:
        s = line.strip()
        if s.startswith("#"):
            continue
        if buf:
            buf += " " + s
        else:
            buf = s
        if buf.endswith("\\"):
            buf = buf[:-1].rstrip()
            continue
        if buf:
            word, _, rest = buf.partition(" ")
            word = word.upper()
            if word == "FROM":
                stage += 1
            out.append((word, rest.strip(), stage))
        buf = ""
    return out

facts = {}
dockerfile = os.path.join(root, "docker", "Dockerfile")
if not os.path.exists(dockerfile):
    fail("docker/Dockerfile is missing")
    ins = []
else:
    ins = dockerfile_instructions(dockerfile)
froms = [(a, st) for (w, a, st) in ins if w == "FROM"]
check(froms and all(a.split()[0] == "debian:bookworm-slim" for a, _ in froms),
      "Dockerfile: every stage is FROM debian:bookworm-slim (%d stages)" % len(froms),
      "; ".join(a for a, _ in froms))
check(len(froms) >= 2 and re.search(r"(?i)\bAS\s+build\b", froms[0][0]),
      "Dockerfile: multi-stage, the first stage is named build")
last = len(froms) - 1
build_runs = [a for (w, a, st) in ins if w == "RUN" and st < last]
run_text = "\n".join(build_runs)
shell = [a for (w, a, st) in ins if w == "SHELL" and st < last]
check(shell and "bash" in shell[0], "Dockerfile: the build stage's shell is bash (tools/deps.sh uses arrays)")
check(re.search(r"(^|[;&|]\s*)\.\s+tools/deps\.sh\b", run_text, re.M) and "cf_install_packages" in run_text,
      "Dockerfile: the build stage sources tools/deps.sh and runs cf_install_packages (its package list, not a second one)")
check(not re.search(r"apt-get\s+install", run_text),
      "Dockerfile: the build stage installs no package of its own list (apt-get install only through tools/deps.sh)")

# The README's build is tools/test.sh's first cf_build line.
test_sh = open(os.path.join(root, "tools", "test.sh"), encoding="utf-8").read()
m = re.search(r"^cf_build\s+build\s+([^\n]*)$", test_sh, re.M)
if not m:
    fail("tools/test.sh: no `cf_build build ...` line to compare with")
else:
    want = "cf_build build " + " ".join(m.group(1).split())
    have = " ".join(run_text.split())
    check(want in have, "Dockerfile: builds with tools/test.sh's own command: %s" % want,
          "not found in the build stage's RUN lines")
    bt = re.search(r"-DCMAKE_BUILD_TYPE=(\S+)", want)
    check(bt and bt.group(1) in ("Release", "RelWithDebInfo"),
          "Dockerfile: build type %s" % (bt.group(1) if bt else "?"))
mi = re.search(r"cmake\s+--install\s+build\s+--prefix\s+(\S+)", run_text)
staging = mi.group(1) if mi else None
check(staging, "Dockerfile: `cmake --install build --prefix %s` (the CMakeLists.txt install rules)" % staging)

rt = [(w, a) for (w, a, st) in ins if st == last]
rt_runs = "\n".join(a for w, a in rt if w == "RUN")
pk = re.search(r"apt-get\s+install\s+(.*?)(?:&&|;|$)", rt_runs, re.S)
packages = [t for t in (pk.group(1).split() if pk else []) if not t.startswith("-")]
check(packages, "Dockerfile: the runtime stage installs %s" % " ".join(packages))
check(pk and "--no-install-recommends" in pk.group(0), "Dockerfile: runtime apt-get install uses --no-install-recommends")
check("rm -rf /var/lib/apt/lists" in rt_runs, "Dockerfile: runtime stage removes the apt lists")

copies = []
for w, a in rt:
    if w == "COPY" and "--from=build" in a:
        parts = [p for p in a.split() if not p.startswith("--")]
        copies.append((parts[:-1], parts[-1]))
progs = ["cachefleet-" + n for n in CONSUMERS] + ["cachefleet-sim", "cachefleet-audit"]
bin_copies = {os.path.basename(s): d for srcs, d in copies for s in srcs if "/bin/" in s}
for p in progs:
    check(bin_copies.get(p, "").rstrip("/") == "/usr/local/bin",
          "Dockerfile: copies %s from the staging prefix to /usr/local/bin" % p)
extra = sorted(set(bin_copies) - set(progs))
check(not extra, "Dockerfile: copies no other program", " ".join(extra))
schema_copy = [(s, d) for srcs, d in copies for s in srcs if "schemas" in s]
check(schema_copy and schema_copy[0][1].rstrip("/") == "/usr/share/cachefleet/schemas",
      "Dockerfile: copies the schemas to /usr/share/cachefleet/schemas")
copy_sources = [s for srcs, d in copies for s in srcs]
if staging:
    bad = [s for s in copy_sources if not s.startswith(staging.rstrip("/") + "/")]
    check(not bad, "Dockerfile: the runtime stage copies only from the staging prefix %s" % staging, " ".join(bad))

env = {}
for w, a in rt:
    if w == "ENV":
        for tok in shlex.split(a):
            k, _, v = tok.partition("=")
            env[k] = v
check(env.get("CACHEFLEET_SCHEMAS_DIR") == "/usr/share/cachefleet/schemas",
      "Dockerfile: ENV CACHEFLEET_SCHEMAS_DIR=/usr/share/cachefleet/schemas")
check(env.get("CACHEFLEET_HTTP_PORT") == "9100" and env.get("CACHEFLEET_HTTP_BIND") == "0.0.0.0",
      "Dockerfile: ENV CACHEFLEET_HTTP_PORT=9100 CACHEFLEET_HTTP_BIND=0.0.0.0")
secretish = [w + " " + a for (w, a, st) in ins if w in ("ENV", "ARG")
             and re.search(r"(?i)(password|secret|token|_key)(?!_file)", a)]
check(not secretish, "Dockerfile: no secret in ENV or ARG", "; ".join(secretish))
check(not re.search(r"docker/secrets", "\n".join(a for (w, a, st) in ins if w in ("COPY", "ADD"))),
      "Dockerfile: copies nothing from docker/secrets")
expose = [a for w, a in rt if w == "EXPOSE"]
check(any("9100" in e.split() or "9100/tcp" in e.split() for e in expose), "Dockerfile: EXPOSE 9100")
user = [a for w, a in rt if w == "USER"]
um = re.fullmatch(r"(\d+)(?::(\d+))?", user[-1]) if user else None
check(um and int(um.group(1)) != 0 and (um.group(2) is None or int(um.group(2)) != 0),
      "Dockerfile: USER %s is numeric and not root (runAsNonRoot can verify it)" % (user[-1] if user else "-"))
if um:
    check(re.search(r"useradd\b[^&;]*--uid\s+%s\b" % um.group(1), rt_runs),
          "Dockerfile: the user %s exists in /etc/passwd (useradd)" % um.group(1))
check(not any(w == "ENTRYPOINT" for w, a in rt), "Dockerfile: no ENTRYPOINT (compose and Kubernetes name the program)")
hc = [a for w, a in rt if w == "HEALTHCHECK"]
hc_argv = None
if hc:
    hm = re.search(r"\bCMD\s+(\[.*\])\s*$", hc[-1])
    try:
        hc_argv = json.loads(hm.group(1)) if hm else None
    except ValueError:
        hc_argv = None
    check(hc_argv and "/healthz" in " ".join(hc_argv),
          "Dockerfile: HEALTHCHECK in exec form asks /healthz", hc[-1])
else:
    fail("Dockerfile: no HEALTHCHECK instruction (HEALTHCHECK NONE with a reason would do too)")

di = os.path.join(root, ".dockerignore")
if check(os.path.exists(di), ".dockerignore exists"):
    pats = [l.strip().rstrip("/") for l in open(di, encoding="utf-8") if l.strip() and not l.startswith("#")]
    for p in ("build", "build-*", "docker/secrets"):
        check(p in pats, ".dockerignore keeps %s/ out of the build context" % p)

facts.update(packages=packages, staging=staging or "", copy_sources=copy_sources,
             hc_argv=hc_argv or [], image_env=env, user=user[-1] if user else "")

# -- compose.yaml -----------------------------------------------------------
compose_path = os.path.join(root, "docker", "compose.yaml")
compose = (docs_by_file.get(compose_path) or [None])[0]
if not isinstance(compose, dict):
    fail("docker/compose.yaml: missing or not a mapping")
    compose = {}
svcs = compose.get("services") or {}
need = ["kafka", "kafka-init", "redis"] + CONSUMERS + ["sim"]
missing = [s for s in need if s not in svcs]
check(not missing, "compose: services %s" % " ".join(need), "missing " + " ".join(missing))

def envmap(svc):
    e = svc.get("environment") or {}
    if isinstance(e, list):
        e = dict(x.split("=", 1) if "=" in x else (x, None) for x in e)
    return e

for name, svc in svcs.items():
    e = svc.get("environment") or {}
    vals = e.values() if isinstance(e, dict) else []
    check(all(isinstance(v, str) for v in vals),
          "compose %s: every environment value is a string" % name,
          " ".join(k for k, v in e.items() if not isinstance(v, str)) if isinstance(e, dict) else "")
    for p in svc.get("ports") or []:
        check(isinstance(p, str) and p.startswith("127.0.0.1:"),
              "compose %s: port %s is published on 127.0.0.1 only" % (name, p))

def dep(svc, other):
    d = svc.get("depends_on") or {}
    return d.get(other, {}).get("condition") if isinstance(d, dict) else None

k = svcs.get("kafka", {})
ke = envmap(k)
check(str(k.get("image", "")).startswith("apache/kafka:"), "compose kafka: the official apache/kafka image (%s)" % k.get("image"))
roles = set(str(ke.get("KAFKA_PROCESS_ROLES", "")).split(","))
check(roles == {"broker", "controller"}, "compose kafka: KRaft, process roles broker,controller")
node = str(ke.get("KAFKA_NODE_ID", ""))
check(node and str(ke.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "")).startswith(node + "@kafka:"),
      "compose kafka: node id %s is the one controller quorum voter" % node)
check("PLAINTEXT://kafka:9092" in str(ke.get("KAFKA_ADVERTISED_LISTENERS", "")),
      "compose kafka: advertises kafka:9092 to the other containers")
check(k.get("healthcheck"), "compose kafka: has a healthcheck")

ki = svcs.get("kafka-init", {})
kcmd = " ".join(ki.get("command") if isinstance(ki.get("command"), list) else [str(ki.get("command", ""))])
check(ki.get("image") == k.get("image"), "compose kafka-init: kafka-topics.sh from the same image")
check(dep(ki, "kafka") == "service_healthy", "compose kafka-init: waits for kafka to be healthy")
check("kafka-topics.sh" in kcmd and "--partitions" in kcmd and all("shop." + n in kcmd for n in CONSUMERS)
      and ".dlq" in kcmd, "compose kafka-init: creates shop.{%s} and their .dlq topics" % ",".join(CONSUMERS))
check(str(ki.get("restart", "no")) == "no", "compose kafka-init: one shot (restart: no)")

r = svcs.get("redis", {})
check(re.fullmatch(r"redis:7([.-].*)?", str(r.get("image", ""))), "compose redis: image %s (Redis 7)" % r.get("image"))
vols = [str(v) for v in r.get("volumes") or []]
check(any(v.startswith("./redis-acl.conf:") for v in vols), "compose redis: mounts ./redis-acl.conf")
check("redis_password" in (r.get("secrets") or []), "compose redis: gets the redis_password secret")
rcmd = " ".join(r.get("command") if isinstance(r.get("command"), list) else [str(r.get("command", ""))])
check("--aclfile" in rcmd and "user cachefleet" in rcmd.replace('"cachefleet"', "cachefleet") or
      ("--aclfile" in rcmd and '"cachefleet"' in rcmd), "compose redis: starts with the ACL file, the fleet user's password from the secret")
check(r.get("healthcheck"), "compose redis: has a healthcheck")
acl = os.path.join(root, "docker", "redis-acl.conf")
if os.path.exists(acl):
    lines = [l.split() for l in open(acl, encoding="utf-8")]
    check(any(len(l) >= 2 and l[0] == "user" and l[1] == "cachefleet" for l in lines),
          "docker/redis-acl.conf: has the `user cachefleet ...` line compose adds the password to")
else:
    note("docker/redis-acl.conf is not there yet (written in another change); compose mounts it")

image = None
for n in CONSUMERS:
    s = svcs.get(n, {})
    e = envmap(s)
    b = s.get("build") or {}
    check(b.get("context") == ".." and b.get("dockerfile") == "docker/Dockerfile",
          "compose %s: built from docker/Dockerfile with the repository root as context" % n)
    image = image or s.get("image")
    check(s.get("image") == image, "compose %s: the one image %s" % (n, image))
    cmd = s.get("command") or []
    check(isinstance(cmd, list) and cmd[:1] == ["cachefleet-" + n], "compose %s: runs cachefleet-%s" % (n, n))
    check(e.get("CACHEFLEET_KAFKA_BROKERS") == "kafka:9092" and e.get("CACHEFLEET_REDIS_HOST") == "redis"
          and e.get("CACHEFLEET_REDIS_USER") == "cachefleet"
          and e.get("CACHEFLEET_REDIS_PASSWORD_FILE") == "/run/secrets/redis_password",
          "compose %s: brokers kafka:9092, redis host redis, user cachefleet, password from /run/secrets/redis_password" % n)
    check(e.get("CACHEFLEET_KAFKA_TOPIC", "shop." + n) == "shop." + n, "compose %s: topic shop.%s" % (n, n))
    plain = [x for x in e if re.search(r"PASSWORD$|SECRET", x)]
    check(not plain, "compose %s: no password in the environment" % n, " ".join(plain))
    check(e.get("CACHEFLEET_HTTP_PORT"), "compose %s: sets the http port" % n)
    check("redis_password" in (s.get("secrets") or []), "compose %s: gets the redis_password secret" % n)
    check(dep(s, "kafka-init") == "service_completed_successfully" and dep(s, "redis") == "service_healthy",
          "compose %s: depends on kafka-init (completed) and redis (healthy)" % n)
    check(s.get("restart") in ("always", "unless-stopped", "on-failure"), "compose %s: restart %s" % (n, s.get("restart")))
    check(not s.get("profiles"), "compose %s: in the default profile" % n)
    check(s.get("read_only") is True and s.get("cap_drop") == ["ALL"],
          "compose %s: read-only root filesystem, no capabilities" % n)
sim = svcs.get("sim", {})
scmd = sim.get("command") or []
check(sim.get("profiles") == ["sim"], "compose sim: only in the sim profile")
check(sim.get("image") == image, "compose sim: the same image")
check(scmd[:1] == ["cachefleet-sim"] and "--brokers" in scmd and scmd[scmd.index("--brokers") + 1] == "kafka:9092",
      "compose sim: cachefleet-sim --brokers kafka:9092")
rate = scmd[scmd.index("--rate") + 1] if "--rate" in scmd else None
check(rate and rate.isdigit() and 0 < int(rate) <= 500, "compose sim: a modest rate (%s events/s)" % rate)
check("--topics" not in scmd, "compose sim: plays all five topics")
sec = (compose.get("secrets") or {}).get("redis_password") or {}
check(sec.get("file") == "./secrets/redis_password", "compose: secret redis_password from ./secrets/redis_password")
check(os.path.exists(os.path.join(root, "docker", "secrets", "redis_password.example")),
      "docker/secrets/redis_password.example exists")
try:
    tracked = subprocess.run(["git", "-C", root, "ls-files", "docker/secrets"], capture_output=True, text=True).stdout.split()
    bad = [t for t in tracked if not t.endswith(".example")]
    check(not bad, "git: docker/secrets/ tracks only *.example files", " ".join(bad))
except OSError:
    note("git not found: not checked that docker/secrets/ tracks only examples")

# -- Kubernetes -------------------------------------------------------------
kdir = os.path.join(root, "docker", "k8s")
kust_path = os.path.join(kdir, "kustomization.yaml")
kust = (docs_by_file.get(kust_path) or [{}])[0]
resources = kust.get("resources") or []
for f in resources:
    check(os.path.exists(os.path.join(kdir, f)), "k8s: kustomization resource %s exists" % f)
for path in sorted(p for p in docs_by_file if p.startswith(kdir + os.sep)):
    b = os.path.basename(path)
    if b == "kustomization.yaml":
        continue
    if ".template." in b:
        check(b not in resources, "k8s: %s is a template, not applied by kustomization.yaml" % b)
    else:
        check(b in resources, "k8s: %s is listed in kustomization.yaml" % b)

for path, docs in docs_by_file.items():
    if os.path.basename(path) == "secret.template.yaml":
        for d in docs:
            vals = list((d.get("stringData") or {}).values()) + list((d.get("data") or {}).values())
            check(d.get("kind") == "Secret" and all(v in ("", None) for v in vals),
                  "k8s: secret.template.yaml holds no value")

# The partition counts: the patches of kustomization.yaml.
partitions = {}
for p in kust.get("patches") or []:
    t = p.get("target") or {}
    if t.get("kind") != "ScaledObject":
        continue
    ops = yaml.safe_load(p.get("patch") or "[]") or []
    for op in ops:
        if op.get("path") == "/spec/maxReplicaCount" and op.get("op") in ("add", "replace"):
            if t.get("name") in partitions:
                fail("k8s: two partition counts for %s in kustomization.yaml" % t.get("name"))
            partitions[t.get("name")] = op.get("value")
for n in CONSUMERS:
    v = partitions.get("cachefleet-" + n)
    check(isinstance(v, int) and not isinstance(v, bool) and v >= 1,
          "k8s: kustomization.yaml sets the partition count of shop.%s (%s)" % (n, v))

def own_objects():
    objs = []
    for f in resources:
        for d in docs_by_file.get(os.path.join(kdir, f), []):
            d = json.loads(json.dumps(d))
            if kust.get("namespace") and d.get("kind") != "Namespace":
                d.setdefault("metadata", {})["namespace"] = kust["namespace"]
            if d.get("kind") == "ScaledObject":
                name = d["metadata"]["name"]
                check("maxReplicaCount" not in d.get("spec", {}),
                      "k8s: the ScaledObject %s leaves maxReplicaCount to kustomization.yaml (one place)" % name)
                if name in partitions:
                    d["spec"]["maxReplicaCount"] = partitions[name]
            objs.append(d)
    return objs

def check_objects(objs, how):
    by = {}
    for o in objs:
        by[(o.get("kind"), (o.get("metadata") or {}).get("name"))] = o
    P = "k8s (%s): " % how
    ns = [o for o in objs if o.get("kind") == "Namespace"]
    check(ns and all((o.get("metadata") or {}).get("namespace") == ns[0]["metadata"]["name"]
                     for o in objs if o.get("kind") != "Namespace"),
          P + "one Namespace, every object in it")
    cm = by.get(("ConfigMap", "cachefleet"), {})
    data = cm.get("data") or {}
    check(cm and all(isinstance(v, str) for v in data.values()), P + "ConfigMap cachefleet, every value a string")
    check(not [x for x in data if re.search(r"PASSWORD$", x)], P + "ConfigMap: no password, only *_FILE paths")
    port = data.get("CACHEFLEET_HTTP_PORT", facts["image_env"].get("CACHEFLEET_HTTP_PORT"))
    brokers = data.get("CACHEFLEET_KAFKA_BROKERS")
    reset = data.get("CACHEFLEET_KAFKA_AUTO_OFFSET_RESET", "earliest")
    pwfile = data.get("CACHEFLEET_REDIS_PASSWORD_FILE", "")
    stop_s = int(data.get("CACHEFLEET_SHUTDOWN_TIMEOUT_MS", "10000")) / 1000.0
    check(port == "9100" and brokers and pwfile, P + "ConfigMap: http port %s, brokers %s, password file %s" % (port, brokers, pwfile))
    for n in CONSUMERS:
        name = "cachefleet-" + n
        D = P + "Deployment %s: " % name
        dep_ = by.get(("Deployment", name))
        if not check(dep_, D + "exists"):
            continue
        spec = dep_.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        cs = pod.get("containers") or []
        check(len(cs) == 1, D + "one container")
        c = cs[0] if cs else {}
        check("replicas" not in spec, D + "no replicas (KEDA's HPA owns the count)")
        check(c.get("command") == [name] or c.get("args") == [name], D + "runs %s" % name)
        check(str(c.get("image", "")).split(":")[0].split("/")[-1] == "cachefleet", D + "image %s" % c.get("image"))
        env = {e["name"]: e.get("value") for e in c.get("env") or []}
        topic = env.get("CACHEFLEET_KAFKA_TOPIC", "shop." + n)
        group = env.get("CACHEFLEET_KAFKA_GROUP_ID", name)
        check(topic == "shop." + n and group == name, D + "topic %s, group %s" % (topic, group))
        check(any((r.get("configMapRef") or {}).get("name") == "cachefleet" for r in c.get("envFrom") or []),
              D + "environment from the ConfigMap")
        check(not [x for x in env if re.search(r"PASSWORD$", x)], D + "no password in the environment")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
        check(str(ports.get("metrics")) == str(port), D + "container port metrics = %s" % port)
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            g = (c.get(probe) or {}).get("httpGet") or {}
            pp = g.get("port")
            resolved = ports.get(pp) if isinstance(pp, str) else pp
            check(g.get("path") == path and str(resolved) == str(port),
                  D + "%s GET %s on the metrics port" % (probe, path), "%s" % g)
        psc = pod.get("securityContext") or {}
        csc = c.get("securityContext") or {}
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        check((psc.get("runAsNonRoot") or csc.get("runAsNonRoot")) is True and uid not in (None, 0),
              D + "runAsNonRoot, runAsUser %s" % uid)
        check(csc.get("readOnlyRootFilesystem") is True, D + "readOnlyRootFilesystem")
        check(csc.get("allowPrivilegeEscalation") is False, D + "allowPrivilegeEscalation false")
        check((csc.get("capabilities") or {}).get("drop") == ["ALL"], D + "drops ALL capabilities")
        check(((psc.get("seccompProfile") or csc.get("seccompProfile") or {}).get("type")) == "RuntimeDefault",
              D + "seccomp RuntimeDefault")
        check(pod.get("enableServiceLinks") is False,
              D + "enableServiceLinks false (a Service named cachefleet-redis would set CACHEFLEET_REDIS_PORT=tcp://...)")
        res = c.get("resources") or {}
        want = {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
        got = {k: {kk: str(vv) for kk, vv in (res.get(k) or {}).items()} for k in ("requests", "limits")}
        check(got == want, D + "resources requests cpu 250m memory 64Mi, limits cpu 1 memory 256Mi", str(got))
        grace = pod.get("terminationGracePeriodSeconds")
        if isinstance(grace, int):
            facts["grace"] = min(grace, facts.get("grace", grace))
        check(grace == 30 and grace > stop_s, D + "terminationGracePeriodSeconds 30 (> shutdown timeout %gs)" % stop_s)
        ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        check(str(ru.get("maxSurge")) == "0", D + "rolling update without surge (a surge pod could hold no partition)")
        mounts = {m.get("name"): m.get("mountPath") for m in c.get("volumeMounts") or []}
        okmount = False
        for v in pod.get("volumes") or []:
            s = v.get("secret")
            if s and mounts.get(v.get("name")):
                items = {i.get("path") for i in s.get("items") or []}
                if os.path.join(mounts[v["name"]], os.path.basename(pwfile)) == pwfile and os.path.basename(pwfile) in items:
                    okmount = s.get("defaultMode") == 0o440 and psc.get("fsGroup") == psc.get("runAsGroup")
        check(okmount, D + "the Redis password file is a Secret volume item (0440, group = fsGroup) at %s" % pwfile)
        ann = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
        svc = by.get(("Service", name + "-metrics"), {})
        sspec = svc.get("spec") or {}
        sel = sspec.get("selector") or {}
        check(svc and sel and all(labels.get(k2) == v2 for k2, v2 in sel.items())
              and any(p.get("name") == "metrics" and p.get("targetPort") in ("metrics", int(port)) for p in sspec.get("ports") or [])
              and ann.get("prometheus.io/port") == str(port),
              P + "Service %s-metrics selects the pods, port metrics; scrape annotations on port %s" % (name, port))
        so = by.get(("ScaledObject", name))
        S = P + "ScaledObject %s: " % name
        if not check(so, S + "exists"):
            continue
        ss = so.get("spec") or {}
        check((ss.get("scaleTargetRef") or {}).get("name") == name, S + "scales Deployment %s" % name)
        check(ss.get("minReplicaCount") == 1, S + "minReplicaCount 1")
        check(ss.get("maxReplicaCount") == partitions.get(name) and ss.get("maxReplicaCount"),
              S + "maxReplicaCount %s = partitions of shop.%s (%s)" % (ss.get("maxReplicaCount"), n, partitions.get(name)))
        tr = ss.get("triggers") or []
        check(len(tr) == 1 and tr[0].get("type") == "kafka", S + "one trigger, type kafka")
        md = (tr[0].get("metadata") or {}) if tr else {}
        check(md and all(isinstance(v, str) for v in md.values()), S + "trigger metadata values are strings (KEDA's schema)")
        check(md.get("bootstrapServers") == brokers, S + "bootstrapServers = CACHEFLEET_KAFKA_BROKERS (%s)" % md.get("bootstrapServers"))
        check(md.get("consumerGroup") == group and md.get("topic") == topic,
              S + "consumerGroup %s, topic %s = the Deployment's" % (md.get("consumerGroup"), md.get("topic")))
        lt = md.get("lagThreshold", "")
        check(lt.isdigit() and int(lt) > 0, S + "lagThreshold %s" % lt)
        check(md.get("offsetResetPolicy") == "earliest" == reset, S + "offsetResetPolicy earliest = CACHEFLEET_KAFKA_AUTO_OFFSET_RESET")
        check(md.get("allowIdleConsumers") == "false", S + "allowIdleConsumers false")
    kinds = sorted({o.get("kind") for o in objs})
    note(P + "%d objects: %s" % (len(objs), ", ".join(kinds)))

if resources:
    check_objects(own_objects(), "files + kustomization patches")
if rendered:
    with open(rendered, encoding="utf-8") as f:
        check_objects([d for d in yaml.safe_load_all(f) if d], "kubectl kustomize")
else:
    note("kubectl not installed: the manifests were checked as files, not rendered by kustomize")

# compose's Redis start script and healthcheck, for (e): with compose's `$$`
# unescaped, and the container paths made placeholders the shell part fills.
rs = r.get("command") if isinstance(r.get("command"), list) else []
rh = ((r.get("healthcheck") or {}).get("test")) or []
if len(rs) == 1 and len(rh) == 2 and rh[0] == "CMD-SHELL":
    def unc(t):
        return (t.replace("$$", "$").replace("/run/secrets/redis_password", "@SECRET@")
                 .replace("/etc/cachefleet/redis-acl.conf", "@ACL@").replace("/run/cachefleet", "@RUN@"))
    with open(os.path.join(os.path.dirname(facts_path), "redis-start.sh"), "w", encoding="utf-8") as f:
        f.write(unc(rs[0]))
    with open(os.path.join(os.path.dirname(facts_path), "redis-health.sh"), "w", encoding="utf-8") as f:
        f.write(unc(rh[1]) + "\n")
else:
    fail("compose redis: expected one command string (sh -ec) and a CMD-SHELL healthcheck")

with open(facts_path, "w", encoding="utf-8") as f:
    def arr(name, vals):
        f.write("%s=(%s)\n" % (name, " ".join(shlex.quote(str(v)) for v in vals)))
    arr("RUNTIME_PACKAGES", facts["packages"])
    arr("HEALTHCHECK_ARGV", facts["hc_argv"])
    arr("COPY_SOURCES", facts["copy_sources"])
    f.write("STAGING=%s\n" % shlex.quote(facts["staging"]))
    f.write("GRACE_S=%d\n" % facts.get("grace", 30))
    arr("IMAGE_ENV", ["%s=%s" % kv for kv in sorted(facts["image_env"].items())])
sys.exit(min(fails, 100))
PY
FAILS=$((FAILS + $?))
if [ ! -f "$WORK/facts.sh" ]; then
    fail "the static checks did not finish; nothing more to check"
    exit 1
fi
# shellcheck source=/dev/null
. "$WORK/facts.sh"

############################################################################
# (c) the installed layout, run by an unprivileged user
############################################################################
if [ ! -x "$BUILD/cachefleet-products" ] && [ ! -f "$BUILD/CMakeCache.txt" ]; then
    fail "no build in $BUILD (build first, e.g. tools/test.sh, or pass --build DIR)"
    exit 1
fi
PREFIX=$WORK/prefix
if "$CMAKE" --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1; then
    ok "cmake --install $(basename "$BUILD") --prefix <tmp> ($(grep -c 'Installing:' "$WORK/install.log") files)"
else
    fail "cmake --install $BUILD failed (is the build complete?): $(grep -A 2 -m 1 "Error" "$WORK/install.log" || tail -n 3 "$WORK/install.log")"
    exit 1
fi
chmod 0755 "$WORK"
# Every path the runtime stage copies from the staging prefix is installed.
for src in "${COPY_SOURCES[@]}"; do
    p=$PREFIX/${src#"${STAGING%/}"/}
    if [ -e "$p" ]; then ok "installed ${src#"${STAGING%/}"/} (the image copies $src)"; else fail "not installed: ${src#"${STAGING%/}"/} (the Dockerfile copies $src)"; fi
done
SCHEMAS=$PREFIX/share/cachefleet/schemas
n_schemas=$(find "$SCHEMAS" -name '*.avsc' 2>/dev/null | wc -l)
[ "$n_schemas" -gt 0 ] && ok "installed $n_schemas schemas in share/cachefleet/schemas" || fail "no .avsc under share/cachefleet/schemas"

if [ "$(id -u)" -eq 0 ]; then
    if command -v setpriv >/dev/null; then
        RUNAS=(setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all --)
    else
        RUNAS=(runuser -u nobody --)
    fi
    WHO="uid 65534 (${RUNAS[0]})"
else
    RUNAS=()
    WHO="uid $(id -u) (the caller, not root)"
fi
# What the programs see of the image: its ENV, schemas in the prefix, and the
# Redis password in a file as Kubernetes mounts it (root-owned, group of the
# pod's fsGroup, mode 0440).
BASE_ENV=(PATH=/usr/bin:/bin HOME=/nonexistent)
for kv in "${IMAGE_ENV[@]}"; do BASE_ENV+=("$kv"); done
BASE_ENV+=("CACHEFLEET_SCHEMAS_DIR=$SCHEMAS" CACHEFLEET_REDIS_USER=cachefleet)
[ -n "${ASAN_OPTIONS:-}" ] && BASE_ENV+=("ASAN_OPTIONS=$ASAN_OPTIONS")
[ -n "${UBSAN_OPTIONS:-}" ] && BASE_ENV+=("UBSAN_OPTIONS=$UBSAN_OPTIONS")
mkdir -p "$WORK/secrets"
chmod 0755 "$WORK/secrets"
PWFILE=$WORK/secrets/redis_password
PW="validate-docker-$$-$RANDOM"
printf '%s\n' "$PW" >"$PWFILE"
if [ "$(id -u)" -eq 0 ]; then chgrp 65534 "$PWFILE" && chmod 0440 "$PWFILE"; else chmod 0400 "$PWFILE"; fi

# Runs "$@" from / with only BASE_ENV (and any VAR=value first in "$@").
run_as() { env -i -C / "${BASE_ENV[@]}" "$@"; }

for n in "${CONSUMERS[@]}"; do
    out=$(run_as "CACHEFLEET_REDIS_PASSWORD_FILE=$PWFILE" "${RUNAS[@]}" "$PREFIX/bin/cachefleet-$n" --check-config 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && grep -q '^redis.password = (set);' <<<"$out" && grep -qF "schemas.dir = \"$SCHEMAS\";" <<<"$out"; then
        ok "cachefleet-$n --check-config as $WHO from the installed layout: exit 0, schemas and password file read"
    else
        fail "cachefleet-$n --check-config as $WHO: exit $rc: $(tail -n 3 <<<"$out")"
    fi
    if grep -qF "$PW" <<<"$out"; then fail "cachefleet-$n --check-config printed the password"; fi
done
out=$(run_as "${RUNAS[@]}" "$PREFIX/bin/cachefleet-sim" --help 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q 'Usage: cachefleet-sim' <<<"$out"; then
    ok "cachefleet-sim --help as $WHO from the installed layout: exit 0 (it has no --check-config)"
else
    fail "cachefleet-sim --help as $WHO: exit $rc"
fi
if [ "$(id -u)" -eq 0 ]; then
    # The negative: a secret the user cannot read stops start-up, naming it.
    cp -p "$PWFILE" "$WORK/secrets/root_only" && chgrp 0 "$WORK/secrets/root_only" && chmod 0400 "$WORK/secrets/root_only"
    out=$(run_as "CACHEFLEET_REDIS_PASSWORD_FILE=$WORK/secrets/root_only" "${RUNAS[@]}" "$PREFIX/bin/cachefleet-orders" --check-config 2>&1)
    rc=$?
    if [ $rc -ne 0 ] && grep -q 'CACHEFLEET_REDIS_PASSWORD_FILE' <<<"$out"; then
        ok "an unreadable password file (root, 0400) stops start-up (exit $rc, names CACHEFLEET_REDIS_PASSWORD_FILE): hence defaultMode 0440 + fsGroup"
    else
        fail "an unreadable password file did not stop cachefleet-orders (exit $rc)"
    fi
fi

# Each consumer started for real, on loopback, with Kafka and Redis not there.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
http_status() { # port path -> the status code, or nothing
    bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 && printf "GET $2 HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 && IFS=" " read -r -t 3 _ code _ <&3 && echo "$code"' _ "$1" "$2" 2>/dev/null
}
STRACE=()
if [ "$(id -u)" -eq 0 ] && command -v strace >/dev/null && strace -qq -o /dev/null true 2>/dev/null; then
    STRACE=(strace -f -qq -e trace=%file -o)
else
    note "strace not usable here: not checked that the consumers open no file for writing"
fi
for n in "${CONSUMERS[@]}"; do
    hport=$(free_port)
    dead=$(free_port) # nothing listens there: Kafka and Redis refuse
    env_run=("CACHEFLEET_REDIS_PASSWORD_FILE=$PWFILE" "CACHEFLEET_HTTP_PORT=$hport" CACHEFLEET_HTTP_BIND=127.0.0.1
        "CACHEFLEET_KAFKA_BROKERS=127.0.0.1:$dead" CACHEFLEET_REDIS_HOST=127.0.0.1 "CACHEFLEET_REDIS_PORT=$dead"
        CACHEFLEET_KAFKA_SESSION_TIMEOUT_MS=6000)
    trace=()
    if [ ${#STRACE[@]} -gt 0 ]; then
        trace=("${STRACE[@]}" "$WORK/strace-$n.log")
        env_run+=("ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0") # LSan cannot run under ptrace
    fi
    # Not through run_as: a function run in the background is a subshell, and
    # $! would be that subshell, not the program.
    env -i -C / "${BASE_ENV[@]}" "${env_run[@]}" "${trace[@]}" "${RUNAS[@]}" "$PREFIX/bin/cachefleet-$n" >"$WORK/run-$n.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    healthy=
    for _ in $(seq 1 50); do
        if run_as "CACHEFLEET_HTTP_PORT=$hport" "${RUNAS[@]}" "${HEALTHCHECK_ARGV[@]}" >/dev/null 2>&1; then healthy=1; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if [ -n "$healthy" ]; then
        ok "cachefleet-$n runs as $WHO; the Dockerfile's HEALTHCHECK command passes (/healthz 200)"
    else
        fail "cachefleet-$n: the Dockerfile's HEALTHCHECK command never passed: $(tail -n 3 "$WORK/run-$n.log")"
    fi
    r=$(http_status "$hport" /readyz)
    m=$(http_status "$hport" /metrics)
    if [ "$r" = 503 ] && [ "$m" = 200 ]; then
        ok "cachefleet-$n: /readyz 503 while Redis is unreachable (the readiness probe), /metrics 200"
    else
        fail "cachefleet-$n: /readyz answered '$r' (want 503 without Redis), /metrics '$m' (want 200)"
    fi
    # SIGTERM to the program itself: $pid, or under strace the child of strace
    # running it (not one of the short-lived children strace forks at start to
    # probe ptrace).
    target=$pid
    if [ ${#trace[@]} -gt 0 ]; then
        target=
        for c in $(pgrep -P "$pid"); do
            [ "$(readlink "/proc/$c/exe" 2>/dev/null)" = "$PREFIX/bin/cachefleet-$n" ] && target=$c
        done
        [ -n "$target" ] && PIDS+=("$target") || fail "cachefleet-$n: its process under strace was not found"
    fi
    t0=$(date +%s%N)
    [ -n "$target" ] && kill -TERM "$target" 2>/dev/null
    waited=0
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt $((GRACE_S * 10)) ]; do sleep 0.1; waited=$((waited + 1)); done
    if kill -0 "$pid" 2>/dev/null; then
        fail "cachefleet-$n did not exit within ${GRACE_S}s of SIGTERM (terminationGracePeriodSeconds): $(tail -n 2 "$WORK/run-$n.log")"
        # Nothing of this run may outlive it: the program (under strace, the
        # child of strace), then $pid.
        for c in $target $(pgrep -P "$pid"); do kill -KILL "$c" 2>/dev/null; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    else
        wait "$pid"
        rc=$?
        ms=$((($(date +%s%N) - t0) / 1000000))
        if [ $rc -eq 0 ]; then
            ok "cachefleet-$n: SIGTERM -> exit 0 in ${ms} ms (grace period ${GRACE_S}s)"
        else
            fail "cachefleet-$n: SIGTERM -> exit $rc: $(tail -n 3 "$WORK/run-$n.log")"
        fi
    fi
    if run_as "CACHEFLEET_HTTP_PORT=$hport" "${RUNAS[@]}" "${HEALTHCHECK_ARGV[@]}" >/dev/null 2>&1; then
        fail "the HEALTHCHECK command passes with cachefleet-$n stopped: it checks nothing"
    fi
    PIDS=() # all reaped: strace exits only after the program did
    if [ ${#trace[@]} -gt 0 ]; then
        # Any attempt counts, failed or not: on a read-only root it would fail.
        writes=$(grep -E '^[0-9]+ +((open|openat|openat2)\(.*(O_WRONLY|O_RDWR|O_CREAT|O_TRUNC)|(creat|mkdir|mkdirat|mknod|mknodat|unlink|unlinkat|rmdir|rename|renameat|renameat2|link|linkat|symlink|symlinkat|chmod|fchmodat|chown|lchown|fchownat|truncate|utimensat)\()' "$WORK/strace-$n.log" |
            grep -v -E '"/dev/(null|tty|u?random)"' | head -n 3)
        if [ -z "$writes" ]; then
            ok "cachefleet-$n opened no file for writing (strace): a read-only root filesystem suffices"
        else
            fail "cachefleet-$n writes to the filesystem (readOnlyRootFilesystem would break it): $writes"
        fi
    fi
done

############################################################################
# (e) compose's Redis: its start script and healthcheck, with the ACL file
############################################################################
# The script of the redis service runs as it is, with Debian's redis-server
# in place of the image's entrypoint (whose part is to drop to the redis user:
# the chown for it is skipped here), on a free loopback port. Then a consumer
# logs in as cachefleet with the secret file and loads the function library:
# its /readyz then blames Kafka, not Redis; with a wrong password, Redis.
REDIS_PID=
redis_stop() {
    if [ -n "$REDIS_PID" ]; then
        kill -TERM "$REDIS_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
        REDIS_PID=
    fi
}
trap 'redis_stop; cleanup' EXIT
if [ ! -f "$WORK/redis-start.sh" ]; then
    fail "compose redis: no start script to run"
elif ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    fail "redis-server and redis-cli are needed (Debian package redis-server, in tools/deps.sh)"
elif [ ! -f "$ROOT/docker/redis-acl.conf" ]; then
    note "docker/redis-acl.conf absent: compose's Redis start was not run"
else
    R=$WORK/redis
    mkdir -p "$R/run" "$R/data"
    rport=$(free_port)
    fill() { # the placeholders, and the entrypoint replaced
        sed -e "s|@SECRET@|$R/secret|g" -e "s|@ACL@|$ROOT/docker/redis-acl.conf|g" -e "s|@RUN@|$R/run|g" \
            -e 's|^\( *\)chown redis:redis|\1: chown redis:redis|' \
            -e "s|exec docker-entrypoint.sh redis-server|exec redis-server --port $rport --bind 127.0.0.1 --dir $R/data --save '' --appendonly no|" \
            -e "s|redis-cli |redis-cli -p $rport |" "$1"
    }
    fill "$WORK/redis-start.sh" >"$R/start.sh"
    fill "$WORK/redis-health.sh" >"$R/health.sh"
    # The example secret is refused.
    cp "$ROOT/docker/secrets/redis_password.example" "$R/secret"
    if timeout 10 sh -ec "$(cat "$R/start.sh")" >"$R/refuse.log" 2>&1; then
        fail "compose redis: started with the example password CHANGE-ME"
    else
        ok "compose redis: refuses to start with the example secret ($(head -n 1 "$R/refuse.log"))"
    fi
    RPW="validate-docker-redis-$$-$RANDOM"
    printf '%s\n' "$RPW" >"$R/secret"
    chmod 0444 "$R/secret"
    sh -ec "$(cat "$R/start.sh")" >"$R/redis.log" 2>&1 &
    REDIS_PID=$!
    healthy=
    for _ in $(seq 1 50); do
        if sh -c "$(cat "$R/health.sh")" >/dev/null 2>&1; then healthy=1; break; fi
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -n "$healthy" ]; then
        ok "compose redis: the start script loads docker/redis-acl.conf with the secret's SHA-256 added; the healthcheck passes (user cachefleet logs in)"
    else
        fail "compose redis: not healthy: $(tail -n 3 "$R/redis.log")"
    fi
    if grep -qF "$RPW" "$R/run/users.acl" 2>/dev/null; then
        fail "compose redis: the generated ACL file holds the password in clear"
    elif grep -q '^user cachefleet .* #[0-9a-f]\{64\}$' "$R/run/users.acl" 2>/dev/null; then
        ok "compose redis: the generated ACL file holds the password's hash only (#<sha256>)"
    else
        fail "compose redis: no #<sha256> on the user cachefleet line of the generated ACL file"
    fi
    # The default user is locked out (by the ACL file).
    if redis-cli -p "$rport" ping 2>&1 | grep -q PONG; then
        fail "compose redis: the default user answers without a password"
    else
        ok "compose redis: the default user gets nothing without logging in"
    fi
    # A consumer, as the fleet user, through the secret file.
    readyz_text() { # port -> the body of /readyz
        bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 && printf "GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 && timeout 3 cat <&3' _ "$1" 2>/dev/null | tail -n 1
    }
    for case in good wrong; do
        pwf=$R/secret
        if [ $case = wrong ]; then pwf=$WORK/secrets/redis_password; fi # another password
        hport=$(free_port)
        dead=$(free_port)
        env -i -C / "${BASE_ENV[@]}" "CACHEFLEET_REDIS_PASSWORD_FILE=$pwf" CACHEFLEET_REDIS_HOST=127.0.0.1 \
            "CACHEFLEET_REDIS_PORT=$rport" "CACHEFLEET_KAFKA_BROKERS=127.0.0.1:$dead" \
            "CACHEFLEET_HTTP_PORT=$hport" CACHEFLEET_HTTP_BIND=127.0.0.1 \
            "${RUNAS[@]}" "$PREFIX/bin/cachefleet-products" >"$R/consumer-$case.log" 2>&1 &
        cpid=$!
        PIDS+=("$cpid")
        body=
        for _ in $(seq 1 50); do
            body=$(readyz_text "$hport")
            case $case/$body in good/*"no partition"*) break ;; wrong/*redis*) break ;; esac
            sleep 0.2
        done
        kill -TERM "$cpid" 2>/dev/null
        wait "$cpid" 2>/dev/null
        PIDS=()
        if [ $case = good ]; then
            if [[ $body == *"no partition"* ]]; then
                ok "compose redis + cachefleet-products as user cachefleet: logged in, functions loaded (/readyz: $body)"
            else
                fail "cachefleet-products could not use compose's Redis as cachefleet (/readyz: '$body'): $(grep -m 2 -i 'redis' "$R/consumer-$case.log")"
            fi
        elif [[ $body == *redis* ]]; then
            ok "compose redis: a wrong password keeps a consumer out (/readyz: $body)"
        else
            fail "compose redis: a consumer with a wrong password was not kept out (/readyz: '$body')"
        fi
    done
    redis_stop
fi

############################################################################
# (d) libraries: ldd, and their packages
############################################################################
if ! command -v dpkg-query >/dev/null; then
    fail "dpkg-query not found: cannot map libraries to Debian packages"
else
    . /etc/os-release 2>/dev/null
    [ "${VERSION_CODENAME:-}" = bookworm ] || note "this machine is ${PRETTY_NAME:-unknown}, the image is Debian 12 (bookworm): package names may differ"
    : >"$WORK/libs.tsv"
    for p in cachefleet-products cachefleet-carts cachefleet-orders cachefleet-access cachefleet-stock cachefleet-sim cachefleet-audit; do
        bin=$PREFIX/bin/$p
        if ! out=$(ldd "$bin" 2>&1); then fail "ldd $p: $out"; continue; fi
        nf=$(grep -c 'not found' <<<"$out")
        if [ "$nf" -ne 0 ]; then fail "ldd $p: $(grep 'not found' <<<"$out" | tr -s ' \t' ' ')"; else ok "ldd $p: every library resolves ($(grep -c '=> /' <<<"$out") libraries)"; fi
        needed=$(readelf -d "$bin" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
        while read -r soname _ path _; do
            [ -n "$path" ] && [ "${path#/}" != "$path" ] || continue
            direct=0
            case " $needed " in *" $soname "*) direct=1 ;; esac
            pkg=
            for cand in "$path" "/usr$path" "${path#/usr}" "$(readlink -f "$path")" "/usr$(readlink -f "$path")" "$(readlink -f "$path" | sed 's|^/usr||')"; do
                [ -n "$cand" ] || continue
                pkg=$(dpkg-query -S "$cand" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$pkg" ] && break
            done
            printf '%s\t%s\t%s\t%s\t%s\n' "$p" "$soname" "$path" "${pkg:--}" "$direct" >>"$WORK/libs.tsv"
        done < <(grep '=> /' <<<"$out")
    done
    python3 - "$WORK/libs.tsv" "${RUNTIME_PACKAGES[@]}" <<'PY'
import re, subprocess, sys
libs_path, listed = sys.argv[1], sys.argv[2:]
fails = 0
def ok(m): print("validate-docker: ok    " + m)
def fail(m):
    global fails
    fails += 1
    print("validate-docker: FAIL  " + m)

q = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${Essential}\t${Priority}\t${Pre-Depends}\t${Depends}\t${Provides}\t${db:Status-Abbrev}\t${Version}\n"],
                   capture_output=True, text=True).stdout
pk = {}
provides = {}
for line in q.splitlines():
    f = line.split("\t")
    if len(f) < 8 or not f[6].startswith("ii"):
        continue
    pk[f[0]] = f
    for pv in f[5].split(","):
        pv = pv.strip().split(" ")[0]
        if pv:
            provides.setdefault(pv, f[0])

def deps_of(name):
    f = pk.get(name)
    if not f:
        return []
    out = []
    for alt in (f[3] + "," + f[4]).split(","):
        alt = alt.strip()
        if not alt:
            continue
        for choice in alt.split("|"):
            n = re.sub(r"\s*\(.*?\)", "", choice).strip().split(":")[0]
            n = n if n in pk else provides.get(n, "")
            if n:
                out.append(n)
                break
    return out

def closure(seeds):
    seen, todo = set(), list(seeds)
    while todo:
        n = todo.pop()
        if n in seen or n not in pk:
            continue
        seen.add(n)
        todo.extend(deps_of(n))
    return seen

missing = [p for p in listed if p not in pk]
if missing:
    fail("runtime packages not installed here, cannot check them: " + " ".join(missing))
else:
    ok("runtime packages installed here: " + ", ".join("%s %s" % (p, pk[p][7]) for p in listed))
base = closure([n for n, f in pk.items() if f[1] == "yes" or f[2] == "required"])
allowed = closure(listed) | base
rows = [l.rstrip("\n").split("\t") for l in open(libs_path, encoding="utf-8") if l.strip()]
used_direct = set()
for prog, soname, path, pkg, direct in rows:
    if pkg == "-":
        fail("%s: %s (%s) belongs to no Debian package (dpkg -S)" % (prog, soname, path))
    elif pkg not in allowed:
        fail("%s: %s comes from %s, which the runtime stage does not install (nor a dependency, nor the base image)" % (prog, soname, pkg))
    if direct == "1":
        if pkg in listed:
            used_direct.add(pkg)
        elif pkg not in base:
            fail("%s links %s directly, from %s: list that package in the runtime stage" % (prog, soname, pkg))
progs = sorted({r[0] for r in rows})
for prog in progs:
    mine = [r for r in rows if r[0] == prog]
    d = sorted({r[3] for r in mine if r[4] == "1"})
    ok("%s: %d libraries, all from the runtime packages, their dependencies or the base image; linked directly from: %s"
       % (prog, len(mine), ", ".join(d)))
unused = [p for p in listed if p not in used_direct]
if unused:
    fail("the runtime stage installs packages no program links directly: " + " ".join(unused))
else:
    ok("every runtime package provides a library a program links directly (%d packages)" % len(listed))
sys.exit(min(fails, 100))
PY
    FAILS=$((FAILS + $?))
fi

echo
if [ "$FAILS" -eq 0 ]; then
    echo "validate-docker: all checks passed (no Docker engine or cluster was used: see the README, \"Running in containers\")"
    exit 0
fi
echo "validate-docker: FAILED ($FAILS failed check(s), the lines marked FAIL above)"
exit 1
