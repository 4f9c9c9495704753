"""Two runs in separate processes give bit-identical parameters."""
import json
import subprocess
import sys

SCRIPT = """
import json
from linreg.train import TrainConfig, train
r = train(TrainConfig(device="cpu", n=100_000, epochs=30, threads=1))
print(json.dumps({"final": r.final_state, "losses": [h.train_loss for h in r.history]}))
"""


def _start() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    return json.loads(out)


def test_separate_processes_are_bit_identical():
    procs = [_start(), _start()]  # side by side: each pins 1 thread, and the wall time halves
    first, second = (_result(p) for p in procs)
    assert first == second
    assert len(first["losses"]) == 30
