"""The smoke DAG through workflow/profiles/slurm on a real Slurm cluster.

Run inside the one-node cluster of local_cluster.sh (`make slurm-smoke`):
    workflow/slurm/local_cluster.sh python workflow/slurm/rehearsal.py
It checks, and fails with the reason otherwise, that
  * every row of the zero-shot table is filled (`tcclip table zero_shot --check`);
  * sacct lists every job with the CPUs, memory and time limit Snakemake declared for it,
    and every job was submitted with --nodes=1 (scontrol: NumNodes=1-1);
  * a training preempted by a higher-priority partition, on a cluster that does not requeue
    by default (JobRequeue=0), is requeued by Slurm (the profile's `slurm-requeue`) and
    resumes from its checkpoint within the same call, while the same preemption ends a job
    submitted without --requeue as PREEMPTED (the state the plugin would wait on forever);
  * a training killed with scancel mid-training resumes from its checkpoint when the
    workflow is run again. Plugin 2.8.0 reads its sacct state "CANCELLED by <uid>" as still
    running, so the first call waits on it: once no job is left in Slurm for STUCK_S
    seconds, the rehearsal stops Snakemake (SIGINT) as a user would, and runs it again;
  * a second call of the workflow has nothing to do.
Only the site's sizes are swapped in a copy of the profile (partition, memory, CPUs per
GPU job, and the paper scale's thread counts: the rules' own apply, the embedded scale's):
executor, retries, requeue, nodes and every rule's runtime are the project's. Two epochs per training (smoke: one) so that a checkpoint exists mid-training.
"""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

OUT = Path("results/slurm-smoke")
TARGET = f"{OUT}/tables/zero_shot.md"   # what each Snakemake call of the rehearsal builds
PROFILE = Path("workflow/profiles/slurm/config.yaml")
SMOKE = Path("workflow/config/smoke.yaml")
JOB_MEM_MB = 1500          # per job: this one node has a few GB, the profile asks for 64-128 GB
POLL_S = 0.5
STUCK_S = 30               # the plugin polls every few seconds here: 30 s without a job is a hang


def sh(*cmd: str, check: bool = True) -> str:
    return subprocess.run(cmd, check=check, capture_output=True, text=True).stdout


def workflow_config() -> Path:
    cfg = yaml.safe_load(SMOKE.read_text())
    text = yaml.safe_dump(cfg, sort_keys=False).replace("results/smoke", str(OUT))
    cfg = yaml.safe_load(text)
    cfg["overrides"] = [o for o in cfg["overrides"] if not o.startswith("train.epochs=")] + ["train.epochs=2"]
    path = OUT / "workflow.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def rehearsal_profile() -> Path:
    """The project's profile with this node's sizes; every swapped value is printed."""
    profile = yaml.safe_load(PROFILE.read_text())
    swaps = {"default-resources.slurm_partition": "main", "default-resources.mem_mb": JOB_MEM_MB}
    for rule, res in profile.get("set-resources", {}).items():
        if "mem_mb" in res:
            swaps[f"set-resources.{rule}.mem_mb"] = JOB_MEM_MB
        if "cpus_per_task" in res:   # 32 CPUs per 4-GPU job: here the rule's threads decide
            swaps[f"set-resources.{rule}.cpus_per_task"] = None
    # The paper scale's thread counts (8 per job): the smoke DAG's jobs take the rules' own
    # (set-up jobs two, runs one), as on a local machine.
    swaps["set-threads"] = None
    swaps["slurm-init-seconds-before-status-checks"] = 3   # short jobs: poll sooner than 40 s
    swaps["slurm-keep-successful-logs"] = True
    for dotted, value in swaps.items():
        *parents, key = dotted.split(".")
        node = profile
        for part in parents:
            node = node.setdefault(part, {})
        print(f"profile: {dotted}: {node.get(key)!r} -> {value!r}")
        if value is None:
            node.pop(key, None)
        else:
            node[key] = value
    profile["set-resources"] = {r: v for r, v in profile.get("set-resources", {}).items() if v}
    path = OUT / "profile" / "config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path.parent


def snakemake(profile: Path, config: Path, log: Path) -> subprocess.Popen:
    cmd = ["snakemake", TARGET, "--profile", str(profile), "--configfile", str(config)]
    print("$", " ".join(cmd), f"> {log}", flush=True)
    # A command started with & by a non-interactive shell (a CI script, `make ... &`) inherits
    # SIGINT ignored, and Python then installs no KeyboardInterrupt handler: Snakemake would
    # not hear the Ctrl-C that stop() sends. Restore the default disposition in the child.
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def slurm_jobs(state: str = "") -> dict[str, str]:
    """Slurm job id -> comment (the plugin's `rule_<rule>_wildcards_<run>`) of queued jobs."""
    args = ["squeue", "-h", "-o", "%i|%k"] + (["-t", state] if state else [])
    return dict(line.split("|", 1) for line in sh(*args).splitlines())


def mid_training(run: str) -> bool:
    run_dir = OUT / "runs" / run
    return (run_dir / "checkpoints" / "last.pt").is_file() and not (run_dir / "train.json").exists()


class Interrupter:
    """Preempts the first training seen mid-training, then kills another one with scancel."""

    def __init__(self) -> None:
        self.done: dict[str, str] = {}    # run id -> "scancel" | "preempted"
        self.jobs: dict[str, str] = {}    # run id -> Slurm job id of the preempted training
        self.nodes: dict[str, str] = {}   # pending job id -> NumNodes (--nodes=1 shows as 1-1, none as 1)

    def step(self) -> None:
        for job in slurm_jobs("PENDING"):   # a running job shows its allocation, not its request
            record = sh("scontrol", "show", "job", job)
            # squeue said PENDING, but the job may have started before scontrol read it: a
            # started job's record shows its allocation (NumNodes=1), not its request (CI at
            # 0e40b02: Slurm job 13). Read NumNodes only from a record that is itself pending.
            pending = "JobState=PENDING" in record
            if job not in self.nodes and pending and "Restarts=0" in record:   # a requeued job shows NumNodes=1
                self.nodes[job] = re.search(r"NumNodes=(\S+)", record).group(1)
        running = slurm_jobs("RUNNING")
        for job, comment in running.items():
            match = re.search(r"rule_train_and_evaluate\w*_wildcards_([0-9a-f]{12})", comment)
            run = match.group(1) if match else None
            if run is None or run in self.done or len(self.done) == 2 or not mid_training(run):
                continue
            if not self.done and len(running) == 2:   # node full: every running job is preempted
                sh("sbatch", "--output", f"{OUT}/slurm-%j.out", "-p", "urgent", "-c", "2", "--mem", "100",
                   "-t", "2", "--job-name", "urgent", "--wrap", "sleep 5")
                self.done[run] = "preempted"
                self.jobs[run] = job
            elif self.done:
                sh("scancel", job)
                self.done[run] = "scancel"
            else:
                continue
            print(f"{time.strftime('%X')} {self.done[run]}: run {run} (Slurm job {job}) after epoch 1", flush=True)


def stop(proc: subprocess.Popen, grace_s: int = 90) -> None:
    """Stop a Snakemake that waits on a cancelled job, as a user would: Ctrl-C (its
    KeyboardInterrupt handler scancels the jobs it runs), and where it keeps running, kill it
    and unlock the working directory. Seen twice when the rehearsal ran in the background of a
    non-interactive shell: SIGINT was ignored (see snakemake()), and SIGTERM only made it
    "exit after finishing currently running jobs", the cancelled one included, i.e. never."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=grace_s)
        return
    except subprocess.TimeoutExpired:
        pass
    print(f"{time.strftime('%X')} snakemake still runs {grace_s} s after Ctrl-C (waiting for jobs it "
          "counts as running): killing it, then snakemake --unlock", flush=True)
    proc.kill()
    proc.wait(timeout=60)
    sh("snakemake", TARGET, "--unlock", "--configfile", str(OUT / "workflow.yaml"))


def run_until_stuck(proc: subprocess.Popen, interrupter: Interrupter, watch_hang: bool = True) -> bool:
    """Run the workflow, interrupting two trainings; True if it waits on a job Slurm has ended."""
    idle_since = None
    while proc.poll() is None:
        interrupter.step()
        idle = watch_hang and "scancel" in interrupter.done.values() and not slurm_jobs()
        idle_since = (idle_since or time.time()) if idle else None
        if idle_since and time.time() - idle_since > STUCK_S:
            print(f"{time.strftime('%X')} snakemake still waits {STUCK_S} s after its last Slurm job ended "
                  "(the scancel'd job is 'CANCELLED by <uid>' in sacct): stopping it", flush=True)
            stop(proc)
            return True
        time.sleep(POLL_S)
    return False


def declared_jobs(log: Path) -> dict[str, dict]:
    """Slurm job id -> the rule, threads, mem_mb and runtime Snakemake printed for its job."""
    declared: dict[str, dict] = {}
    by_jobid: dict[str, dict] = {}
    for block in re.split(r"\n(?=\S)", log.read_text()):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        if rule and "jobid:" in block:
            jobid = re.search(r"jobid: (\d+)", block).group(1)
            resources = dict(re.findall(r"(\w+)=([^,\s]+)", re.search(r"resources: (.*)", block).group(1)))
            threads = re.search(r"threads: (\d+)", block)
            by_jobid[jobid] = {"rule": rule.group(1), "threads": int(threads.group(1)) if threads else 1,
                               "mem_mb": int(resources["mem_mb"]), "runtime": int(resources["runtime"]),
                               "nodes": resources.get("nodes")}
    for jobid, slurm_id in re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log.read_text()):
        declared[slurm_id] = by_jobid[jobid]
    return declared


def check_sacct(declared: dict[str, dict], nodes: dict[str, str]) -> None:
    out = sh("sacct", "-X", "--parsable2", "--noheader", "-j", ",".join(declared),
             "-o", "JobIDRaw,State,AllocCPUS,ReqMem,Timelimit,NNodes,Elapsed,Comment")
    print("sacct -X -o JobIDRaw,State,AllocCPUS,ReqMem,Timelimit,NNodes,Elapsed,Comment:\n" + out)
    records = {line.split("|")[0]: line.split("|") for line in out.splitlines()}
    for slurm_id, want in declared.items():
        _, state, cpus, mem, limit, nnodes, _, _ = records[slurm_id]
        minutes = int(limit.split(":")[0]) * 60 + int(limit.split(":")[1]) if "-" not in limit else \
            int(limit.split("-")[0]) * 1440 + int(limit.split("-")[1].split(":")[0]) * 60
        got = {"threads": int(cpus), "mem_mb": int(mem.rstrip("M")), "runtime": minutes}
        wanted = {k: want[k] for k in got}
        assert got == wanted, f"Slurm job {slurm_id} ({want['rule']}): sacct {got}, declared {wanted}"
        assert want["nodes"] == "1", f"Slurm job {slurm_id} ({want['rule']}): nodes={want['nodes']}"
        assert nodes.get(slurm_id, "1-1") == "1-1", f"Slurm job {slurm_id}: NumNodes={nodes[slurm_id]}, not 1-1"
    seen = [job for job in declared if job in nodes]
    assert seen, f"no job of the workflow was seen pending by scontrol: {nodes}"
    print(f"sacct: {len(declared)} jobs with the CPUs, memory and time limit declared, all with nodes=1; "
          f"scontrol NumNodes=1-1 (--nodes=1) for the {len(seen)} seen pending: {', '.join(seen)}")


def check_resumed(interrupted: dict[str, str], jobs: dict[str, str]) -> None:
    assert set(interrupted.values()) == {"scancel", "preempted"}, f"interrupted: {interrupted}"
    for run, how in interrupted.items():
        log = (OUT / "runs" / run / "snakemake_run.log").read_text()
        line = next((l for l in log.splitlines() if "resumed from" in l), None)
        # Slurm's preemption lands some seconds after the interrupter sees epoch 1's checkpoint;
        # a smoke epoch can end first, so the run may resume after epoch 2 (not yet evaluated,
        # no train.json). Either way it resumed from a checkpoint instead of starting over.
        done = re.search(r"([12]) of 2 epochs done", line or "")
        assert done, f"run {run} ({how}) did not resume from a checkpoint:\n{log[-2000:]}"
        print(f"{how}: run {run} {line.split('resumed from', 1)[1].strip()!r}")
    for run, job in jobs.items():   # one record per start: PREEMPTED (requeued), then COMPLETED
        states = sh("sacct", "--duplicates", "-X", "--parsable2", "--noheader", "-j", job, "-o", "State").split()
        assert states[0] == "PREEMPTED" and states[-1] == "COMPLETED", f"Slurm job {job} of run {run}: {states}"
        print(f"Slurm job {job} (run {run}): {' then '.join(states)}")


def preemption_without_requeue() -> str:
    """What the profile's slurm-requeue avoids: a job without --requeue ends PREEMPTED."""
    victim = sh("sbatch", "--output", f"{OUT}/slurm-%j.out", "--parsable", "-c", "2", "--mem", "100",
                "-t", "2", "--wrap", "sleep 60").strip()
    while "RUNNING" not in sh("squeue", "-h", "-j", victim, "-o", "%T"):
        time.sleep(POLL_S)
    sh("sbatch", "--output", f"{OUT}/slurm-%j.out", "--parsable", "-p", "urgent", "-c", "2", "--mem", "100",
       "-t", "1", "--wrap", "sleep 1")
    for _ in range(60):
        state = sh("sacct", "-X", "-n", "-P", "-j", victim, "-o", "State").strip()
        if state not in ("RUNNING", "PENDING", ""):
            break
        time.sleep(POLL_S)
    assert state == "PREEMPTED", f"a preempted job without --requeue ended {state!r}, not PREEMPTED"
    return state


def main() -> int:
    t0 = time.time()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    config, profile = workflow_config(), rehearsal_profile()
    interrupter, logs = Interrupter(), [OUT / "snakemake.log", OUT / "snakemake_again.log"]
    proc = snakemake(profile, config, logs[0])
    try:
        stuck = run_until_stuck(proc, interrupter)
        if not stuck:
            assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{logs[0].read_text()[-3000:]}"
        proc = snakemake(profile, config, logs[1])   # the workflow run again
        run_until_stuck(proc, interrupter, watch_hang=False)
    finally:
        if proc.poll() is None:   # a failed check: no Snakemake may outlive the rehearsal
            stop(proc, grace_s=30)
    assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{logs[1].read_text()[-3000:]}"
    print(f"workflow done in {time.time() - t0:.0f} s")
    subprocess.run(["tcclip", "table", "zero_shot", "--check", "--workflow-config", str(config)], check=True)
    check_sacct({k: v for log in logs for k, v in declared_jobs(log).items()}, interrupter.nodes)
    check_resumed(interrupter.done, interrupter.jobs)
    again = OUT / "snakemake_third.log"
    assert snakemake(profile, config, again).wait() == 0 and "Nothing to be done" in again.read_text(), \
        again.read_text()[-2000:]
    print("third call: nothing to be done")
    print(f"without --requeue, the same preemption ends a job {preemption_without_requeue()}")
    print(f"slurm rehearsal passed in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
