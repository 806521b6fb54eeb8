"""Several machines, on loopback: 2 "machines" x 1 process (two `accelerate launch --num_machines 2 --machine_rank
0|1` commands on this host, gloo over 127.0.0.1) train and evaluate like one process, with one output directory
(a shared disk) and with one per machine (nodes that share no disk: crpo/training/checkpoint.py's policy).

What differs from test_distributed.py's 2 processes on one machine: every process is its node's first (local rank 0),
torchrun's agents meet over TCP, and each machine may write into its own output_dir. What was not run here: real
nodes, NCCL, GPUs (docs/launchers.md).
"""
import json
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import free_port
from test_distributed import CONFIGS, jsonl, max_diff, state

from crpo.parallel.distributed import launch_mismatch

STEPS = 3
# A constant lr after 2 warm-up steps: the schedule of a 2-step run resumed to 3 is the 3-step run's.
SCHEDULE = ["lr_scheduler=constant", "warmup_steps=2", "learning_rate=1e-4"]


def machine(rank: int, port: int, config: str = "ddp") -> list:
    return ["launch", "--config_file", CONFIGS / f"{config}.yaml", "--num_machines", "2", "--num_processes", "2",
            "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
            "-m", "crpo.cli"]


def two_machines(run_crpo, args_of, check=True, config="ddp") -> list:
    """Both machines' commands at once (`args_of(rank)`: the crpo arguments of machine `rank`); their processes."""
    port = free_port()
    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(lambda r: run_crpo([*machine(r, port, config), *args_of(r)], script="accelerate",
                                                 timeout=300, check=False), (0, 1)))
    if check:
        for rank, proc in enumerate(procs):
            assert proc.returncode == 0, f"machine {rank} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    return procs


def files(directory) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def runs(run_crpo, rl_args, tmp_path_factory):
    root = tmp_path_factory.mktemp("multinode")
    args = ["train", *rl_args, *SCHEDULE, "beta=0.04"]
    out = {name: root / name for name in ("single", "shared", "node0", "node1")}
    run_crpo([*args, f"max_steps={STEPS}", f"output_dir={out['single']}"])
    # One output_dir on both machines (a shared disk).
    two_machines(run_crpo, lambda r: [*args, f"max_steps={STEPS}", "save_steps=2", f"output_dir={out['shared']}"])
    # One output_dir per machine (no shared disk), 2 steps; the tests resume it.
    two_machines(run_crpo, lambda r: [*args, "max_steps=2", "save_steps=1", "save_total_limit=1",
                                      f"output_dir={out[f'node{r}']}"])
    out["node0_after_2"] = files(out["node0"])
    out["node1_after_2"] = files(out["node1"])
    return out, args


def assert_trains_like_one_process(run, single, warm_model):
    """test_distributed.py's tolerance: the same lr and rewards at every step, final weights within 1e-5."""
    rows, ref = jsonl(run / "metrics.jsonl"), jsonl(single / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert [r["lr"] for r in rows] == [r["lr"] for r in ref] and ref[0]["lr"] < ref[1]["lr"]  # warm-up restored
    for r, s in zip(rows, ref):
        assert r["grad_norm"] == pytest.approx(s["grad_norm"], rel=1e-4) and r["grad_norm"] > 0
        for key in ("reward/orig", "reward/cf", "acc/orig", "crr", "completion_length"):
            assert r[key] == pytest.approx(s[key], abs=1e-9), key
    a, b = state(single / "final"), state(run / "final")  # final/ loads with from_pretrained
    diff, moved = max_diff(a, b), max_diff(a, state(warm_model))
    print(f"\n{run.name} vs one process after {STEPS} steps: max |diff| {diff:.2e}; moved {moved:.2e}")
    assert moved > 5e-5 and diff <= 1e-5


def test_two_machines_sharing_a_disk_train_like_one_process(runs, warm_model):
    out, _ = runs
    assert_trains_like_one_process(out["shared"], out["single"], warm_model)
    # Both machines' processes wrote their RNG state into the main process's checkpoint: the other node did not
    # take the shared checkpoint-N.tmp for its own and remove it.
    for step in (2, STEPS):
        names = files(out["shared"] / f"checkpoint-{step}")
        assert {"pytorch_model.bin", "optimizer.bin", "random_states_0.pkl", "random_states_1.pkl"} <= set(names)
    assert not list(out["shared"].glob("*.tmp")) and not list(out["shared"].glob(".crpo-probe-*"))


def test_without_a_shared_disk_the_main_node_holds_the_run(runs):
    out, _ = runs
    # The main process's output_dir: the whole run (checkpoint rotated to the newest, without the other node's RNG
    # state, which resuming does not need); the other machine's: nothing at all.
    assert "final/model.safetensors" in out["node0_after_2"] and "metrics.jsonl" in out["node0_after_2"]
    assert {p.split("/")[0] for p in out["node0_after_2"] if p.startswith("checkpoint")} == {"checkpoint-2"}
    assert "checkpoint-2/random_states_0.pkl" in out["node0_after_2"]
    assert "checkpoint-2/random_states_1.pkl" not in out["node0_after_2"]
    assert out["node1_after_2"] == []
    assert [r["step"] for r in jsonl(out["node0"] / "metrics.jsonl")] == [1, 2]


def test_a_node_that_cannot_see_the_checkpoint_stops_every_rank_then_a_copy_resumes(run_crpo, runs, warm_model):
    out, args = runs
    resume = lambda r: [*args, f"max_steps={STEPS}", "save_steps=1", "resume=true",  # noqa: E731
                        f"output_dir={out[f'node{r}']}"]
    procs = two_machines(run_crpo, resume, check=False)
    for rank, proc in enumerate(procs):
        assert proc.returncode != 0
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error (rank")]
        assert len(errors) == 1, proc.stderr[-3000:]
        assert errors[0].startswith(f"error (rank {rank} of 2): {out['node0'] / 'checkpoint-2'}: resume=true, but "
                                    "rank 1 on "), errors[0]
    assert [r["step"] for r in jsonl(out["node0"] / "metrics.jsonl")] == [1, 2]  # nothing trained
    # The documented way out: a copy of the main node's checkpoint on the other node, then the same command.
    shutil.copytree(out["node0"] / "checkpoint-2", out["node1"] / "checkpoint-2")
    two_machines(run_crpo, resume)
    assert_trains_like_one_process(out["node0"], out["single"], warm_model)


def test_fsdp_without_a_shared_disk_stops_every_rank_before_training(run_crpo, rl_args, tmp_path):
    """FSDP writes each process's shard of checkpoint-N into its own output_dir: on disks the nodes do not share no
    node would hold a whole checkpoint, so the run refuses to start."""
    procs = two_machines(run_crpo, lambda r: ["train", *rl_args, "max_steps=1", f"output_dir={tmp_path / f'node{r}'}"],
                         check=False, config="fsdp")
    for rank, proc in enumerate(procs):
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error (rank")]
        assert proc.returncode != 0 and len(errors) == 1, proc.stderr[-3000:]
        assert errors[0] == (f"error (rank {rank} of 2): {tmp_path / f'node{rank}'}: rank 1 on {socket.gethostname()} "
                             "cannot see the main process's output_dir, and FSDP / ZeRO-3 write each process's shard "
                             "of a checkpoint into it: put output_dir on a disk every node shares "
                             "(docs/launchers.md)")
    assert not (tmp_path / "node0" / "metrics.jsonl").exists()


def test_another_save_of_the_same_step_is_another_checkpoint(runs, tmp_path):
    """What every process compares before resuming: a checkpoint-N of another save (an earlier run's copy) differs
    from the main process's by trainer_state.json's save_id, even where every file has the same size."""
    out, _ = runs
    ckpt = tmp_path / "checkpoint-2"
    shutil.copytree(out["node0"] / "checkpoint-2", ckpt)
    trainer_state = json.loads((ckpt / "trainer_state.json").read_text())
    from crpo.training.checkpoint import checkpoint_files
    before = checkpoint_files(ckpt)
    (ckpt / "trainer_state.json").write_text(json.dumps({**trainer_state, "save_id": "0" * 32}))
    after = checkpoint_files(ckpt)
    assert before.keys() == after.keys() and before != after
    assert "checkpoint-2/trainer_state.json" in after and "checkpoint-2/random_states_0.pkl" not in after


def test_two_machines_evaluate_like_one_process_without_a_shared_disk(run_crpo, runs, world, tmp_path):
    """Each machine evaluates into its own --out; machine 1 holds 3 pairs a killed earlier run left there. The
    main process's predictions.jsonl: every item once, those 3 pairs as machine 1 had them (not evaluated again),
    the rest as one process predicts them; the same metrics."""
    out, _ = runs
    model = out["single"] / "final"
    ev = ["eval", "--model", model, "--bench", world / "bench.jsonl", "--video-root", world]
    run_crpo([*ev, "--out", tmp_path / "one"])
    one = {r["id"]: r for r in jsonl(tmp_path / "one" / "predictions.jsonl")}
    earlier = tmp_path / "machine1"
    earlier.mkdir()
    planted = [{**r, "earlier_run": True} for r in list(one.values())[:6]]
    (earlier / "predictions.rank1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in planted))

    two_machines(run_crpo, lambda r: [*ev, "--out", tmp_path / ("machine0" if r == 0 else "machine1")])
    rows = jsonl(tmp_path / "machine0" / "predictions.jsonl")
    assert sorted(r["id"] for r in rows) == sorted(one)
    assert sorted(r["id"] for r in rows if r.get("earlier_run")) == sorted(r["id"] for r in planted)
    assert all(r["output"] == one[r["id"]]["output"] for r in rows)
    assert json.loads((tmp_path / "machine0" / "metrics.json").read_text()) == \
        json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert not list((tmp_path / "machine0").glob("predictions.rank*"))  # merged, then removed


def test_accelerate_cpu_on_two_machines_stops_with_one_line(run_crpo, rl_args, tmp_path):
    """`--cpu` instead of a config file: accelerate starts one lone process per command (no torchrun)."""
    out = tmp_path / "out"
    proc = run_crpo(["launch", "--cpu", "--num_machines", "2", "--num_processes", "2", "--machine_rank", "0",
                     "--main_process_ip", "127.0.0.1", "--main_process_port", str(free_port()), "-m", "crpo.cli",
                     "train", *rl_args, "max_steps=1", f"output_dir={out}"], script="accelerate", timeout=120,
                    check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {launch_mismatch({'ACCELERATE_USE_CPU': 'True', 'MASTER_ADDR': '127.0.0.1'}, 1)}"]
    assert not out.exists()


@pytest.mark.parametrize("env,world,problem", [
    ({}, 1, None),                                                              # crpo train
    ({"ACCELERATE_USE_CPU": "False"}, 1, None),                                 # accelerate launch, one process
    ({"ACCELERATE_USE_CPU": "True"}, 1, None),                                  # accelerate launch --cpu
    ({"ACCELERATE_USE_CPU": "True", "MASTER_ADDR": "10.0.0.1"}, 1, "--cpu"),    # --cpu, several processes
    ({"ACCELERATE_USE_CPU": "True", "MASTER_ADDR": "10.0.0.1", "WORLD_SIZE": "4"}, 4, None),  # torchrun, joined
    ({"WORLD_SIZE": "16", "MASTER_ADDR": "10.0.0.1"}, 16, None),
    ({"WORLD_SIZE": "16", "MASTER_ADDR": "10.0.0.1"}, 1, "WORLD_SIZE"),       # torchrun's, but not joined
    ({"WORLD_SIZE": "16", "MASTER_ADDR": "10.0.0.1"}, 8, "WORLD_SIZE"),
    ({"ACCELERATE_USE_CPU": "True", "MASTER_ADDR": "10.0.0.1", "PMI_SIZE": "4"}, 4, None),  # mpirun (multi-CPU)
])
def test_launch_mismatch(env, world, problem):
    reason = launch_mismatch(env, world)
    assert (reason is None) == (problem is None)
    if problem:
        assert problem in reason
